public import AriadneExport
import AriadneModel
import AriadneWorkload
import AriadneWire
import Foundation
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

    public var spansPerSecond: Double { seconds > 0 ? Double(acknowledgedSpans) / seconds : 0 }

    public var description: String {
        "sent=\(sentSpans) acknowledged=\(acknowledgedSpans) refused=\(refusedSpans) failed_requests=\(failedRequests) requests=\(requests) seconds=\(String(format: "%.2f", seconds)) spans/s=\(String(format: "%.0f", spansPerSecond))"
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
        @Sendable func elapsed() -> Double {
            let d = ContinuousClock.now - started
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<max(1, options.concurrency) {
                group.addTask {
                    var workload = Workload(seed: options.seed &+ UInt64(worker) &* 7919)
                    while !Task.isCancelled {
                        if let deadline, ContinuousClock.now >= deadline { return }
                        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
                        var batch = workload.batch(spans: options.batchSpans, start: now)
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
                        if let rate = options.rate, rate > 0 {
                            // Pace the whole run: sleep until the sent count is on schedule.
                            let sent = state.totals.withLock { $0.sentSpans }
                            let due = Double(sent) / rate
                            let ahead = due - elapsed()
                            if ahead > 0 { try? await Task.sleep(for: .milliseconds(Int64(ahead * 1000))) }
                        }
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
