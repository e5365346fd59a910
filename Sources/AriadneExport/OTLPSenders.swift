public import AriadneWire
import AsyncHTTPClient
public import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP1

/// Sends ExportTraceServiceRequests to an OTLP endpoint.
public protocol OTLPSender: Sendable {
    /// Sends one encoded request. Returns the spans the server refused through partial success.
    /// Throws ``SendFailure`` when the whole request was refused.
    func send(_ request: [UInt8], spanCount: Int) async throws -> Int64
}

public struct SendFailure: Error, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
    /// How long the server asked us to wait (HTTP Retry-After), if it said.
    public var retryAfter: Duration? = nil
    public var description: String { message }
}

struct PassthroughSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

struct PassthroughDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
}

/// OTLP/gRPC sender over grpc-swift-2. `run` must be active while sending.
public final class GRPCSender: OTLPSender {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    static let export = MethodDescriptor(
        fullyQualifiedService: "opentelemetry.proto.collector.trace.v1.TraceService", method: "Export")

    public init(host: String, port: Int) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port), transportSecurity: .plaintext,
            config: .defaults { $0.connection.maxIdleTime = nil })
        client = GRPCClient(transport: transport)
    }

    /// Keeps the connections running; returns when `close` is called.
    public func run() async throws { try await client.runConnections() }

    public func close() { client.beginGracefulShutdown() }

    public func send(_ request: [UInt8], spanCount: Int) async throws -> Int64 {
        do {
            let response = try await client.unary(
                request: ClientRequest(message: request), descriptor: Self.export,
                serializer: PassthroughSerializer(), deserializer: PassthroughDeserializer(), options: .defaults
            ) { try $0.message }
            return try OTLPProtobuf.decodeExportResponse(response).rejectedSpans
        } catch let e as RPCError {
            throw SendFailure(message: "gRPC \(e.code): \(e.message)", retryable: e.code == .unavailable)
        }
    }
}

/// OTLP/HTTP protobuf sender over AsyncHTTPClient.
public final class HTTPSender: OTLPSender {
    let client: HTTPClient
    let url: String
    let gzip: Bool

    public init(url: String, gzip: Bool = false) {
        self.client = HTTPClient(eventLoopGroupProvider: .singleton)
        self.url = url
        self.gzip = gzip
    }

    public func close() async throws { try await client.shutdown() }

    public func send(_ request: [UInt8], spanCount: Int) async throws -> Int64 {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/x-protobuf")
        if gzip {
            req.headers.add(name: "Content-Encoding", value: "gzip")
            req.body = .bytes(ByteBuffer(bytes: Gzip.compress(request)))
        } else {
            req.body = .bytes(ByteBuffer(bytes: request))
        }
        let response = try await client.execute(req, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok else {
            let retryable = [429, 502, 503, 504].contains(Int(response.status.code))
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0) }.map { Duration.seconds($0) }
            throw SendFailure(
                message: "HTTP \(response.status.code): \(String(buffer: body).prefix(200))", retryable: retryable,
                retryAfter: retryAfter)
        }
        return try OTLPProtobuf.decodeExportResponse(Array(buffer: body)).rejectedSpans
    }
}
