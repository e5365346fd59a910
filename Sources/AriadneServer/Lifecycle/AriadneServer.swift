public import AriadneStorage
import AriadneModel
import AriadnePipeline
import AriadneWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import Synchronization

/// Settings of `ariadne serve`. Every port may be 0 to pick a free one.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var otlpGRPCPort = 4317
    public var otlpHTTPPort = 4318
    public var zipkinPort = 9411
    public var queryPort = 16686
    public var samplingPort = 5778
    public var dataDirectory = "./ariadne-data"
    /// Largest request body accepted, after decompression (OTLP's customary 64 MiB).
    public var maxBodyBytes = 64 << 20
    /// Request bytes being decoded or stored at once before receivers push back.
    public var maxInFlightBytes = 256 << 20
    /// Spans the in-memory store keeps before it drops the oldest batches.
    public var memoryMaxSpans = 2_000_000

    public init() {}
}

/// Addresses the server bound, known once every listener is up.
public struct BoundAddresses: Sendable, Equatable {
    public var otlpGRPC = ""
    public var otlpHTTP = ""
    public var zipkin = ""
    public var query = ""
    public var sampling = ""

    var isComplete: Bool {
        ![otlpGRPC, otlpHTTP, zipkin, query, sampling].contains("")
    }
}

/// Hands batches to a store and counts what was stored.
struct StoreConsumer: SpanConsumer {
    let writer: any TraceWriter
    let metrics: ServerMetrics

    func consume(_ batch: SpanBatch) async throws {
        try await writer.write(batch)
        metrics.add(.spansStored, batch.count, receiver: "store", transport: "memory")
    }
}

/// The all-in-one server: receivers, pipeline, store and query API in one process, run as one
/// ServiceGroup so that SIGTERM/SIGINT stop every listener together.
public struct AriadneServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: InMemoryStore
    public let metrics = ServerMetrics()
    let logger: Logger
    private let running = RunningGroup()

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.store = InMemoryStore(maxSpans: configuration.memoryMaxSpans)
        self.logger = logger
    }

    /// Runs until a termination signal (or until the task is cancelled). `onStarted` receives the
    /// bound addresses once every listener is up.
    public func run(
        handleSignals: Bool = true, onStarted: @escaping @Sendable (BoundAddresses) -> Void = { _ in }
    ) async throws {
        let config = configuration
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let ingestor = Ingestor(
            consumer: StoreConsumer(writer: store, metrics: metrics), metrics: metrics,
            maxBodyBytes: config.maxBodyBytes, maxInFlightBytes: config.maxInFlightBytes)
        let bound = Mutex(BoundAddresses())
        let logger = self.logger
        let started = Mutex(false)
        let announce: @Sendable (WritableKeyPath<BoundAddresses, String>, String) -> Void = { key, address in
            let snapshot: BoundAddresses? = bound.withLock { b in
                b[keyPath: key] = address
                return b.isComplete ? b : nil
            }
            guard let snapshot, started.withLock({ s in defer { s = true }; return !s }) else { return }
            logger.info(
                "ariadne serve started otlp_grpc=\(snapshot.otlpGRPC) otlp_http=\(snapshot.otlpHTTP) zipkin=\(snapshot.zipkin) query=\(snapshot.query) sampling=\(snapshot.sampling) data_dir=\(config.dataDirectory) store=memory"
            )
            onStarted(snapshot)
        }
        @Sendable func address(_ channel: any Channel) -> String {
            guard let a = channel.localAddress, let port = a.port else { return "?" }
            let ip = a.ipAddress ?? config.host
            return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }

        let receivers = HTTPReceivers(ingestor: ingestor)
        let otlpRouter = Router()
        receivers.addOTLPRoutes(to: otlpRouter)
        let otlpApp = Application(
            router: otlpRouter,
            configuration: .init(address: .hostname(config.host, port: config.otlpHTTPPort), serverName: "ariadne"),
            onServerRunning: { announce(\.otlpHTTP, address($0)) }, logger: quiet(logger))

        let zipkinRouter = Router()
        receivers.addZipkinRoutes(to: zipkinRouter)
        let zipkinApp = Application(
            router: zipkinRouter,
            configuration: .init(address: .hostname(config.host, port: config.zipkinPort), serverName: "ariadne"),
            onServerRunning: { announce(\.zipkin, address($0)) }, logger: quiet(logger))

        let store = self.store
        let queryRouter = Router()
        QueryAPI(
            reader: store, metrics: metrics,
            extraGauges: { [("ariadne_storage_spans", "Spans held by the in-memory store.", store.spanCount)] }
        ).addRoutes(to: queryRouter)
        let queryApp = Application(
            router: queryRouter,
            configuration: .init(address: .hostname(config.host, port: config.queryPort), serverName: "ariadne"),
            onServerRunning: { announce(\.query, address($0)) }, logger: quiet(logger))

        let samplingRouter = Router()
        SamplingAPI().addRoutes(to: samplingRouter)
        let samplingApp = Application(
            router: samplingRouter,
            configuration: .init(address: .hostname(config.host, port: config.samplingPort), serverName: "ariadne"),
            onServerRunning: { announce(\.sampling, address($0)) }, logger: quiet(logger))

        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: config.host, port: config.otlpGRPCPort),
            transportSecurity: .plaintext,
            config: .defaults { c in
                c.rpc.maxRequestPayloadSize = config.maxBodyBytes
                c.compression.enabledAlgorithms = .all
            })
        let grpc = GRPCService(
            server: GRPCServer(transport: transport, services: [OTLPGRPCReceiver(ingestor: ingestor)]),
            transport: transport,
            onListening: { announce(\.otlpGRPC, $0) })

        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: grpc), .init(service: otlpApp), .init(service: zipkinApp), .init(service: queryApp),
                    .init(service: samplingApp),
                ],
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                logger: quiet(logger)))
        running.set(group)
        try await group.run()
        logger.info("ariadne serve stopped data_dir=\(config.dataDirectory)")
    }

    /// Stops every listener gracefully, as SIGTERM does; `run` then returns.
    public func shutdown() async {
        await running.get()?.triggerGracefulShutdown()
    }

    /// Library loggers at warning level, so that our one start line stays the one start line.
    func quiet(_ logger: Logger) -> Logger {
        var l = logger
        l.logLevel = max(logger.logLevel, .warning)
        return l
    }
}

/// The ServiceGroup of a running server, so that `shutdown` can reach it.
final class RunningGroup: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)
    func set(_ g: ServiceGroup) { group.withLock { $0 = g } }
    func get() -> ServiceGroup? { group.withLock { $0 } }
}

/// grpc-swift-2's server as a ServiceLifecycle service.
struct GRPCService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let transport: HTTP2ServerTransport.Posix
    let onListening: @Sendable (String) -> Void

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                group.addTask {
                    let address = try await transport.listeningAddress
                    if let ipv4 = address.ipv4 {
                        onListening("\(ipv4.host):\(ipv4.port)")
                    } else if let ipv6 = address.ipv6 {
                        onListening("[\(ipv6.host)]:\(ipv6.port)")
                    } else {
                        onListening("\(address)")
                    }
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
