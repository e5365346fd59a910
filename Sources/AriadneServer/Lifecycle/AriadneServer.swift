public import AriadneAnalysis
public import AriadneBuffer
public import AriadneClickHouse
public import AriadneEngine
import AriadneExport
import AriadneModel
public import AriadnePipeline
public import AriadneQuery
public import AriadneStorage
import AriadneWire
import CMalloc
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Settings of `ariadne serve`. Every port may be 0 to pick a free one.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var otlpGRPCPort = 4317
    public var otlpHTTPPort = 4318
    public var zipkinPort = 9411
    /// Jaeger's legacy receivers, each off unless enabled: gRPC `PostSpans`, Thrift over HTTP,
    /// and the agent's UDP ports (compact, binary).
    public var jaegerGRPCPort = 14250
    public var jaegerThriftHTTPPort = 14268
    public var jaegerCompactPort = 6831
    public var jaegerBinaryPort = 6832
    public var queryPort = 16686
    public var samplingPort = 5778
    public var dataDirectory = "./ariadne-data"
    /// Largest request body accepted, after decompression (OTLP's customary 64 MiB).
    public var maxBodyBytes = 64 << 20
    /// Request bytes being decoded or stored at once before receivers push back.
    public var maxInFlightBytes = 64 << 20
    /// Deadline and concurrency of queries on the query port.
    public var queryLimits = QueryLimits()

    /// The configuration file's sections read outside the pipeline, each next to what it configures.
    public static let configSections: [any ConfigSection.Type] = [
        AnalyticsSection.self, UISection.self, AuthSection.self, AuditSection.self, TLSSection.self, TeamsSection.self,
        TenancySection.self,
    ]

    /// RED rollups, alerts and objectives, from the file's `analytics` section.
    public var analytics: AnalyticsSettings { pipeline.section(AnalyticsSection.self).settings }
    /// Which store holds the spans: the embedded engine (durable, default), memory, or ClickHouse.
    public var store: StoreKind = .engine
    /// Where ClickHouse is, with `store` clickhouse.
    public var clickhouse = ClickHouseOptions()
    /// What this node does: everything (all-in-one), or one part of a cluster.
    public var role: NodeRole = .allInOne
    /// The JetStream buffer between collectors and ingesters.
    public var buffer = BufferSettings()
    /// An ingester's name among the ingesters sharing the buffer's partitions.
    public var ingesterID = "ingester"
    /// Spans the in-memory store keeps before it drops the oldest batches.
    public var memoryMaxSpans = 2_000_000
    /// Engine settings: WAL sync mode and when the head becomes a block.
    public var engine = EngineOptions()
    /// Serve the web UI's files from this directory instead of the copies compiled in (UI work).
    public var uiDirectory: String?
    /// The processors spans pass through between the receivers and the store.
    public var pipeline = PipelineConfiguration()
    /// Receivers that listen: otlp_grpc, otlp_http, zipkin, and (off by default) jaeger_grpc,
    /// jaeger_thrift_http, jaeger_thrift_compact, jaeger_thrift_binary. A disabled one shows as
    /// `off` in the start line.
    public var enabledReceivers: Set<String> = ["otlp_grpc", "otlp_http", "zipkin"]
    /// Per-receiver listening address, where it differs from `host`.
    public var receiverHosts: [String: String] = [:]
    /// With the file's `auth` section: who may do what (nil: every request is let through).
    public var authenticator: Authenticator?
    /// With the file's `audit` section: where reads, admin actions and failures are recorded.
    public var audit: AuditLog?
    /// With the file's `tls` section: every TCP listener serves TLS (mTLS with a client CA).
    public var tls: TLSSetup?

    public init() {}
}

public enum StoreKind: String, Sendable, CaseIterable {
    case engine
    case memory
    case clickhouse
}

/// The roles of the one binary.
public enum NodeRole: String, Sendable, CaseIterable {
    /// Receivers, pipeline, store and query API in one process.
    case allInOne = "all-in-one"
    /// Receivers and the processors that need no whole trace; publishes to the buffer and
    /// acknowledges senders once JetStream acknowledged. Holds no spans.
    case collector
    /// Reads the buffer's partitions, counts RED metrics and the service graph, tail-samples
    /// whole traces, writes the shared store, acknowledges the buffer after the store.
    case ingester
    /// The query API and UI over a shared store; receives nothing.
    case query

    /// Whether it listens for spans from SDKs.
    var receives: Bool { self == .allInOne || self == .collector }
    /// Whether it serves the query API and UI (the others serve only /health and /metrics).
    var answersQueries: Bool { self == .allInOne || self == .query }
    /// Whether it writes the store (so also applies retention).
    var writes: Bool { self == .allInOne || self == .ingester }
}

/// Addresses the server bound, known once every listener is up.
public struct BoundAddresses: Sendable, Equatable {
    public var otlpGRPC = ""
    public var otlpHTTP = ""
    public var zipkin = ""
    public var jaegerGRPC = ""
    public var jaegerThriftHTTP = ""
    public var jaegerCompact = ""
    public var jaegerBinary = ""
    public var query = ""
    public var sampling = ""
    /// The query port's routes, `METHOD /path` (`:name` for a path parameter): what tests
    /// enumerate to reach every route.
    public var queryRoutes: [String] = []

    /// One listener's field, for the closures that fill it in when it is up.
    typealias Key = any WritableKeyPath<BoundAddresses, String> & Sendable

    var isComplete: Bool {
        ![otlpGRPC, otlpHTTP, zipkin, jaegerGRPC, jaegerThriftHTTP, jaegerCompact, jaegerBinary, query, sampling].contains("")
    }
}

/// Hands batches to a store and counts what was stored.
struct StoreConsumer: SpanConsumer {
    let writer: any TraceWriter
    let metrics: ServerMetrics
    let kind: StoreKind

    func consume(_ batch: SpanBatch) async throws {
        try await writer.write(batch)
        metrics.add(.spansStored, batch.count, receiver: "store", transport: kind.rawValue)
    }
}

/// The all-in-one server: receivers, pipeline, store and query API in one process, run as one
/// ServiceGroup so that SIGTERM/SIGINT stop every listener together.
public struct AriadneServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: any TraceStore
    /// The engine, when it is the store.
    public let engine: EngineStore?
    /// ClickHouse, when it is the store.
    public let clickhouse: ClickHouseStore?
    public let metrics = ServerMetrics()
    /// RED metrics counted at ingest (kept on disk beside the engine's files), alerts and objectives.
    let analytics: Analytics
    let logger: Logger
    private let running = RunningGroup()

    /// Opens the store; for the engine that replays its WAL, and reports what it found.
    public init(configuration: ServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        (store, engine, clickhouse, analytics) = try Self.openStore(
            configuration, directory: configuration.dataDirectory, database: configuration.clickhouse.database, tenant: nil, logger: logger)
    }

    /// One tenant's store and analytics (nil: the default tenant's): the engine's files and RED
    /// rollups in `directory`, or ClickHouse's `database`, or memory.
    static func openStore(
        _ config: ServerConfiguration, directory: String, database: String, tenant: String?, logger: Logger
    ) throws -> (store: any TraceStore, engine: EngineStore?, clickhouse: ClickHouseStore?, analytics: Analytics) {
        let label = tenant.map { "engine (tenant \($0))" } ?? "engine"
        var engine: EngineStore?
        var clickhouse: ClickHouseStore?
        let store: any TraceStore
        switch config.role == .collector ? .memory : config.store {
        case .memory:
            store = InMemoryStore(maxSpans: config.memoryMaxSpans)
        case .engine:
            let e = try EngineStore(directory: directory, options: config.engine, report: { [logger] event in logger.warning("\(label): \(event)") })
            store = e
            engine = e
        case .clickhouse:
            var options = config.clickhouse
            options.database = database
            let c = try ClickHouseStore(options: options)
            store = c
            clickhouse = c
        }
        // A collector counts nothing to keep: RED metrics are counted where traces are whole
        // and the store is at hand, on the ingesters (before their tail sampling).
        let analytics = try Analytics(
            settings: config.analytics, dataDirectory: config.store == .memory || config.role == .collector ? nil : directory,
            clickhouse: clickhouse, logger: logger)
        return (store, engine, clickhouse, analytics)
    }

    /// Store gauges for /metrics, summed over the tenants' stores.
    static func gauges(_ spaces: [TenantSpace]) -> [(name: String, help: String, value: Int)] {
        let engines = spaces.compactMap(\.engine)
        let spans = spaces.reduce(0) { $0 + ($1.engine?.spanCount ?? ($1.store as? InMemoryStore)?.spanCount ?? 0) }
        var g: [(name: String, help: String, value: Int)] = [("ariadne_storage_spans", "Spans held by the store.", spans)]
        if !engines.isEmpty {
            let blocks = engines.map(\.blockStats)
            g += [
                ("ariadne_engine_head_spans", "Spans in the engine's head, not yet in a block.", engines.reduce(0) { $0 + $1.headSpanCount }),
                ("ariadne_engine_blocks", "Blocks of the engine.", blocks.reduce(0) { $0 + $1.count }),
                ("ariadne_engine_block_spans", "Spans in the engine's blocks.", blocks.reduce(0) { $0 + $1.spans }),
                ("ariadne_engine_block_bytes", "Bytes of the engine's block files.", blocks.reduce(0) { $0 + $1.bytes }),
            ]
        }
        return g
    }

    /// Where the engine keeps a tenant other than the default one (whose files stay where they
    /// were before tenants: the data directory itself).
    static func tenantDirectory(_ config: ServerConfiguration, _ tenant: String) -> String {
        config.dataDirectory + "/tenants/" + TenantName.encode(tenant)
    }

    /// The tenants whose engine directories are on disk.
    static func tenantsOnDisk(_ config: ServerConfiguration) -> [String] {
        guard config.store == .engine, config.role.writes || config.role == .query else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: config.dataDirectory + "/tenants")) ?? []
        return names.sorted().compactMap(TenantName.decode).filter { $0 != TenantName.default }
    }

    /// A tenant's own store and analytics: an engine directory, a memory store, or a ClickHouse
    /// database of its own (`<database>_t_<tenant>`, schema brought up to date).
    static func openTenantStore(
        _ tenant: String, config: ServerConfiguration, logger: Logger
    ) async throws -> (store: any TraceStore, engine: EngineStore?, clickhouse: ClickHouseStore?, analytics: Analytics) {
        let directory = tenantDirectory(config, tenant)
        let database = config.clickhouse.database + "_t_" + TenantName.encode(tenant)
        if config.store == .engine && config.role != .collector {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let opened = try openStore(config, directory: directory, database: database, tenant: tenant, logger: logger)
        if let e = opened.engine { logger.info("tenant \(tenant): engine opened data_dir=\(directory) spans=\(e.spanCount)") }
        if let c = opened.clickhouse {
            try await migrate(c, logger: logger)
            logger.info("tenant \(tenant): clickhouse database \(database)")
        }
        return opened
    }

    /// Spans held by the store.
    public var spanCount: Int {
        if let engine { return engine.spanCount }
        return (store as? InMemoryStore)?.spanCount ?? 0
    }

    /// Runs until a termination signal (or until the task is cancelled). `onStarted` receives the
    /// bound addresses once every listener is up.
    public func run(
        handleSignals: Bool = true, onStarted: @escaping @Sendable (BoundAddresses) -> Void = { _ in }
    ) async throws {
        let config = configuration
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        if let clickhouse { try await Self.migrate(clickhouse, logger: logger) }
        // In a cluster the buffer is the collectors' store and the ingesters' source.
        let jetstream: JetStreamConnection? =
            config.role == .collector || config.role == .ingester
            ? try JetStreamConnection(urls: config.buffer.urls, name: "ariadne-\(config.role.rawValue)-\(config.ingesterID)") : nil
        // OTLP exporters are shared by every tenant's pipeline (an agent's gateway is one).
        var exporters = [OTLPExporter]()
        for e in config.pipeline.exporters {
            if case .otlp(let settings) = e.kind { exporters.append(try OTLPExporter(name: e.name, settings: settings, metrics: metrics.pipeline)) }
        }
        // A cluster splits the processors: collectors run those that see spans one at a time,
        // ingesters those that need whole traces (a trace's spans all reach one ingester).
        var stages = config.pipeline
        switch config.role {
        case .collector: stages.processors.removeAll { $0.needsWholeTraces }
        case .ingester: stages.processors.removeAll { !$0.needsWholeTraces }
        case .allInOne, .query: break
        }
        let metrics = self.metrics
        let exported = exporters
        let processors = stages
        /// A tenant's pipeline in front of its store (on a collector, the buffer) and the exporters.
        @Sendable func space(
            _ tenant: String, store: any TraceStore, engine: EngineStore?, clickhouse: ClickHouseStore?, analytics: Analytics
        ) -> TenantSpace {
            var ends = [any SpanConsumer]()
            for e in config.pipeline.exporters {
                switch e.kind {
                case .store:
                    if let jetstream, config.role == .collector {
                        ends.append(
                            BufferPublisher(
                                settings: config.buffer, connection: jetstream, metrics: metrics.pipeline,
                                tenant: tenant == TenantName.default ? nil : tenant))
                    } else {
                        ends.append(StoreConsumer(writer: store, metrics: metrics, kind: config.store))
                    }
                case .otlp: ends += exported.filter { $0.name == e.name } as [any SpanConsumer]
                }
            }
            let pipeline = processors.build(
                next: ends.count == 1 ? ends[0] : FanOutConsumer(ends), metrics: metrics.pipeline,
                observers: config.role == .collector
                    ? [] : [REDObserver(metrics: analytics.metrics), ServiceGraphObserver(graph: analytics.serviceGraph)],
                relieveMemory: {
                    // The head is the memory that grows with accepted spans: write it as a block, then
                    // hand freed pages back (glibc keeps up to M_TRIM_THRESHOLD otherwise).
                    if let engine {
                        engine.holdCompaction(for: .seconds(30))
                        try? await engine.cut()
                    }
                    malloc_trim(0)
                })
            return TenantSpace(
                tenant: tenant, store: store, engine: engine, clickhouse: clickhouse, analytics: analytics, pipeline: pipeline,
                queries: TraceQueryService(reader: store, deleter: engine ?? clickhouse, limits: config.queryLimits))
        }
        let logger = self.logger
        let (defaultStore, defaultEngine, defaultClickHouse, defaultAnalytics) = (store, engine, clickhouse, analytics)
        let spaces = TenantSpaces { tenant in
            if tenant == TenantName.default {
                return space(tenant, store: defaultStore, engine: defaultEngine, clickhouse: defaultClickHouse, analytics: defaultAnalytics)
            }
            let opened = try await Self.openTenantStore(tenant, config: config, logger: logger)
            return space(tenant, store: opened.store, engine: opened.engine, clickhouse: opened.clickhouse, analytics: opened.analytics)
        }
        let home = try await spaces.space(TenantName.default)
        // Every tenant the engine has on disk, so that retention and compaction reach them.
        for tenant in Self.tenantsOnDisk(config) { _ = try await spaces.space(tenant) }
        let pipeline = home.pipeline
        let limits = config.pipeline.section(AuthSection.self).tenantLimits
        let ingestor = Ingestor(
            pipeline: { try await spaces.space($0).pipeline.consumer }, metrics: metrics,
            maxBodyBytes: config.maxBodyBytes, maxInFlightBytes: config.maxInFlightBytes,
            tenantLimits: limits.isEmpty ? nil : TenantLimits(limits),
            tenantHeaderTrusted: config.pipeline.section(TenancySection.self).headerTrusted)
        let bound = Mutex(BoundAddresses())
        let started = Mutex(false)
        let announce: @Sendable (BoundAddresses.Key, String) -> Void = { key, address in
            let snapshot: BoundAddresses? = bound.withLock { b in
                b[keyPath: key] = address
                return b.isComplete ? b : nil
            }
            guard let snapshot,
                started.withLock({ s in
                    defer { s = true }; return !s
                })
            else { return }
            logger.info(
                "ariadne serve started otlp_grpc=\(snapshot.otlpGRPC) otlp_http=\(snapshot.otlpHTTP) zipkin=\(snapshot.zipkin) jaeger_grpc=\(snapshot.jaegerGRPC) jaeger_thrift_http=\(snapshot.jaegerThriftHTTP) jaeger_compact=\(snapshot.jaegerCompact) jaeger_binary=\(snapshot.jaegerBinary) query=\(snapshot.query) sampling=\(snapshot.sampling) data_dir=\(config.dataDirectory) store=\(config.role == .collector ? "none" : config.store.rawValue)\(config.store == .clickhouse && config.role != .collector ? " clickhouse=" + config.clickhouse.urls.joined(separator: ",") + "/" + config.clickhouse.database : "") role=\(config.role.rawValue)\(jetstream == nil ? "" : " buffer=" + config.buffer.urls.joined(separator: ",") + "/" + config.buffer.stream)"
            )
            onStarted(snapshot)
        }
        @Sendable func address(_ channel: any Channel) -> String {
            guard let a = channel.localAddress, let port = a.port else { return "?" }
            let ip = a.ipAddress ?? config.host
            return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }

        /// A router for one listener; with `auth` configured, every request passes access control.
        let authenticator = config.authenticator
        let audit = config.audit
        let sessions = SessionStore()
        func router(audited: Bool, _ requirement: @escaping @Sendable (Request) -> Role?) -> Router<AriadneRequestContext> {
            let r = Router(context: AriadneRequestContext.self)
            if let authenticator {
                r.add(
                    middleware: AccessControl(
                        authenticator: authenticator, sessions: audited ? sessions : nil, audit: audit, auditsActions: audited,
                        requirement: requirement))
            }
            return r
        }
        let ingestOnly: @Sendable (Request) -> Role? = { $0.uri.path == "/health" ? nil : .ingest }

        if authenticator != nil, !config.enabledReceivers.isDisjoint(with: ["jaeger_thrift_compact", "jaeger_thrift_binary"]) {
            logger.warning("auth: Jaeger's UDP receivers cannot carry credentials: whoever reaches their ports can write spans")
        }
        // Every HTTP listener: plain, or TLS from the `tls` section (certificates reloaded).
        let httpServer = try config.tls?.httpServer() ?? .http1()
        func app(_ router: Router<AriadneRequestContext>, _ name: String?, port: Int, _ key: BoundAddresses.Key) -> some Service {
            Application(
                router: router, server: httpServer,
                configuration: .init(address: .hostname(name.flatMap { config.receiverHosts[$0] } ?? config.host, port: port), serverName: "ariadne"),
                onServerRunning: { announce(key, address($0)) }, logger: quiet(logger))
        }

        let receivers = HTTPReceivers(ingestor: ingestor)
        let otlpRouter = router(audited: false, ingestOnly)
        receivers.addOTLPRoutes(to: otlpRouter)
        let otlpApp = app(otlpRouter, "otlp_http", port: config.otlpHTTPPort, \.otlpHTTP)

        let zipkinRouter = router(audited: false, ingestOnly)
        receivers.addZipkinRoutes(to: zipkinRouter)
        let zipkinApp = app(zipkinRouter, "zipkin", port: config.zipkinPort, \.zipkin)

        let jaegerRouter = router(audited: false, ingestOnly)
        receivers.addJaegerThriftRoutes(to: jaegerRouter)
        let jaegerHTTPApp = app(jaegerRouter, "jaeger_thrift_http", port: config.jaegerThriftHTTPPort, \.jaegerThriftHTTP)
        let jaegerUDP = [
            (
                JaegerThrift.ThriftProtocol.compact, "jaeger_thrift_compact", config.jaegerCompactPort,
                \BoundAddresses.jaegerCompact as BoundAddresses.Key
            ),
            (.binary, "jaeger_thrift_binary", config.jaegerBinaryPort, \.jaegerBinary),
        ].map { p, name, port, key in
            JaegerUDPReceiver(
                ingestor: ingestor, host: config.receiverHosts[name] ?? config.host, port: port, thriftProtocol: p, logger: logger,
                onListening: { announce(key, $0) })
        }

        let queryRouter = router(audited: true, AccessControl.queryRequirement(publicMetrics: authenticator?.publicMetrics ?? false))
        // Every query route answers for the asking tenant's space, as their teams may see it.
        queryRouter.add(
            middleware: TenantScoping(
                spaces: spaces, teams: config.pipeline.section(TeamsSection.self),
                headerTrusted: config.pipeline.section(TenancySection.self).headerTrusted))
        let registry = MetricsRegistry()
        registry.register(NodeMetrics(source: metrics))
        registry.register(NodeMetrics(source: GaugeSource { Self.gauges(spaces.all) }))
        registry.register(NodeMetrics(source: metrics.pipeline))
        registry.register(ScopedAnalyticsMetrics(home: home.analytics))
        var queryAPI = QueryAPI(home: home, registry: registry)
        queryAPI.logger = logger
        let streamReady = Latch()
        let clickhouse = self.clickhouse
        queryAPI.readiness = { [role = config.role] in
            if let jetstream {
                if !jetstream.isConnected { return "the buffer (NATS) is unreachable" }
                if role == .collector, !streamReady.isSet { return "the buffer's stream is not set up yet" }
            }
            if let clickhouse {
                do { try await clickhouse.ping() } catch { return "the store (ClickHouse) is unreachable: \(error)" }
            }
            return nil
        }
        if config.role.answersQueries {
            queryAPI.addRoutes(to: queryRouter)
            UIRoutes(directory: config.uiDirectory).addRoutes(to: queryRouter)
            UIConfigRoutes(section: config.pipeline.section(UISection.self)).addRoutes(to: queryRouter)
            if let audit { AuditRoutes(log: audit).addRoutes(to: queryRouter) }
            SessionRoutes(authenticator: authenticator, sessions: sessions, secure: config.tls != nil).addRoutes(to: queryRouter)
        } else {
            queryAPI.addHealthRoutes(to: queryRouter)
        }
        let routes = queryRouter.routes.map { "\($0.method) \($0.path)" }
        bound.withLock { $0.queryRoutes = routes }
        let queryApp = app(queryRouter, nil, port: config.queryPort, \.query)

        // SDKs read their sampling strategies with the key they send spans with.
        let samplingRouter = router(audited: false, ingestOnly)
        SamplingAPI(strategies: pipeline.strategies).addRoutes(to: samplingRouter)
        let samplingApp = app(samplingRouter, nil, port: config.samplingPort, \.sampling)

        let grpcSecurity = try config.tls?.grpcSecurity() ?? .plaintext
        func grpcService(
            _ name: String, port: Int, _ service: any RegistrableRPCService, _ key: BoundAddresses.Key
        ) -> GRPCService {
            let transport = HTTP2ServerTransport.Posix(
                address: .ipv4(host: config.receiverHosts[name] ?? config.host, port: port),
                transportSecurity: grpcSecurity,
                config: .defaults { c in
                    c.rpc.maxRequestPayloadSize = config.maxBodyBytes
                    c.compression.enabledAlgorithms = .all
                    // Exports are large (a 500-span OTLP request is ~200 kB): with HTTP/2's
                    // 16 kB frames and 64 kB window, each took a dozen frames and waits for window
                    // updates, and the frame handling cost more server CPU than decoding the spans.
                    c.http2.maxFrameSize = 1 << 20
                    c.http2.targetWindowSize = 4 << 20
                })
            return GRPCService(
                server: GRPCServer(transport: transport, services: [service]), transport: transport, onListening: { announce(key, $0) })
        }
        let grpc = grpcService(
            "otlp_grpc", port: config.otlpGRPCPort, OTLPGRPCReceiver(ingestor: ingestor, authenticator: authenticator), \.otlpGRPC)
        let jaegerGRPC = grpcService(
            "jaeger_grpc", port: config.jaegerGRPCPort, JaegerGRPCReceiver(ingestor: ingestor, authenticator: authenticator), \.jaegerGRPC)

        // Stopped in reverse order: the receivers first, then the pipeline (which decides the traces
        // it holds), then the exporters (which send what is queued).
        // Analytics first, so that it stops last and writes every rollup the pipeline counted.
        let externalURL = config.analytics.externalURL
        var ingester: BufferIngester?
        if let jetstream, config.role == .ingester {
            var options = BufferIngester.Options(id: config.ingesterID)
            if let wait = stages.tailSamplingWait { options.ackWait = max(options.ackWait, wait * 3) }
            ingester = BufferIngester(
                settings: config.buffer, options: options, connection: jetstream,
                pipeline: { tenant in try await spaces.space(tenant ?? TenantName.default).pipeline }, metrics: metrics.pipeline,
                log: { [logger] in logger.info("\($0)") })
        }
        // Alerts are evaluated once per cluster: by the all-in-one node, or by the ingester that
        // holds the leader lease (query nodes and collectors never).
        let evaluatesAlerts: @Sendable () -> Bool =
            switch config.role {
            case .allInOne: { true }
            case .ingester: { [ingester] in ingester?.isLeader ?? false }
            case .collector, .query: { false }
            }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if config.role != .collector {
            services.append(
                .init(
                    service: AnalyticsService(
                        spaces: spaces, logger: logger, evaluatesAlerts: evaluatesAlerts,
                        baseURL: { externalURL ?? "http://" + bound.withLock { $0.query } })))
        }
        // An exporter's senders run until shutdown, then what is queued gets a last attempt; the
        // pipeline's timers until shutdown, then whatever it holds is decided and passed on.
        services += exporters.map { e in .init(service: UntilShutdown(name: "exporter \(e.name)") { await e.run() }) }
        services.append(.init(service: UntilShutdown(name: "pipeline") { await spaces.runPipelines() }))
        if let jetstream, config.role == .collector {
            services.append(
                .init(
                    service: BufferStreamSetup(connection: jetstream, settings: config.buffer, ready: streamReady, logger: logger),
                    successTerminationBehavior: .ignore))
        }
        if let ingester {
            // After the pipeline, so that it stops first: what it handed on settles (tail sampling
            // still decides) before the pipeline stops.
            services.append(.init(service: UntilShutdown(name: "ingester") { await ingester.run() }))
        }
        // A receiver the configuration leaves out does not listen: announced as off.
        for (name, service, key) in [
            ("otlp_grpc", grpc as any Service, \BoundAddresses.otlpGRPC), ("otlp_http", otlpApp, \.otlpHTTP), ("zipkin", zipkinApp, \.zipkin),
            ("jaeger_grpc", jaegerGRPC, \.jaegerGRPC), ("jaeger_thrift_http", jaegerHTTPApp, \.jaegerThriftHTTP),
            ("jaeger_thrift_compact", jaegerUDP[0], \.jaegerCompact), ("jaeger_thrift_binary", jaegerUDP[1], \.jaegerBinary),
        ] as [(String, any Service, BoundAddresses.Key)] {
            if config.role.receives, config.enabledReceivers.contains(name) {
                services.append(.init(service: service))
            } else {
                announce(key, "off")
            }
        }
        services.append(.init(service: queryApp))
        // Sampling strategies are for SDKs sending spans: a query node has none to give.
        if config.role.receives { services.append(.init(service: samplingApp)) } else { announce(\.sampling, "off") }
        if let tls = config.tls { services.append(.init(service: CertificateReloadService(reloader: tls.reloader))) }
        if engine != nil { services.append(.init(service: EngineMaintenance(engines: { spaces.all.compactMap(\.engine) }, logger: logger))) }
        if clickhouse != nil, config.role.writes, let retention = config.engine.retention {
            services.append(
                .init(service: ClickHouseRetention(stores: { spaces.all.compactMap(\.clickhouse) }, retention: retention, logger: logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
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

/// Runs `body` until a graceful shutdown cancels it: for parts that finish their work on
/// cancellation (the pipeline decides what it holds, exporters send what is queued, an ingester
/// settles what it handed on and gives its partitions back).
struct UntilShutdown: Service, CustomStringConvertible {
    let name: String
    let body: @Sendable () async -> Void

    func run() async throws { await cancelWhenGracefulShutdown(body) }

    var description: String { name }
}

/// Creates the collector's stream (or updates its limits), trying again while JetStream is away.
struct BufferStreamSetup: Service {
    let connection: JetStreamConnection
    let settings: BufferSettings
    let ready: Latch
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try connection.ensureStream(settings.streamSettings)
                    ready.set()
                    logger.info(
                        "buffer: stream \(settings.stream) ready (\(settings.partitions) partitions, \(settings.effectiveReplicas) replica(s), max age \(settings.maxAge), max bytes \(settings.maxBytes))"
                    )
                    return
                } catch {
                    failures += 1
                    if failures == 1 || failures % 30 == 0 { logger.warning("buffer: \(error); trying again every 2 s") }
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }
    }
}

/// For every tenant's engine, each second: cuts the head into a block when it is old enough,
/// even without new writes, applies retention and deletions, and does one step of compaction.
struct EngineMaintenance: Service {
    let engines: @Sendable () -> [EngineStore]
    let logger: Logger

    func run() async throws {
        // The engine's own flag rather than `Task.isShuttingDownGracefully`: its block writer asks
        // from threads of its own, where the task's locals are not there to read.
        try await withGracefulShutdownHandler {
            var stopped = Set<ObjectIdentifier>()
            while !Task.isCancelledOrShuttingDown {
                try? await Task.sleep(for: .seconds(1))
                for engine in engines() where !stopped.contains(ObjectIdentifier(engine)) {
                    if !(await step(engine)) { stopped.insert(ObjectIdentifier(engine)) }
                }
            }
        } onGracefulShutdown: {
            for engine in engines() { engine.beginStopping() }
        }
        // A background cut may still be finishing: the process must not end between its block
        // and the release of the WAL segments the block covers.
        for engine in engines() { await engine.waitForCutToEnd() }
    }

    /// One round of upkeep; false once the engine is stopping.
    func step(_ engine: EngineStore) async -> Bool {
        do {
            try await engine.cutIfDue()
        } catch is EngineStore.CutStopped {
            logger.info("engine: stopping during a cut: the head's spans stay in the WAL for the next start")
            return false
        } catch { logger.error("engine: cutting a block failed: \(error)") }
        engine.applyRetention()
        do { try await engine.purge() } catch { logger.error("engine: purging deleted traces failed: \(error)") }
        do {
            try await engine.compact(limit: 1, shouldStop: { engine.isStopping })
        } catch is EngineStore.CompactionStopped {
            return false
        } catch { logger.error("engine: compaction failed: \(error)") }
        return true
    }
}

/// Drops ClickHouse's day partitions past the retention, hourly, in every tenant's database.
/// Query nodes leave it to the nodes that write (a DROP PARTITION already done is a no-op, so
/// several writers are safe).
struct ClickHouseRetention: Service {
    let stores: @Sendable () -> [ClickHouseStore]
    let retention: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let now = UInt64(Date().timeIntervalSince1970 * 1e9)
                let keep = UInt64(clamping: retention.components.seconds) * 1_000_000_000
                for store in stores() {
                    do {
                        let days = try await store.applyRetention(olderThan: now > keep ? now - keep : 0)
                        if !days.isEmpty { logger.info("clickhouse: retention dropped the days \(days.joined(separator: ", "))") }
                    } catch { logger.error("clickhouse: applying retention failed: \(error)") }
                }
                try? await Task.sleep(for: .seconds(3600))
            }
        }
    }
}

extension AriadneServer {
    /// Brings ClickHouse's schema up to date, waiting up to a minute for a server that is still
    /// starting (nodes and their database often start together).
    static func migrate(_ store: ClickHouseStore, logger: Logger) async throws {
        var attempt = 0
        while true {
            attempt += 1
            let result: Result<[Int], ClickHouseError>
            do { result = .success(try await store.migrate()) } catch { result = .failure(error) }
            switch result {
            case .success(let applied):
                if !applied.isEmpty { logger.info("clickhouse: applied schema migrations \(applied.map(String.init).joined(separator: ", "))") }
                return
            case .failure(let error):
                guard error.isRetryable, attempt < 30 else { throw error }
                logger.warning("clickhouse: \(error.message); trying again in 2 s")
                try await Task.sleep(for: .seconds(2))
            }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
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
