import ArgumentParser
import AriadneAnalysis
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

#if canImport(Glibc)
    import CMalloc
    import Glibc
#endif

@main
struct Ariadne: AsyncParsableCommand {
    static let version = "0.5.0"

    static func main() async {
        #if canImport(Glibc)
            // Request bodies and decoded batches are large (hundreds of KiB to MiB) and short-lived.
            // glibc would serve each from a fresh mmap and hand it back at free, so every request
            // paid for page faults on zeroed pages; keep such blocks in the heap instead.
            mallopt(M_MMAP_THRESHOLD, 64 << 20)
            mallopt(M_TRIM_THRESHOLD, 256 << 20)
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
            Serve.self, Config.self, Loadgen.self, Diff.self, Delete.self, Version.self, Codec.self, BenchDecode.self, BenchRedact.self,
            BenchRED.self, BenchStore.self, BenchRows.self,
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

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with pipeline configuration files.", subcommands: [Validate.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file; print each mistake with its line, exit 1 if there is any.")
        @Argument(help: "The YAML file.") var file: String

        func run() throws {
            let pipeline = try loadPipeline(file)
            let receivers = (pipeline.receivers.enabled.map { Array($0) } ?? ["otlp_grpc", "otlp_http", "zipkin"]).sorted()
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
    @Option(help: "Query API port.") var queryPort = 16686
    @Option(help: "Jaeger remote-sampling port.") var samplingPort = 5778
    @Option(help: "Largest request body in bytes, after decompression.") var maxBodyBytes = 64 << 20
    @Option(help: "Request bytes in flight before receivers answer 429/UNAVAILABLE.") var maxInFlightBytes = 64 << 20
    @Option(help: "A query still running after this (Go duration) is cancelled and answered 503.") var queryTimeout = "30s"
    @Option(help: "Queries run at once; more wait (up to 64), then get 429.") var queryMaxConcurrent = 4
    @Option(help: "Store: engine (durable, default) or memory.") var store = "engine"
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
        if let config { c.pipeline = try loadPipeline(config) }
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
        guard let kind = StoreKind(rawValue: store) else { throw ValidationError("--store must be engine or memory") }
        c.store = kind
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
            logger.critical("ariadne serve cannot open its store in \(dataDir): \(error)")
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
    @Option(
        help:
            "Sample traces at their head as an SDK would, with the strategies of this Jaeger remote-sampling URL (e.g. http://127.0.0.1:5778/sampling); --rate then paces the traffic generated."
    )
    var remoteSampling: String?

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
        options.remoteSampling = remoteSampling
        let progress: @Sendable (LoadgenSummary) -> Void = { s in
            FileHandle.standardError.write(Data("loadgen: \(s)\n".utf8))
        }
        let summary: LoadgenSummary
        switch self.protocol {
        case "grpc":
            let target = endpoint ?? "127.0.0.1:4317"
            let parts = target.replacingOccurrences(of: "http://", with: "").split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else {
                throw ValidationError("gRPC endpoint must be host:port, got \(target)")
            }
            let sender = try GRPCSender(host: String(parts[0]), port: port)
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
            let sender = HTTPSender(url: endpoint ?? "http://127.0.0.1:4318/v1/traces", gzip: gzip)
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

/// Measures OTLP protobuf decode throughput on one core over the loadgen workload.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-decode", abstract: "Measure OTLP protobuf decode throughput (one core).")

    @Option(help: "Spans per request.") var batchSpans = 1000
    @Option(help: "Seconds to measure.") var seconds = 5.0
    @Option(help: "Decode exactly this many requests instead (repeatable instruction counts under callgrind).")
    var requests: Int?

    func run() throws {
        var workload = Workload(seed: 7)
        let encoded = (0..<20).map { _ in
            OTLPProtobuf.encodeExportRequest(workload.batch(spans: batchSpans, start: 1_700_000_000_000_000_000))
        }
        let spansPer = try encoded.map { try OTLPProtobuf.decodeExportRequest($0).0.count }
        var bytes = 0
        let run = try benchLoop("bench-decode", seconds: seconds, steps: requests) { k in
            let r = encoded[k % encoded.count]
            let (batch, _) = try OTLPProtobuf.decodeExportRequest(r)
            precondition(batch.count == spansPer[k % encoded.count])
            bytes += r.count
            return batch.count
        }
        print(
            String(
                format: "decode: %.0f spans/s, %.1f MB/s, %d requests of ~%d spans (%.0f bytes/span)",
                Double(run.spans) / run.seconds, Double(bytes) / run.seconds / 1e6, run.steps, batchSpans,
                Double(bytes) / Double(run.spans)))
    }
}

/// Runs `step` (given its index, returning the spans it handled) until `steps` steps or `seconds`
/// have passed, with a progress line on stderr each second: the loop of the bench commands.
func benchLoop(
    _ name: String, seconds: Double, steps: Int? = nil, _ step: (Int) throws -> Int
) rethrows -> (steps: Int, spans: Int, seconds: Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let end = start + .milliseconds(Int64(seconds * 1000))
    var lastReport = start
    var k = 0
    var spans = 0
    while steps.map({ k < $0 }) ?? (clock.now < end) {
        spans += try step(k)
        k += 1
        if clock.now - lastReport > .seconds(1) {
            lastReport = clock.now
            FileHandle.standardError.write(Data("\(name): \(spans) spans so far\n".utf8))
        }
    }
    return (k, spans, (clock.now - start).inSeconds)
}

/// Twenty batches of the loadgen workload (seed 7), cycled through by the in-process benches.
func benchBatches(spans: Int, start: UInt64) -> [SpanBatch] {
    var workload = Workload(seed: 7)
    return (0..<20).map { _ in workload.batch(spans: spans, start: start) }
}

/// Measures PII redaction on the loadgen workload (one core): every string of every span is scanned.
struct BenchRedact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-redact", abstract: "Measure PII redaction throughput with the default policy (one core).")

    @Option(help: "Spans per batch.") var batchSpans = 1000
    @Option(help: "Seconds to measure.") var seconds = 5.0

    func run() throws {
        let batches = benchBatches(spans: batchSpans, start: 1_700_000_000_000_000_000)
        let redactor = Redactor(RedactionPolicy())
        var redacted = 0
        let run = benchLoop("bench-redact", seconds: seconds) { k in
            var b = batches[k % batches.count]
            redacted += redactor.redact(&b)
            return b.count
        }
        print(
            String(
                format: "redact: %.0f spans/s on one core, %.2f values replaced per span", Double(run.spans) / run.seconds,
                Double(redacted) / Double(run.spans)))
    }
}

/// Measures RED counting at ingest (one core): what the pipeline's first stage adds per span.
struct BenchRED: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-red", abstract: "Measure RED metrics and service-graph counting throughput (one core).")

    @Option(help: "Spans per batch.") var batchSpans = 1000
    @Option(help: "Seconds to measure.") var seconds = 5.0

    func run() throws {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let batches = benchBatches(spans: batchSpans, start: now - 60_000_000_000)
        let metrics = SpanMetrics(interval: .seconds(60))
        let run = benchLoop("bench-red", seconds: seconds) { k in
            metrics.record(batches[k % batches.count], now: now)
            return batches[k % batches.count].count
        }
        print(String(format: "red: %.0f spans/s on one core, %d keys", Double(run.spans) / run.seconds, metrics.keys().count))
        let graph = ServiceGraphMetrics()
        let paired = benchLoop("bench-red (service graph)", seconds: seconds) { k in
            graph.record(batches[k % batches.count], now: now + UInt64(k) * 1_000_000)
            if k % 100 == 99 { graph.expire(now: now + UInt64(k) * 1_000_000 + 20_000_000_000) }
            return batches[k % batches.count].count
        }
        print(String(format: "service graph: %.0f spans/s on one core, %d edges", Double(paired.spans) / paired.seconds, graph.totals().count))
        // Memory of kept rollups: the workload's keys in a day of one-minute windows.
        let day = SpanMetrics(interval: .seconds(60), retention: .seconds(86400))
        let before = MemoryLimiter.heapInUse()
        for w in 0..<1440 {
            var b = batches[w % batches.count]
            let shift = UInt64(w) * 60_000_000_000
            for i in 0..<b.count {
                b.startTimes[i] = 1_700_000_000_000_000_000 + shift
                b.endTimes[i] =
                    1_700_000_000_000_000_000 + shift + (batches[w % batches.count].endTimes[i] - batches[w % batches.count].startTimes[i])
            }
            day.record(b, now: .max / 2)
            _ = day.takeUnsaved()
        }
        let cells = day.series(from: 0, to: .max, groupOf: { $0 }).values.reduce(0) { $0 + $1.count }
        let bytes = MemoryLimiter.heapInUse() - before
        print(
            String(
                format: "rollups: %d cells (key × window) hold %.1f MiB, %.0f bytes per cell", cells, Double(bytes) / 1048576,
                Double(bytes) / Double(cells)))
    }
}

/// Measures the embedded engine in-process on the loadgen workload: ingest, bytes per span,
/// trace-by-id and search latencies.
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store", abstract: "Measure the embedded engine: ingest, size, lookups and searches.")

    @Option(help: "Spans to write.") var spans = 1_000_000
    @Option(help: "Spans per write.") var batchSpans = 1000
    @Option(help: "Concurrent writers.") var concurrency = 4
    @Option(help: "Data directory (a temporary one by default; removed afterwards).") var dir: String?
    @Option(help: "WAL sync: always or never.") var walSync = "always"
    @Option(help: "Lookups and searches to time.") var queries = 200
    @Flag(inversion: .prefixedNo, help: "Compact (recompress) every block before the queries.") var compact = true

    func run() async throws {
        let directory = dir ?? (NSTemporaryDirectory() + "ariadne-bench-\(UUID().uuidString)")
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: directory) } }
        var options = EngineOptions()
        options.syncMode = WALSyncMode(rawValue: walSync) ?? .always
        options.retention = nil
        options.recompressAfter = .seconds(0)
        let store = try EngineStore(directory: directory, options: options) { event in
            FileHandle.standardError.write(Data("bench-store: engine: \(event)\n".utf8))
        }
        let clock = ContinuousClock()

        // Ingest: whole traces spread over the last hour, so that a 1 h search window holds them all.
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let hour: UInt64 = 3_600_000_000_000
        // Generate first, so that the timing is the engine's alone.
        let work = Self.generate(spans: spans, batchSpans: batchSpans, writers: concurrency, now: now) { done in
            FileHandle.standardError.write(Data("bench-store: generated \(done) spans\n".utf8))
        }
        let sample = work.flatMap { $0.map { $0.traceIDs[0] } }
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (w, batches) in work.enumerated() {
                group.addTask {
                    for (k, batch) in batches.enumerated() {
                        // As a client would: wait and retry while the engine pushes back.
                        while true {
                            do {
                                try await store.write(batch)
                                break
                            } catch let e as EngineError where e.isRetryable {
                                try await Task.sleep(for: .milliseconds(100))
                            }
                        }
                        if w == 0, k % 100 == 99 {
                            FileHandle.standardError.write(Data("bench-store: ~\((k + 1) * batchSpans * concurrency) spans written\n".utf8))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let ingestSeconds = (clock.now - started).inSeconds
        try await store.cut()
        let allInBlocksSeconds = (clock.now - started).inSeconds
        let stats = store.blockStats
        print(
            String(
                format: "ingest: %d spans acknowledged in %.1f s, %.0f spans/s (engine alone, wal-sync=%@, %d writers)",
                stats.spans, ingestSeconds, Double(stats.spans) / ingestSeconds, walSync, concurrency))
        print(
            String(
                format: "ingest until every span is in a block: %.1f s, %.0f spans/s",
                allInBlocksSeconds, Double(stats.spans) / allInBlocksSeconds))
        print(
            String(
                format: "size as cut (zstd level 3): %d blocks, %.1f bytes/span on disk (%.1f MB)",
                stats.count, Double(stats.bytes) / Double(max(1, stats.spans)), Double(stats.bytes) / 1e6))
        if compact {
            let started = clock.now
            var rewritten = 0
            while try await store.compact(now: now + hour, limit: 1) > 0 {
                rewritten += 1
                FileHandle.standardError.write(Data("bench-store: compaction: \(rewritten) blocks written\n".utf8))
            }
            let took = (clock.now - started).inSeconds
            let after = store.blockStats
            print(
                String(
                    format: "compaction: %d blocks written in %.1f s (%.0f spans/s); after: %d blocks, %.1f bytes/span (%.1f MB)",
                    rewritten, took, Double(after.spans) / max(took, 0.001), after.count,
                    Double(after.bytes) / Double(max(1, after.spans)), Double(after.bytes) / 1e6))
        }

        var lookups = [Double]()
        for k in 0..<queries {
            let id = sample[(k * 7919) % sample.count]
            let t = clock.now
            guard try await store.trace(id: id, window: nil) != nil else { throw ValidationError("trace \(id) not found") }
            lookups.append((clock.now - t).inSeconds * 1000)
        }
        print("trace by id: " + Self.percentiles(lookups))

        var searches = [Double]()
        let services = ["auth", "users", "orders", "payments", "inventory"]
        for k in 0..<max(1, queries / 10) {
            let query = TraceQuery(
                service: services[k % services.count], tags: ["http.response.status_code": "500"],
                startMin: now - hour, startMax: now, limit: 20)
            let t = clock.now
            _ = try await store.findTraceIDs(query)
            searches.append((clock.now - t).inSeconds * 1000)
        }
        print("search (service + attribute, 1 h window, limit 20): " + Self.percentiles(searches))

        // Harder shapes: a rare value (no early stop: every block's index is read), a regular
        // expression with a numeric range, and longest-first.
        let shapes: [(String, (Int) -> TraceQuery)] = [
            (
                "rare attribute (one user of 50,000)",
                { k in
                    TraceQuery(
                        filter: .compare(.attribute(.span, "user.id"), .eq, .string("user-\(k * 97 % 50_000)")),
                        startMin: now - hour, startMax: now, limit: 20)
                }
            ),
            (
                "regex + numeric range",
                { k in
                    TraceQuery(
                        filter: .and([
                            .compare(.name, .regex, .string("SELECT (orders|payments)")),
                            .compare(.attribute(.span, "db.rows_returned"), .gt, .int(1000)),
                        ]),
                        startMin: now - hour, startMax: now, limit: 20)
                }
            ),
            (
                "service, longest first",
                { k in
                    TraceQuery(service: services[k % services.count], startMin: now - hour, startMax: now, order: .longest, limit: 20)
                }
            ),
        ]
        for (name, make) in shapes {
            var times = [Double]()
            for k in 0..<max(1, queries / 10) {
                let t = clock.now
                _ = try await store.findTraceIDs(make(k))
                times.append((clock.now - t).inSeconds * 1000)
            }
            print("search (\(name), limit 20): " + Self.percentiles(times))
        }
        print("peak RSS: \(Self.peakRSS())")
    }

    /// The benchmark's spans: per writer, loadgen batches (seeded, so `bench-rows` writes the
    /// same spans for ClickHouse) whose traces start evenly over the hour before `now`.
    static func generate(spans: Int, batchSpans: Int, writers: Int, now: UInt64, progress: (Int) -> Void) -> [[SpanBatch]] {
        let hour: UInt64 = 3_600_000_000_000
        let perWriter = spans / max(1, writers)
        var work = [[SpanBatch]]()
        for w in 0..<writers {
            var workload = Workload(seed: 1000 + UInt64(w))
            var batches = [SpanBatch]()
            var generated = 0
            while generated < perWriter {
                let start = now - hour + UInt64(generated) * hour / UInt64(max(1, perWriter))
                let batch = workload.batch(spans: batchSpans, start: start)
                generated += batch.count
                batches.append(batch)
            }
            work.append(batches)
            progress((w + 1) * perWriter)
        }
        return work
    }

    static func percentiles(_ ms: [Double]) -> String {
        let sorted = ms.sorted()
        func p(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return String(format: "p50 %.2f ms, p99 %.2f ms over %d", p(0.5), p(0.99), sorted.count)
    }

    static func peakRSS() -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmHWM") }.map { String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
            ?? "?"
    }
}

/// Writes bench-store's spans as ClickHouse RowBinary rows, for scripts/bench-clickhouse.sh.
struct BenchRows: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-rows", abstract: "Write the benchmark spans as ClickHouse RowBinary (see scripts/bench-clickhouse.sh).",
        shouldDisplay: false)

    @Option(help: "Spans to write.") var spans = 1_000_000
    @Option(help: "Spans per batch.") var batchSpans = 1000
    @Option(help: "Writers (as bench-store's --concurrency).") var concurrency = 4
    @Option(help: "Output file.") var out: String

    /// The columns, in the order of `CREATE TABLE` in scripts/bench-clickhouse.sh.
    static func appendRow(_ b: SpanBatch, _ i: Int, _ out: inout [UInt8]) {
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func varint(_ v: Int) {
            var v = UInt64(v)
            while v >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
        func string(_ s: String) {
            varint(s.utf8.count)
            out.append(contentsOf: s.utf8)
        }
        func strings(_ list: [String]) {
            varint(list.count)
            for s in list { string(s) }
        }
        let start = b.startTimes[i]
        let days = UInt16(start / 86_400_000_000_000)
        withUnsafeBytes(of: days.littleEndian) { out.append(contentsOf: $0) }
        u64(start)
        u64(b.traceIDs[i].high)
        u64(b.traceIDs[i].low)
        u64(b.spanIDs[i].value)
        u64(b.parentSpanIDs[i].value)
        string(b.serviceName(ofSpan: i))
        string(b.string(b.names[i]))
        out.append(UInt8(truncatingIfNeeded: b.kinds[i].rawValue))
        u64(b.duration(ofSpan: i))
        out.append(UInt8(truncatingIfNeeded: b.statusCodes[i].rawValue))
        string(b.string(b.statusMessages[i]))
        let attrs = b.keyValues(b.spanAttributes, b.attributeRanges[i])
        strings(attrs.map(\.key))
        strings(attrs.map(\.value.displayString))
        let resource = b.keyValues(b.attributes, b.resources[Int(b.scopes[Int(b.scopeIndices[i])].resource)].attributes)
        strings(resource.map(\.key))
        strings(resource.map(\.value.displayString))
        let events = b.events[b.eventRanges[i].indices]
        varint(events.count)
        for e in events { u64(e.time) }
        strings(events.map { b.string($0.name) })
        varint(events.count)
        for e in events { strings(b.keyValues(b.attributes, e.attributes).map(\.key)) }
        varint(events.count)
        for e in events { strings(b.keyValues(b.attributes, e.attributes).map(\.value.displayString)) }
        let links = b.links[b.linkRanges[i].indices]
        strings(links.map { $0.traceID.hex })
        strings(links.map { String($0.spanID.value, radix: 16) })
    }

    func run() async throws {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let work = BenchStore.generate(spans: spans, batchSpans: batchSpans, writers: concurrency, now: now) { done in
            FileHandle.standardError.write(Data("bench-rows: generated \(done) spans\n".utf8))
        }
        guard
            let file = FileHandle(forWritingAtPath: out)
                ?? {
                    FileManager.default.createFile(atPath: out, contents: nil)
                    return FileHandle(forWritingAtPath: out)
                }()
        else { throw ValidationError("cannot write \(out)") }
        var rows = 0
        var buffer = [UInt8]()
        for batches in work {
            for b in batches {
                for i in 0..<b.count { Self.appendRow(b, i, &buffer) }
                rows += b.count
                if buffer.count > 16 << 20 {
                    file.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        file.write(Data(buffer))
        try file.close()
        print("bench-rows: \(rows) rows written to \(out)")
    }
}

/// Deletes traces through a running server's admin API.
struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete traces from a running server (the embedded engine): by id, or every trace with a matching span.")

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
