import AriadneAnalysis
import AriadneModel
import Foundation

/// The pipeline's first stage: counts RED metrics and service-graph calls of every span before any
/// processor samples or drops it. Counted once taken downstream, so that a batch refused for
/// backpressure and sent again is not counted twice.
struct SpanMetricsRecorder: SpanConsumer {
    let metrics: SpanMetrics
    let serviceGraph: ServiceGraphMetrics?
    let next: any SpanConsumer

    func consume(_ batch: SpanBatch) async throws {
        try await next.consume(batch)
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        metrics.record(batch, now: now)
        serviceGraph?.record(batch, now: now)
    }
}
