public import AriadneModel
import Synchronization

/// Gathers batches into larger ones — at `sendBatchSize` spans, or `timeout` after the first
/// span waiting — before passing them on, so that the store or an exporter handles fewer,
/// larger batches. Unlike the Collector's batch processor, each caller waits until the batch
/// holding its spans has been taken: an acknowledgement still means what the next stage
/// promises (for the engine: on disk).
public final class BatchProcessor: SpanConsumer {
    public struct Settings: Sendable, Equatable {
        public var sendBatchSize = 8192
        public var timeout: Duration = .milliseconds(200)

        public init(sendBatchSize: Int = 8192, timeout: Duration = .milliseconds(200)) {
            self.sendBatchSize = sendBatchSize
            self.timeout = timeout
        }
    }

    struct State {
        var pending = SpanBatch()
        var waiters: [CheckedContinuation<Void, any Error>] = []
        /// Which gathering a timer belongs to: a timer for an already-sent batch does nothing.
        var generation = 0
        var timerArmed = false
    }

    public let settings: Settings
    public let next: any SpanConsumer
    let state = Mutex(State())
    let metrics: PipelineMetrics

    public init(_ settings: Settings, next: any SpanConsumer, metrics: PipelineMetrics = PipelineMetrics()) {
        self.settings = settings
        self.next = next
        self.metrics = metrics
        metrics.describe("ariadne_batch_batches_sent_total", "Batches the batch processor passed on, by trigger (size or timeout).")
        metrics.describe("ariadne_batch_spans_sent_total", "Spans the batch processor passed on.")
    }

    public func consume(_ batch: SpanBatch) async throws {
        guard !batch.isEmpty else { return }
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            let (full, armTimer): ((SpanBatch, [CheckedContinuation<Void, any Error>])?, Int?) = state.withLock { s in
                s.pending.append(contentsOf: batch)
                s.waiters.append(waiter)
                if s.pending.count >= settings.sendBatchSize { return (take(&s), nil) }
                if !s.timerArmed {
                    s.timerArmed = true
                    return (nil, s.generation)
                }
                return (nil, nil)
            }
            if let (b, waiters) = full { send(b, waiters, trigger: "size") }
            if let generation = armTimer {
                Task {
                    try? await Task.sleep(for: settings.timeout)
                    let due = state.withLock { s in s.generation == generation && !s.pending.isEmpty ? take(&s) : nil }
                    if let (b, waiters) = due { send(b, waiters, trigger: "timeout") }
                }
            }
        }
    }

    func take(_ s: inout State) -> (SpanBatch, [CheckedContinuation<Void, any Error>]) {
        let out = (s.pending, s.waiters)
        s.pending = SpanBatch()
        s.waiters = []
        s.generation += 1
        s.timerArmed = false
        return out
    }

    func send(_ batch: SpanBatch, _ waiters: [CheckedContinuation<Void, any Error>], trigger: String) {
        metrics.add("ariadne_batch_batches_sent_total", 1, ["trigger": trigger])
        metrics.add("ariadne_batch_spans_sent_total", batch.count)
        Task {
            do {
                try await next.consume(batch)
                for w in waiters { w.resume() }
            } catch {
                for w in waiters { w.resume(throwing: error) }
            }
        }
    }
}
