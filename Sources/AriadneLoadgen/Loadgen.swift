public import AriadneExport
import AriadneModel
import AriadneWire
public import AriadneWorkload
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Settings of one loadgen run.
public struct LoadgenOptions: Sendable {
    /// Target spans per second; nil sends as fast as the server acknowledges.
    public var rate: Double?
    public var duration: Double?
    public var totalSpans: Int?
    public var batchSpans = 500
    public var concurrency = 4
    public var seed: UInt64 = 42
    /// The traces sent: the repetitive loadgen shop (default) or realistic, high-cardinality ones.
    public var profile: Workload.Profile = .loadgen
    /// A Jaeger remote-sampling URL (`http://host:5778/sampling`): when set, the loadgen samples
    /// traces at their head as an SDK would, with the per-operation probabilities it reads there
    /// each second, and `rate` paces the traffic generated rather than sent.
    public var remoteSampling: String?

    public init() {}
}

/// Totals of a run.
public struct LoadgenSummary: Sendable, CustomStringConvertible {
    public var sentSpans = 0
    public var acknowledgedSpans = 0
    public var refusedSpans = 0
    public var failedRequests = 0
    public var requests = 0
    public var seconds = 0.0
    /// Spans of traces that head sampling left out (with `remoteSampling`).
    public var sampledOutSpans = 0
    /// Spans generated, sent or not.
    public var generatedSpans = 0

    public var spansPerSecond: Double { seconds > 0 ? Double(acknowledgedSpans) / seconds : 0 }

    public var description: String {
        "sent=\(sentSpans) acknowledged=\(acknowledgedSpans) refused=\(refusedSpans) failed_requests=\(failedRequests) requests=\(requests) seconds=\(String(format: "%.2f", seconds)) spans/s=\(String(format: "%.0f", spansPerSecond))"
            + (sampledOutSpans > 0 ? " sampled_out=\(sampledOutSpans)" : "")
    }
}

/// Counters shared by the workers of one run.
final class RunState: Sendable {
    let totals = Mutex(LoadgenSummary())
    let claimed = Atomic<Int>(0)
}

/// Drives a workload against a sender: `concurrency` workers, each generating a batch of whole
/// traces, sending it and counting the answer, paced to `rate` when one is set.
public enum Loadgen {
    public static func run(
        options: LoadgenOptions, sender: any OTLPSender, progress: @escaping @Sendable (LoadgenSummary) -> Void
    ) async -> LoadgenSummary {
        let state = RunState()
        let started = ContinuousClock.now
        let deadline = options.duration.map { started + .milliseconds(Int64($0 * 1000)) }
        @Sendable func elapsed() -> Double { (ContinuousClock.now - started).inSeconds }
        let head = options.remoteSampling.map { HeadSampler(url: $0) }
        /// Sleeps until the generated count is on schedule for `rate`.
        @Sendable func pace() async {
            guard let rate = options.rate, rate > 0 else { return }
            let generated = state.totals.withLock { $0.generatedSpans }
            let ahead = Double(generated) / rate - elapsed()
            if ahead > 0 { try? await Task.sleep(for: .milliseconds(Int64(ahead * 1000))) }
        }
        await withTaskGroup(of: Void.self) { group in
            if let head { group.addTask { await head.refreshEverySecond() } }
            for worker in 0..<max(1, options.concurrency) {
                group.addTask {
                    var workload = Workload(seed: options.seed &+ UInt64(worker) &* 7919, profile: options.profile)
                    while !Task.isCancelled {
                        if let deadline, ContinuousClock.now >= deadline { return }
                        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
                        var batch = workload.batch(spans: options.batchSpans, start: now)
                        let generated = batch.count
                        state.totals.withLock { $0.generatedSpans += generated }
                        if let head {
                            batch = head.sample(batch)
                            let dropped = generated - batch.count
                            state.totals.withLock { $0.sampledOutSpans += dropped }
                            if batch.isEmpty {
                                await pace()
                                continue
                            }
                        }
                        if let total = options.totalSpans {
                            // Claim what this batch holds; the last batch is cut to whole traces
                            // so that the run sends at most `total` spans.
                            let before = state.claimed.add(batch.count, ordering: .relaxed).oldValue
                            if before >= total { return }
                            if before + batch.count > total { batch = trimToWholeTraces(batch, max: total - before) }
                        }
                        let request = OTLPProtobuf.encodeExportRequest(batch)
                        do {
                            let refused = try await sender.send(request, spanCount: batch.count)
                            state.totals.withLock {
                                $0.sentSpans += batch.count
                                $0.requests += 1
                                $0.acknowledgedSpans += batch.count - Int(refused)
                                $0.refusedSpans += Int(refused)
                            }
                        } catch {
                            state.totals.withLock {
                                $0.sentSpans += batch.count
                                $0.requests += 1
                                $0.failedRequests += 1
                                $0.refusedSpans += batch.count
                            }
                            try? await Task.sleep(for: .milliseconds(200))
                        }
                        await pace()
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    var snapshot = state.totals.withLock { $0 }
                    snapshot.seconds = elapsed()
                    progress(snapshot)
                }
            }
            // The progress task never ends by itself: stop it when the workers are done.
            var finishedWorkers = 0
            while finishedWorkers < max(1, options.concurrency) {
                await group.next()
                finishedWorkers += 1
            }
            group.cancelAll()
        }
        var summary = state.totals.withLock { $0 }
        summary.seconds = elapsed()
        return summary
    }

    /// Keeps the first traces of `batch` whose spans fit in `max`.
    /// Head sampling as an SDK's remote sampler does it: per root service and operation, the
    /// probability the sampling endpoint gives, decided on the trace id (TraceIdRatioBased).
    final class HeadSampler: Sendable {
        let url: String
        let probabilities = Mutex<[String: (defaultProbability: Double, perOperation: [String: Double])]>([:])
        let services = Mutex<Set<String>>([])

        init(url: String) { self.url = url }

        func sample(_ batch: SpanBatch) -> SpanBatch {
            var roots = [TraceID: Int]()
            for i in 0..<batch.count where !batch.parentSpanIDs[i].isValid { roots[batch.traceIDs[i]] = i }
            let known = probabilities.withLock { $0 }
            var keep = Set<TraceID>()
            var seen = Set<String>()
            for (id, i) in roots {
                let service = batch.serviceName(ofSpan: i)
                seen.insert(service)
                // Until the first answer, sample everything (the SDK default of the Jaeger client).
                guard let s = known[service] else { keep.insert(id); continue }
                let p = s.perOperation[batch.string(batch.names[i])] ?? s.defaultProbability
                if Double(id.low >> 11) / Double(UInt64(1) << 53) < p { keep.insert(id) }
            }
            services.withLock { $0.formUnion(seen) }
            return batch.selecting((0..<batch.count).filter { keep.contains(batch.traceIDs[$0]) })
        }

        func refreshEverySecond() async {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            while !Task.isCancelled {
                for service in services.withLock({ $0 }) {
                    guard let encoded = service.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) else { continue }
                    let request = HTTPClientRequest(url: "\(url)?service=\(encoded)")
                    guard let response = try? await client.execute(request, timeout: .seconds(5)), response.status == .ok,
                        let body = try? await response.body.collect(upTo: 1 << 20),
                        let doc = try? JSONValue.parse(Array(buffer: body))
                    else { continue }
                    let ops = doc["operationSampling"]
                    var perOperation = [String: Double]()
                    for o in ops?["perOperationStrategies"]?.arrayValue ?? [] {
                        if let name = o["operation"]?.stringValue, case .number(let r)? = o["probabilisticSampling"]?["samplingRate"],
                            let p = Double(r)
                        {
                            perOperation[name] = p
                        }
                    }
                    var fallback = 1.0
                    if case .number(let d)? = ops?["defaultSamplingProbability"] ?? doc["probabilisticSampling"]?["samplingRate"] {
                        fallback = Double(d) ?? 1
                    }
                    probabilities.withLock { $0[service] = (fallback, perOperation) }
                }
                try? await Task.sleep(for: .seconds(1))
            }
            try? await client.shutdown()
        }
    }

    static func trimToWholeTraces(_ batch: SpanBatch, max: Int) -> SpanBatch {
        guard max > 0 else { return SpanBatch() }
        var keep = [Int]()
        var current: TraceID? = nil
        var run = [Int]()
        for i in 0..<batch.count {
            if batch.traceIDs[i] != current {
                if keep.count + run.count <= max { keep += run } else { break }
                run = []
                current = batch.traceIDs[i]
            }
            run.append(i)
        }
        if keep.count + run.count <= max { keep += run }
        if keep.isEmpty { keep = Array(0..<min(max, batch.count)) }
        return batch.selecting(keep)
    }
}
