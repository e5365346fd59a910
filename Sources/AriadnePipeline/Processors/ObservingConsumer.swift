public import AriadneModel
import Foundation

/// Something that sees every span entering the pipeline, before any processor samples or drops
/// it: RED metrics and the service graph count this way, so that they stay exact under tail
/// sampling. Observers must be cheap and must not keep the batch.
public protocol SpanObserver: Sendable {
    func observe(_ batch: SpanBatch, now: UInt64)
}

/// The pipeline's first stage: shows each batch to the observers once the next stage took it,
/// so that a batch refused for backpressure and sent again is not counted twice.
struct ObservingConsumer: SpanConsumer {
    let observers: [any SpanObserver]
    let next: any SpanConsumer

    func consume(_ batch: SpanBatch) async throws {
        try await next.consume(batch)
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        for o in observers { o.observe(batch, now: now) }
    }
}
