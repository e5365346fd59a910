/// Span durations counted in fixed buckets, as span metrics are exposed: mergeable across
/// windows and keys, and small (one counter per bucket), so that rollups can be kept for days.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in milliseconds, after the spanmetrics connector's defaults with finer steps
    /// where web latencies live; a last, unbounded bucket follows.
    public static let boundsMs: [Double] = [
        1, 2, 4, 6, 8, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000,
        10_000, 15_000, 30_000, 60_000,
    ]

    /// One count per bound, then the overflow bucket.
    public var buckets: [UInt32]
    public var count: UInt64
    public var sumMs: Double
    /// The largest duration seen, so that quantiles in the overflow bucket stay finite.
    public var maxMs: Double

    public init() {
        buckets = Array(repeating: 0, count: Self.boundsMs.count + 1)
        count = 0
        sumMs = 0
        maxMs = 0
    }

    /// A histogram read back from a rollup file; missing buckets count zero, extra ones are dropped.
    public init(buckets: [UInt32], sumMs: Double, maxMs: Double) {
        self.init()
        for (i, c) in buckets.prefix(self.buckets.count).enumerated() { self.buckets[i] = c }
        count = self.buckets.reduce(0) { $0 + UInt64($1) }
        self.sumMs = sumMs
        self.maxMs = maxMs
    }

    /// The bucket a duration falls in: the first whose bound is at least it.
    @inlinable
    public static func bucket(ofMs ms: Double) -> Int {
        var lo = 0
        var hi = boundsMs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if boundsMs[mid] >= ms { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    public mutating func record(nanoseconds ns: UInt64) {
        let ms = Double(ns) / 1e6
        buckets[Self.bucket(ofMs: ms)] &+= 1
        count += 1
        sumMs += ms
        maxMs = max(maxMs, ms)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        count += other.count
        sumMs += other.sumMs
        maxMs = max(maxMs, other.maxMs)
    }

    /// The q-quantile in ms, interpolated linearly inside its bucket (as Prometheus'
    /// histogram_quantile does), with the overflow bucket ending at the largest duration seen.
    public func quantile(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = max(0, min(1, q)) * Double(count)
        var seen = 0.0
        for (i, c) in buckets.enumerated() where c > 0 {
            let next = seen + Double(c)
            if next >= rank {
                let lower = i == 0 ? 0 : Self.boundsMs[i - 1]
                let upper = i < Self.boundsMs.count ? min(Self.boundsMs[i], max(maxMs, lower)) : max(maxMs, lower)
                let within = (rank - seen) / Double(c)
                return lower + (upper - lower) * within
            }
            seen = next
        }
        return maxMs
    }

    /// How many durations were at most `ms`, interpolated inside the bucket that holds `ms`.
    public func count(atMostMs ms: Double) -> Double {
        var total = 0.0
        for (i, c) in buckets.enumerated() where c > 0 {
            let lower = i == 0 ? 0 : Self.boundsMs[i - 1]
            let upper = i < Self.boundsMs.count ? Self.boundsMs[i] : max(maxMs, lower)
            if upper <= ms {
                total += Double(c)
            } else if lower < ms {
                total += Double(c) * (ms - lower) / (upper - lower)
            }
        }
        return total
    }
}
