public import ArgumentParser
import AriadneAnalysis
import AriadneEngine
import AriadneModel
import AriadnePipeline
import AriadneStorage
import AriadneWire
public import AriadneWorkload
import Foundation

#if canImport(Glibc)
    import CMalloc
    import Glibc
#endif

/// `ariadne-bench`: the measurements behind the README's figures, kept out of the `ariadne`
/// executable (which is argument parsing and the server). Each prints its figures and a progress
/// line a second on stderr; build with `swift build -c release --product ariadne-bench`.
@main
struct AriadneBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ariadne-bench",
        abstract: "Measure Ariadne's decode, redaction, RED counting and engine on the realistic workload.",
        subcommands: [BenchDecode.self, BenchRedact.self, BenchRED.self, BenchStore.self, BenchChunk.self, BenchRows.self])

    static func main() async {
        #if canImport(Glibc)
            ariadne_tune_malloc()  // as the server
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
}

/// Measures OTLP protobuf decode throughput on one core over the loadgen workload.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "Measure OTLP protobuf decode throughput (one core).")

    @OptionGroup var workload: ProfileOption
    @Option(help: "Spans per request.") var batchSpans = 1000
    @Option(help: "Seconds to measure.") var seconds = 5.0
    @Option(help: "Decode exactly this many requests instead (repeatable instruction counts under callgrind).")
    var requests: Int?

    func run() throws {
        var workload = Workload(seed: 7, profile: self.workload.profile)
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

/// The workload a benchmark measures: realistic by default, as every benchmark should be.
struct ProfileOption: ParsableArguments {
    @Option(help: "realistic (values that vary as real ones do; the default) or loadgen (the repetitive shop traces).")
    var profile: Workload.Profile = .realistic
}

extension Workload.Profile: ExpressibleByArgument {}

/// Twenty batches of the workload (seed 7), cycled through by the in-process benches.
func benchBatches(spans: Int, start: UInt64, profile: Workload.Profile = .loadgen) -> [SpanBatch] {
    var workload = Workload(seed: 7, profile: profile)
    return (0..<20).map { _ in workload.batch(spans: spans, start: start) }
}

/// Measures PII redaction on the loadgen workload (one core): every string of every span is scanned.
struct BenchRedact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact", abstract: "Measure PII redaction throughput with the default policy (one core).")

    @OptionGroup var workload: ProfileOption
    @Option(help: "Spans per batch.") var batchSpans = 1000
    @Option(help: "Seconds to measure.") var seconds = 5.0

    func run() throws {
        let batches = benchBatches(spans: batchSpans, start: 1_700_000_000_000_000_000, profile: workload.profile)
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
        commandName: "red", abstract: "Measure RED metrics and service-graph counting throughput (one core).")

    @OptionGroup var workload: ProfileOption
    @Option(help: "Spans per batch.") var batchSpans = 1000
    @Option(help: "Seconds to measure.") var seconds = 5.0

    func run() throws {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let batches = benchBatches(spans: batchSpans, start: now - 60_000_000_000, profile: workload.profile)
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

/// Times the steps of one engine chunk (version 4 columns): encode, open, look up, read all.
struct BenchChunk: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk", abstract: "Measure one engine chunk: encode, open, look up a trace, read every trace (one core).")

    @OptionGroup var workload: ProfileOption
    @Option(help: "Spans in the chunk.") var spans = 4096
    @Option(help: "Rounds of each step.") var rounds = 50

    func run() throws {
        let batch = benchBatches(spans: spans, start: 1_700_000_000_000_000_000, profile: workload.profile)[0]
        for (step, seconds) in try ChunkTiming.measure(batch, rounds: rounds) {
            print(
                String(
                    format: "chunk of %d spans: %@: %.3f ms (%.0f ns per span)", batch.count, step, seconds * 1000,
                    seconds * 1e9 / Double(batch.count)))
        }
    }
}

/// Measures the embedded engine in-process on the loadgen workload: ingest, bytes per span,
/// trace-by-id and search latencies.
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Measure the embedded engine: ingest, size, lookups and searches.")

    @OptionGroup var workload: ProfileOption
    @Option(help: "Spans to write.") var spans = 1_000_000
    @Option(help: "Spans per write.") var batchSpans = 1000
    @Option(help: "Concurrent writers.") var concurrency = 4
    @Option(help: "Data directory (a temporary one by default; removed afterwards).") var dir: String?
    @Option(help: "WAL sync: always or never.") var walSync = "always"
    @Option(help: "Lookups and searches to time.") var queries = 200
    @Option(help: "Searches of each shape to time (default: a tenth of --queries).") var searches: Int?
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
        let work = Self.generate(spans: spans, batchSpans: batchSpans, writers: concurrency, now: now, profile: workload.profile) { done in
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

        // Where the bytes go, per span: sections, and the largest columns of the chunks.
        let spanCount = Double(max(1, store.blockStats.spans))
        let breakdown = try store.storageBreakdown()
        print(
            "bytes per span by section: "
                + breakdown.filter { !$0.part.contains(":") }.map { String(format: "%@ %.1f", $0.part, Double($0.bytes) / spanCount) }
                .joined(separator: ", "))
        print(
            "largest term index fields, bytes per span: "
                + breakdown.filter { $0.part.hasPrefix("searchField:") }.prefix(10).map {
                    String(format: "%@ %.2f", String($0.part.dropFirst(12)), Double($0.bytes) / spanCount)
                }.joined(separator: ", "))
        print(
            "largest chunk columns, bytes per span: "
                + breakdown.filter { $0.part.hasPrefix("chunk:") }.prefix(16).map {
                    String(format: "%@ %.2f", String($0.part.dropFirst(6)), Double($0.bytes) / spanCount)
                }.joined(separator: ", "))
        // Chunk bytes by what they describe: a resource or a scope is stored once per chunk.
        var byOwner = [String: Int]()
        for (part, bytes) in breakdown where part.hasPrefix("chunk:") {
            let column = part.dropFirst(6)
            let owner =
                ["resource", "scope", "event", "link", "span"].first { column.hasPrefix($0 + ".") || column.hasPrefix($0 + " ") }
                ?? (column == "resources"
                    ? "resource"
                    : column == "scopeTable" ? "scope" : column.hasPrefix("event") ? "event" : column.hasPrefix("link") ? "link" : "span fields")
            byOwner[owner == "span" ? "span attributes" : owner, default: 0] += bytes
        }
        print(
            "chunk bytes per span by owner: "
                + byOwner.sorted { $0.value > $1.value }.map { String(format: "%@ %.2f", $0.key, Double($0.value) / spanCount) }
                .joined(separator: ", "))

        var lookups = [Double]()
        for k in 0..<queries {
            let id = sample[(k * 7919) % sample.count]
            let t = clock.now
            guard try await store.trace(id: id, window: nil) != nil else { throw ValidationError("trace \(id) not found") }
            lookups.append((clock.now - t).inSeconds * 1000)
        }
        print("trace by id: " + Self.percentiles(lookups))

        var searchTimes = [Double]()
        let services = ["auth", "users", "orders", "payments", "inventory"]
        for k in 0..<(searches ?? max(1, queries / 10)) {
            let query = TraceQuery(
                service: services[k % services.count], tags: ["http.response.status_code": "500"],
                startMin: now - hour, startMax: now, limit: 20)
            let t = clock.now
            _ = try await store.findTraceIDs(query)
            searchTimes.append((clock.now - t).inSeconds * 1000)
        }
        if !searchTimes.isEmpty { print("search (service + attribute, 1 h window, limit 20): " + Self.percentiles(searchTimes)) }

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
            for k in 0..<(searches ?? max(1, queries / 10)) {
                let t = clock.now
                _ = try await store.findTraceIDs(make(k))
                times.append((clock.now - t).inSeconds * 1000)
            }
            if !times.isEmpty { print("search (\(name), limit 20): " + Self.percentiles(times)) }
        }
        print("peak RSS: \(Self.peakRSS())")
    }

    /// The benchmark's spans: per writer, workload batches (seeded, so `rows` writes the
    /// same spans for ClickHouse) whose traces start evenly over the hour before `now`.
    static func generate(
        spans: Int, batchSpans: Int, writers: Int, now: UInt64, profile: Workload.Profile, progress: (Int) -> Void
    ) -> [[SpanBatch]] {
        let hour: UInt64 = 3_600_000_000_000
        let perWriter = spans / max(1, writers)
        var work = [[SpanBatch]]()
        for w in 0..<writers {
            var workload = Workload(seed: 1000 + UInt64(w), profile: profile)
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
        commandName: "rows", abstract: "Write the benchmark spans as ClickHouse RowBinary (see scripts/bench-clickhouse.sh).",
        shouldDisplay: false)

    @OptionGroup var workload: ProfileOption
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
        let work = BenchStore.generate(
            spans: spans, batchSpans: batchSpans, writers: concurrency, now: now, profile: workload.profile
        ) { done in
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
