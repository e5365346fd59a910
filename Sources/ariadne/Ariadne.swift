import ArgumentParser
import AriadneAnalysis
import AriadneBuffer
import AriadneClickHouse
import AriadneEngine
import AriadneExport
import AriadneLoadgen
import AriadneModel
import AriadnePipeline
import AriadneQuery
import AriadneServer
import AriadneStorage
import AriadneWire
import AriadneWorkload
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
    import CMalloc
    import Glibc
#endif

@main
struct Ariadne: AsyncParsableCommand {
    static let version = "0.5.0"

    static func main() async {
        #if canImport(Glibc)
            ariadne_tune_malloc()  // see shim.h: fewer arenas, large buffers kept in the heap
        #endif
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "ariadne",
        abstract: "Distributed tracing: OTLP and Zipkin in, Jaeger-compatible queries out.",
        subcommands: [
            Serve.self, Config.self, Audit.self, Loadgen.self, Diff.self, Delete.self, Replay.self, Version.self, Codec.self,
        ],
        defaultSubcommand: Serve.self)
}

/// Log lines on stdout, one per event, flushed at once so that supervisors and tests see them.
func makeLogger(_ label: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardOutput(label: label)
        handler.logLevel = .info
        return handler
    }
    return Logger(label: label)
}

/// Reads a pipeline configuration file; on mistakes prints each as `FILE:LINE:COLUMN: message`
/// and exits 1.
func loadPipeline(_ path: String) throws -> PipelineConfiguration {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("configuration file \(path) cannot be read")
    }
    func report(_ file: String, _ errors: [ConfigError]) -> ExitCode {
        for e in errors { FileHandle.standardError.write(Data("\(file):\(e.line):\(e.column): \(e.message)\n".utf8)) }
        return ExitCode(1)
    }
    var pipeline: PipelineConfiguration
    do {
        pipeline = try PipelineConfiguration.parse(
            String(decoding: data, as: UTF8.self), environment: ProcessInfo.processInfo.environment,
            sections: ServerConfiguration.configSections)
    } catch {
        throw report(path, error.errors)
    }
    if case .file(let name, let line) = pipeline.sampling {
        // Relative to the configuration file, as a reader of the file would expect.
        let file = name.hasPrefix("/") ? name : (URL(fileURLWithPath: path).deletingLastPathComponent().path + "/" + name)
        guard let text = FileManager.default.contents(atPath: file) else {
            throw report(path, [ConfigError(line: line, column: 1, message: "strategies_file \(file) cannot be read")])
        }
        do {
            pipeline.sampling = .strategies(try StaticSamplingStrategies.parse(String(decoding: text, as: UTF8.self)))
        } catch {
            throw report(file, error.errors)
        }
    }
    return pipeline
}

/// The files the `tls`, `auth`, `audit` sections and the exporters name, relative to the configuration file; a problem
/// is printed as `FILE:LINE: message` and ends the command.
func loadSecurity(_ path: String, into c: inout ServerConfiguration) async throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    func resolve(_ p: String?) -> String? { p.map { $0.hasPrefix("/") ? $0 : directory + "/" + $0 } }
    // The exporters' TLS and token files, like every file the configuration names.
    for (n, e) in c.pipeline.exporters.enumerated() {
        guard case .otlp(var settings) = e.kind else { continue }
        settings.bearerTokenFile = resolve(settings.bearerTokenFile)
        if var t = settings.tls {
            (t.caFile, t.certFile, t.keyFile) = (resolve(t.caFile), resolve(t.certFile), resolve(t.keyFile))
            settings.tls = t
        }
        c.pipeline.exporters[n].kind = .otlp(settings)
    }
    let auth = c.pipeline.section(AuthSection.self)
    do {
        let teams = c.pipeline.section(TeamsSection.self)
        for key in auth.apiKeys {
            if let unknown = key.teams.first(where: { teams.services[$0] == nil }) {
                throw ConfigLoadError(line: key.line, message: "api key '\(key.name)': team '\(unknown)' is not in the teams section")
            }
        }
        if auth.enabled {
            c.authenticator = try await Authenticator.load(
                auth, configDirectory: directory, environment: ProcessInfo.processInfo.environment)
        }
        let tls = c.pipeline.section(TLSSection.self)
        if tls.enabled { c.tls = try TLSSetup.load(tls, configDirectory: directory) }
        if let file = c.pipeline.section(AuditSection.self).file {
            c.audit = try AuditLog(path: file.hasPrefix("/") ? file : directory + "/" + file)
        }
    } catch let e as ConfigLoadError {
        FileHandle.standardError.write(Data("\(path):\(e.line): \(e.message)\n".utf8))
        throw ExitCode(1)
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with the audit log.", subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an audit log's chain; name the first line changed, removed or reordered (exit 1).")
        @Argument(help: "The audit log file.") var file: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("\(file) cannot be read") }
            if let (line, reason) = AuditLog.verify(Array(data)) {
                FileHandle.standardError.write(Data("\(file):\(line): \(reason)\n".utf8))
                throw ExitCode(1)
            }
            let lines = data.split(separator: UInt8(ascii: "\n")).count
            print("\(file): \(lines) lines, chain intact")
        }
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with pipeline configuration files.", subcommands: [Validate.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file; print each mistake with its line, exit 1 if there is any.")
        @Argument(help: "The YAML file.") var file: String

        func run() throws {
            let pipeline = try loadPipeline(file)
            let receivers = (pipeline.receivers.enabled.map { Array($0) } ?? Array(ServerConfiguration().enabledReceivers)).sorted()
            let stages =
                [receivers.joined(separator: "+")] + pipeline.processors.map(\.name)
                + [pipeline.exporters.map(\.name).joined(separator: "+")]
            print("\(file): valid; traces pipeline: \(stages.joined(separator: " → "))")
            let a = pipeline.section(AnalyticsSection.self).settings
            print(
                "analytics: \(a.interval.goText) windows kept \(a.retention.goText); \(a.alerts.count) alert(s), \(a.objectives.count) objective(s), \(a.webhooks.count) webhook(s)"
            )
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the all-in-one server.")

    @Option(help: "Pipeline configuration file (YAML): processors and their order. See `ariadne config validate`.")
    var config: String?
    @Option(help: "Data directory.") var dataDir = "./ariadne-data"
    @Option(help: "Address every listener binds to.") var host = "127.0.0.1"
    // Optional, so that a port given in the configuration file counts unless a flag overrides it.
    @Option(help: "OTLP/gRPC port, default 4317 (0 picks a free port).") var otlpGrpcPort: Int?
    @Option(help: "OTLP/HTTP port, default 4318.") var otlpHttpPort: Int?
    @Option(help: "Zipkin v2 port, default 9411.") var zipkinPort: Int?
    // Jaeger's legacy receivers listen only when flagged (or named in the configuration file).
    @Option(help: "Jaeger gRPC (api_v2 PostSpans) port, usually 14250; given, it listens.") var jaegerGrpcPort: Int?
    @Option(help: "Jaeger Thrift over HTTP (POST /api/traces) port, usually 14268; given, it listens.") var jaegerThriftHttpPort: Int?
    @Option(help: "Jaeger agent UDP port, Thrift compact, usually 6831; given, it listens.") var jaegerThriftCompactPort: Int?
    @Option(help: "Jaeger agent UDP port, Thrift binary, usually 6832; given, it listens.") var jaegerThriftBinaryPort: Int?
    @Option(help: "Query API port.") var queryPort = 16686
    @Option(help: "Jaeger remote-sampling port.") var samplingPort = 5778
    @Option(help: "Largest request body in bytes, after decompression.") var maxBodyBytes = 64 << 20
    @Option(help: "Request bytes in flight before receivers answer 429/UNAVAILABLE.") var maxInFlightBytes = 64 << 20
    @Option(help: "A query still running after this (Go duration) is cancelled and answered 503.") var queryTimeout = "30s"
    @Option(help: "Queries run at once; more wait (up to 64), then get 429.") var queryMaxConcurrent = 4
    @Option(help: "Store: engine (durable, default), memory, or clickhouse (shared by several nodes).") var store = "engine"
    @Option(
        help:
            "all (or all-in-one, the default: receive, process, store and query), collector (receive → buffer), ingester (buffer → tail sampling → store) or query (the query API and UI over a shared store)."
    )
    var role = "all-in-one"
    @Option(help: "NATS JetStream servers of the buffer between collectors and ingesters, comma-separated (nats://host:port).")
    var buffer: String?
    @Option(help: "Buffer: the JetStream stream.") var bufferStream = "ARIADNE_SPANS"
    @Option(help: "Buffer: partitions by trace id (each read by one ingester at a time).") var bufferPartitions = 16
    @Option(help: "Buffer: oldest message the stream keeps (Go duration).") var bufferMaxAge = "1h"
    @Option(help: "Buffer: bytes the stream holds before collectors are refused (503).") var bufferMaxBytes: Int64 = 1 << 30
    @Option(help: "Buffer: copies of each message (default 3 with several servers, else 1).") var bufferReplicas: Int?
    @Option(help: "Buffer: how long a collector gathers concurrent requests' spans for one partition into one message (Go duration; 0: none).")
    var bufferCoalesce = "5ms"
    @Option(help: "Ingester: its name among the ingesters (default host-pid).") var ingesterId: String?
    @Option(help: "ClickHouse HTTP interfaces, comma-separated, tried in order.") var clickhouseUrl = "http://127.0.0.1:8123"
    @Option(help: "ClickHouse database for Ariadne's tables.") var clickhouseDatabase = "ariadne"
    @Option(help: "ClickHouse user.") var clickhouseUser = "default"
    @Option(help: "File holding the ClickHouse user's password.") var clickhousePasswordFile: String?
    @Option(help: "ClickHouse cluster (remote_servers) name: DDL ON CLUSTER, Distributed tables sharded by trace id.")
    var clickhouseCluster: String?
    @Option(help: "ClickHouse: spans gathered into one insert.") var clickhouseBatchSpans = 10_000
    @Option(help: "ClickHouse: longest a span waits for its insert (Go duration).") var clickhouseBatchInterval = "1s"
    @Option(help: "Engine WAL sync: always (fsync before acknowledging, default) or never.") var walSync = "always"
    @Option(help: "Engine: spans in the head before it is written as a block.") var headMaxSpans = 64_000
    @Option(help: "Engine: delete blocks older than this (Go duration, e.g. 72h; 0 keeps everything).")
    var retention = "168h"
    @Option(help: "Engine: delete the oldest blocks when they add up to more than this many bytes (0: no limit).")
    var retentionBytes = 0
    @Option(help: "Engine: rewrite blocks at the compaction zstd level once their newest span is this old (0: never).")
    var recompressAfter = "10m"
    @Option(help: "Engine: zstd level of compacted blocks (cuts write level 3).") var compactionLevel: Int32 = 9
    @Option(help: ArgumentHelp("Serve the web UI's files from this directory (UI development).", visibility: .hidden))
    var uiDir: String?
    @Option(help: "Spans the in-memory store keeps before dropping the oldest.") var memoryMaxSpans = 2_000_000

    func run() async throws {
        var c = ServerConfiguration()
        if let config {
            c.pipeline = try loadPipeline(config)
            try await loadSecurity(config, into: &c)
        }
        c.dataDirectory = dataDir
        c.host = host
        let receivers = c.pipeline.receivers
        c.otlpGRPCPort = otlpGrpcPort ?? receivers.otlpGRPC?.port ?? 4317
        c.otlpHTTPPort = otlpHttpPort ?? receivers.otlpHTTP?.port ?? 4318
        c.zipkinPort = zipkinPort ?? receivers.zipkin?.port ?? 9411
        c.receiverHosts = [
            "otlp_grpc": receivers.otlpGRPC?.host, "otlp_http": receivers.otlpHTTP?.host, "zipkin": receivers.zipkin?.host,
        ].compactMapValues { $0 }
        if let enabled = receivers.enabled { c.enabledReceivers = enabled }
        let jaeger: [(String, Int?, WritableKeyPath<ServerConfiguration, Int>)] = [
            ("jaeger_grpc", jaegerGrpcPort, \.jaegerGRPCPort), ("jaeger_thrift_http", jaegerThriftHttpPort, \.jaegerThriftHTTPPort),
            ("jaeger_thrift_compact", jaegerThriftCompactPort, \.jaegerCompactPort),
            ("jaeger_thrift_binary", jaegerThriftBinaryPort, \.jaegerBinaryPort),
        ]
        for (name, flag, key) in jaeger {
            if let port = flag ?? receivers.jaeger[name]?.port { c[keyPath: key] = port }
            if let host = receivers.jaeger[name]?.host { c.receiverHosts[name] = host }
            if flag != nil { c.enabledReceivers.insert(name) }
        }
        c.queryPort = queryPort
        c.samplingPort = samplingPort
        c.maxBodyBytes = maxBodyBytes
        c.maxInFlightBytes = maxInFlightBytes
        guard let timeout = GoDuration.parse(queryTimeout), timeout > 0, timeout <= 3_600_000_000_000 else {
            throw ValidationError("--query-timeout must be a duration from 1ns to 1h, such as 30s")
        }
        guard (1...1024).contains(queryMaxConcurrent) else { throw ValidationError("--query-max-concurrent must be 1 to 1024") }
        c.queryLimits = QueryLimits(timeout: .nanoseconds(Int64(timeout)), maxConcurrent: queryMaxConcurrent)
        c.memoryMaxSpans = memoryMaxSpans
        guard let kind = StoreKind(rawValue: store) else { throw ValidationError("--store must be engine, memory or clickhouse") }
        c.store = kind
        guard let r = NodeRole(rawValue: role == "all" ? "all-in-one" : role) else {
            throw ValidationError("--role must be all, collector, ingester or query")
        }
        c.role = r
        if r == .query || r == .ingester, kind != .clickhouse {
            throw ValidationError("--role \(r.rawValue) works over a shared store: give --store clickhouse")
        }
        if let buffer {
            c.buffer.urls = buffer.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard c.buffer.urls.allSatisfy({ $0.hasPrefix("nats://") || $0.hasPrefix("tls://") }) else {
                throw ValidationError("--buffer takes nats://host:port URLs, comma-separated, got \(buffer)")
            }
        }
        if (r == .collector || r == .ingester), c.buffer.urls.isEmpty {
            throw ValidationError("--role \(r.rawValue) needs the buffer: give --buffer nats://127.0.0.1:4222")
        }
        guard (1...1024).contains(bufferPartitions) else { throw ValidationError("--buffer-partitions must be 1 to 1024") }
        guard bufferStream.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), !bufferStream.isEmpty else {
            throw ValidationError("--buffer-stream may hold only letters, digits, _ and -")
        }
        guard let maxAge = GoDuration.parse(bufferMaxAge), maxAge > 0 else {
            throw ValidationError("--buffer-max-age must be a duration such as 1h, got \(bufferMaxAge)")
        }
        c.buffer.stream = bufferStream
        c.buffer.partitions = bufferPartitions
        c.buffer.maxAge = .nanoseconds(Int64(clamping: maxAge))
        c.buffer.maxBytes = bufferMaxBytes
        c.buffer.replicas = bufferReplicas
        guard let coalesce = GoDuration.parse(bufferCoalesce), coalesce <= 1_000_000_000 else {
            throw ValidationError("--buffer-coalesce must be a duration from 0 to 1s, such as 5ms, got \(bufferCoalesce)")
        }
        c.buffer.coalesce = .nanoseconds(Int64(coalesce))
        c.ingesterID = ingesterId ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        c.clickhouse.urls = clickhouseUrl.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        c.clickhouse.database = clickhouseDatabase
        c.clickhouse.user = clickhouseUser
        if let clickhousePasswordFile {
            guard let data = FileManager.default.contents(atPath: clickhousePasswordFile) else {
                throw ValidationError("--clickhouse-password-file: cannot read \(clickhousePasswordFile)")
            }
            c.clickhouse.password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        c.clickhouse.cluster = clickhouseCluster
        c.clickhouse.batchSpans = clickhouseBatchSpans
        guard let interval = GoDuration.parse(clickhouseBatchInterval), interval > 0, interval <= 60_000_000_000 else {
            throw ValidationError("--clickhouse-batch-interval must be a duration from 1ns to 1m, such as 1s")
        }
        c.clickhouse.batchInterval = .nanoseconds(Int64(interval))
        if kind == .clickhouse {
            do { try c.clickhouse.validate() } catch { throw ValidationError(error.message) }
        }
        guard let sync = WALSyncMode(rawValue: walSync) else { throw ValidationError("--wal-sync must be always or never") }
        c.engine.syncMode = sync
        c.engine.headMaxSpans = headMaxSpans
        guard let retentionNs = GoDuration.parse(retention) else {
            throw ValidationError("--retention must be a duration such as 72h or 30m, got \(retention)")
        }
        c.engine.retention = retentionNs == 0 ? nil : .nanoseconds(Int64(clamping: retentionNs))
        c.engine.retentionBytes = retentionBytes > 0 ? retentionBytes : nil
        guard let recompressNs = GoDuration.parse(recompressAfter) else {
            throw ValidationError("--recompress-after must be a duration such as 10m, got \(recompressAfter)")
        }
        c.engine.recompressAfter = recompressNs == 0 ? nil : .nanoseconds(Int64(clamping: recompressNs))
        guard (1...19).contains(compactionLevel) else { throw ValidationError("--compaction-level must be 1...19") }
        c.engine.compactionLevel = compactionLevel
        c.uiDirectory = uiDir
        let logger = makeLogger("ariadne")
        let server: AriadneServer
        do {
            server = try AriadneServer(configuration: c, logger: logger)
        } catch {
            logger.critical("ariadne serve cannot open its store (\(store)) in \(dataDir): \(error)")
            throw ExitCode(1)
        }
        try await server.run()
    }
}

struct Loadgen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send realistic multi-service traces over OTLP gRPC or HTTP.")

    @Option(help: "grpc or http.") var `protocol` = "grpc"
    @Option(help: "Endpoint: host:port for gRPC, or a URL for HTTP (default http://127.0.0.1:4318/v1/traces).")
    var endpoint: String?
    @Option(help: "Spans per second; omit to send as fast as possible.") var rate: Double?
    @Option(help: "Seconds to run.") var duration: Double?
    @Option(help: "Spans to send in total.") var spans: Int?
    @Option(help: "Spans per request.") var batchSpans = 500
    @Option(help: "Concurrent senders.") var concurrency = 4
    @Flag(help: "gzip HTTP request bodies.") var gzip = false
    @Option(help: "Workload seed.") var seed: UInt64 = 42
    @Option(help: "loadgen (repetitive shop traces) or realistic (values that vary as real ones do).") var profile = "loadgen"
    @Option(
        help:
            "Sample traces at their head as an SDK would, with the strategies of this Jaeger remote-sampling URL (e.g. http://127.0.0.1:5778/sampling); --rate then paces the traffic generated."
    )
    var remoteSampling: String?
    @Option(help: "Connect with TLS, trusting the CA in this PEM file (https:// for HTTP).") var caFile: String?
    @Option(help: "Send 'Authorization: Bearer <the file's first line>' (an API key or token).") var bearerTokenFile: String?

    func run() async throws {
        guard duration != nil || spans != nil else {
            throw ValidationError("give --duration SECONDS or --spans COUNT")
        }
        var options = LoadgenOptions()
        options.rate = rate
        options.duration = duration
        options.totalSpans = spans
        options.batchSpans = batchSpans
        options.concurrency = concurrency
        options.seed = seed
        guard let p = Workload.Profile(rawValue: profile) else { throw ValidationError("--profile must be loadgen or realistic") }
        options.profile = p
        options.remoteSampling = remoteSampling
        let progress: @Sendable (LoadgenSummary) -> Void = { s in
            FileHandle.standardError.write(Data("loadgen: \(s)\n".utf8))
        }
        let tls = caFile.map { OTLPExportSettings.ClientTLS(caFile: $0) }
        var headers = [String: String]()
        if let bearerTokenFile {
            guard let data = FileManager.default.contents(atPath: bearerTokenFile) else {
                throw ValidationError("--bearer-token-file \(bearerTokenFile) cannot be read")
            }
            let token = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            headers["authorization"] = "Bearer " + token.trimmingCharacters(in: .whitespaces)
        }
        let summary: LoadgenSummary
        switch self.protocol {
        case "grpc":
            let target = endpoint ?? "127.0.0.1:4317"
            let parts = target.replacingOccurrences(of: "http://", with: "").split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else {
                throw ValidationError("gRPC endpoint must be host:port, got \(target)")
            }
            let sender = try GRPCSender(host: String(parts[0]), port: port, tls: tls, headers: headers)
            summary = try await withThrowingTaskGroup(of: LoadgenSummary?.self) { group in
                group.addTask {
                    try await sender.run()
                    return nil
                }
                let s = await AriadneLoadgen.Loadgen.run(options: options, sender: sender, progress: progress)
                sender.close()
                for try await _ in group {}
                return s
            }
        case "http":
            let sender = try HTTPSender(url: endpoint ?? "http://127.0.0.1:4318/v1/traces", gzip: gzip, tls: tls, headers: headers)
            summary = await AriadneLoadgen.Loadgen.run(options: options, sender: sender, progress: progress)
            try await sender.close()
        default:
            throw ValidationError("--protocol must be grpc or http")
        }
        print("loadgen summary: \(summary)")
        fflush(nil)
        if summary.acknowledgedSpans == 0 { throw ExitCode(1) }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("ariadne \(Ariadne.version)") }
}

/// Re-encodes OTLP requests: the hook the wire-compatibility tests use to check our codec against
/// the opentelemetry-proto package.
struct Codec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode OTLP ExportTraceServiceRequest files and write them re-encoded.", shouldDisplay: false)

    @Option(help: "Input format: protobuf or json.") var from = "protobuf"
    @Option(help: "Output format: protobuf or json.") var to = "protobuf"
    @Argument(help: "Files to convert; each is written to FILE.out.") var files: [String]

    func run() throws {
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("\(path): cannot read the file")
            }
            let bytes = [UInt8](data)
            let batch: SpanBatch
            do {
                batch = from == "json" ? try OTLPJSON.decodeExportRequest(bytes).0 : try OTLPProtobuf.decodeExportRequest(bytes).0
            } catch {
                throw ValidationError("\(path): \(error.message)")
            }
            let out = to == "json" ? OTLPJSON.encodeTracesData(batch) : OTLPProtobuf.encodeExportRequest(batch)
            guard FileManager.default.createFile(atPath: path + ".out", contents: Data(out)) else {
                throw ValidationError("\(path).out: cannot write the file")
            }
        }
    }
}

/// Deletes traces through a running server's admin API.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish again what the cluster's buffer still holds since a moment, for the ingesters to store once more.")

    @Option(help: "NATS JetStream servers of the buffer, comma-separated.") var buffer = "nats://127.0.0.1:4222"
    @Option(help: "The buffer's stream.") var bufferStream = "ARIADNE_SPANS"
    @Option(help: "How far back (Go duration, e.g. 30m).") var since = "30m"

    func run() async throws {
        guard let back = GoDuration.parse(since), back > 0 else { throw ValidationError("--since must be a duration such as 30m, got \(since)") }
        var settings = BufferSettings()
        settings.urls = buffer.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        settings.stream = bufferStream
        let connection = try JetStreamConnection(urls: settings.urls, name: "ariadne-replay")
        let from = Int64(Date().timeIntervalSince1970 * 1e9) - Int64(clamping: back)
        let last = Mutex(ContinuousClock.now - .seconds(10))
        let result = try await BufferReplay(settings: settings, connection: connection).run(since: from) { p in
            let now = ContinuousClock.now
            guard
                last.withLock({ l in
                    defer { if now - l >= .seconds(1) { l = now } }
                    return now - l >= .seconds(1)
                })
            else { return }
            FileHandle.standardError.write(Data("replay: \(p.messages) of \(p.total) messages published again\n".utf8))
        }
        print(
            "replay: \(result.messages) messages since \(since) ago published again to \(bufferStream); the ingesters store them (copies are merged)")
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete traces from a running server (the engine or ClickHouse): by id, or every trace with a matching span.")

    @Option(help: "Query API of the server.") var endpoint = "http://127.0.0.1:16686"
    @Option(help: "Only spans of this service.") var service: String?
    @Option(help: "Only spans with this name.") var operation: String?
    @Option(help: "key=value a span (or its resource or events) must have; repeatable.") var tag: [String] = []
    @Option(name: .customLong("trace-id"), help: "A trace to delete; repeatable.") var traceIDs: [String] = []
    @Option(name: .customLong("filter"), help: "A search filter, e.g. 'span.user.id = \"u-42\"' (see README).") var filter: String?

    func run() async throws {
        var w = JSONWriter()
        w.beginObject()
        if let service { w.field("service", service) }
        if let operation { w.field("operation", operation) }
        if let filter { w.field("q", filter) }
        w.key("tags")
        w.beginObject()
        for t in tag {
            guard let eq = t.firstIndex(of: "=") else { throw ValidationError("--tag must be key=value, got \(t)") }
            w.field(String(t[..<eq]), String(t[t.index(after: eq)...]))
        }
        w.endObject()
        w.key("traceIDs")
        w.beginArray()
        for id in traceIDs { w.string(id) }
        w.endArray()
        w.endObject()
        var request = HTTPClientRequest(url: endpoint + "/api/admin/delete")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: w.out))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        guard response.status == .ok else {
            FileHandle.standardError.write(Data("ariadne delete: HTTP \(response.status.code): \(body)\n".utf8))
            throw ExitCode(1)
        }
        print(body)
    }
}
