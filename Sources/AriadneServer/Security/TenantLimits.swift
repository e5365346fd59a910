import AriadnePipeline
import Foundation
import Synchronization

/// Per-tenant ingest rates (the `auth.tenant_limits` section): a token bucket of spans per
/// tenant, refilled continuously. A batch that does not fit is refused whole as retryable
/// (429 + `Retry-After` with the seconds until it would fit; gRPC UNAVAILABLE), before it reaches
/// the pipeline.
public final class TenantLimits: Sendable {
    struct Bucket {
        var tokens: Double
        var last: Double
    }

    let limits: [String: (spansPerSecond: Double, burst: Double)]
    private let buckets = Mutex([String: Bucket]())

    public init(_ limits: [String: (spansPerSecond: Double, burst: Double)]) { self.limits = limits }

    func admit(_ spans: Int, tenant: String, now: Double = Date().timeIntervalSince1970) throws(IngestError) {
        guard let (rate, burst) = limits[tenant] else { return }
        let wait = buckets.withLock { b -> Double? in
            var bucket = b[tenant] ?? Bucket(tokens: burst, last: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.last) * rate)
            bucket.last = now
            defer { b[tenant] = bucket }
            // A batch larger than the burst can never fit: let it through when the bucket is full.
            let need = min(Double(spans), burst)
            if bucket.tokens >= need {
                bucket.tokens -= Double(spans)
                return nil
            }
            return (need - bucket.tokens) / rate
        }
        if let wait {
            throw IngestError(
                .throttled, "tenant \(tenant) is over its ingest limit of \(Int(rate)) spans/s; retry later",
                retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
    }
}
