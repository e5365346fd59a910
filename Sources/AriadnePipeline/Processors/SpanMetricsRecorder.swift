import AriadneAnalysis
import AriadneModel

/// The pipeline's first stage: counts RED metrics of every span before any processor samples or
/// drops it. Counted once taken downstream, so that a batch refused for backpressure and sent
/// again is not counted twice.
struct SpanMetricsRecorder: SpanConsumer {
    let metrics: SpanMetrics
    let next: any SpanConsumer

    func consume(_ batch: SpanBatch) async throws {
        try await next.consume(batch)
        metrics.record(batch)
    }
}
