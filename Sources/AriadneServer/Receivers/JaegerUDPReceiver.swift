import AriadnePipeline
import AriadneWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The Jaeger agent protocol over UDP: each datagram one `Agent.emitBatch` call, Thrift compact
/// on 6831 (what every jaeger-client sends) or binary on 6832.
///
/// UDP has no answer and no retry, so what cannot be taken is dropped and counted
/// (`ariadne_receiver_packets_dropped_total{reason}`): a packet over the agent's 65,000-byte limit,
/// one that does not decode, one that arrives while the in-flight budget is spent, or whose spans
/// the pipeline refuses. Packets are handled one at a time; while one is being stored the socket is
/// not read, so a burst waits in the kernel's receive buffer instead of in our memory.
struct JaegerUDPReceiver: Service {
    /// jaeger-agent's default `max-packet-size`.
    static let maxPacketBytes = 65_000

    let ingestor: Ingestor
    let host: String
    let port: Int
    let thriftProtocol: JaegerThrift.ThriftProtocol
    let logger: Logger
    let onListening: @Sendable (String) -> Void

    var transport: String { thriftProtocol == .compact ? "udp_compact" : "udp_binary" }

    func run() async throws {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // One byte more than the limit, so that an oversized packet shows as oversized.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.maxPacketBytes + 1))
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                }
            }
        let local = channel.channel.localAddress
        let ip = local?.ipAddress ?? host
        onListening(ip.contains(":") ? "[\(ip)]:\(local?.port ?? port)" : "\(ip):\(local?.port ?? port)")
        try await withGracefulShutdownHandler {
            try await channel.executeThenClose { inbound, _ in
                for try await envelope in inbound { await handle(envelope.data) }
            }
        } onGracefulShutdown: {
            channel.channel.close(promise: nil)
        }
    }

    func handle(_ packet: ByteBuffer) async {
        let metrics = ingestor.metrics
        let size = packet.readableBytes
        guard size <= Self.maxPacketBytes else {
            metrics.countDrop("too_large", receiver: "jaeger", transport: transport)
            return
        }
        do throws(IngestError) {
            try ingestor.admit(bytes: size, receiver: "jaeger", transport: transport)
        } catch {
            metrics.countDrop("throttled", receiver: "jaeger", transport: transport)
            return
        }
        defer { ingestor.release(bytes: size) }
        do throws(IngestError) {
            let (batch, findings) = try packet.withUnsafeReadableBytes { raw throws(IngestError) in
                try ingestor.decode(raw, format: .jaegerAgent(thriftProtocol), receiver: "jaeger", transport: transport)
            }
            _ = try await ingestor.ingest(batch, findings: findings, receiver: "jaeger", transport: transport)
        } catch {
            metrics.countDrop(error.code == .invalidData ? "malformed" : "refused", receiver: "jaeger", transport: transport)
            logger.debug("jaeger \(transport): packet dropped: \(error.message)")
        }
    }
}
