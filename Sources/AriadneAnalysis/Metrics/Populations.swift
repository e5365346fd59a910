public import AriadneModel
import Foundation

/// Two populations of traces compared per operation: a baseline (A) and a candidate (B), such as
/// two time windows or two values of `service.version`.
public struct PopulationComparison: Sendable {
    /// One side's figures for one operation. Durations in ns.
    public struct Side: Sendable, Equatable {
        public var spans: Int
        public var errors: Int
        public var p50: UInt64
        public var p95: UInt64
        public var p99: UInt64
        public var mean: Double

        public var errorRate: Double { spans == 0 ? 0 : Double(errors) / Double(spans) }

        public init(_ durations: [UInt64], errors: Int) {
            let s = durations.sorted()
            spans = s.count
            self.errors = errors
            p50 = s.nearestRank(0.50)
            p95 = s.nearestRank(0.95)
            p99 = s.nearestRank(0.99)
            mean = s.isEmpty ? 0 : Double(s.reduce(0, +)) / Double(s.count)
        }

        public func quantile(_ name: String) -> UInt64? {
            switch name {
            case "p50": return p50
            case "p95": return p95
            case "p99": return p99
            default: return nil
            }
        }
    }

    public struct Operation: Sendable, Equatable {
        public var service: String
        public var operation: String
        public var a: Side
        public var b: Side
        /// Two-sided p-value of the Mann–Whitney U test that B's durations come from the same
        /// distribution as A's (nil when a side has no spans).
        public var latencyPValue: Double?
        /// Two-sided p-value of the two-proportion z-test on error rates.
        public var errorPValue: Double?

        /// B's quantile over A's, minus one (0.1: ten percent slower).
        public func change(_ quantile: String) -> Double? {
            guard let qa = a.quantile(quantile), let qb = b.quantile(quantile), a.spans > 0, b.spans > 0, qa > 0 else { return nil }
            return Double(qb) / Double(qa) - 1
        }
    }

    public var traces: (a: Int, b: Int)
    /// Mean spans per trace on each side.
    public var spansPerTrace: (a: Double, b: Double)
    /// Operations seen on either side, by service then operation.
    public var operations: [Operation]

    public init(a: [SpanBatch], b: [SpanBatch]) {
        struct Acc {
            var durations: [UInt64] = []
            var errors = 0
        }
        func collect(_ traces: [SpanBatch]) -> [String: Acc] {
            var out = [String: Acc]()
            for t in traces {
                let services = t.serviceNamesByScope()
                for i in 0..<t.count {
                    let key = services[Int(t.scopeIndices[i])] + "\u{0}" + t.string(t.names[i])
                    out[key, default: Acc()].durations.append(t.duration(ofSpan: i))
                    if t.statusCodes[i] == .error { out[key]!.errors += 1 }
                }
            }
            return out
        }
        let ca = collect(a)
        let cb = collect(b)
        traces = (a.count, b.count)
        spansPerTrace = (
            a.isEmpty ? 0 : Double(a.reduce(0) { $0 + $1.count }) / Double(a.count),
            b.isEmpty ? 0 : Double(b.reduce(0) { $0 + $1.count }) / Double(b.count)
        )
        operations = Set(ca.keys).union(cb.keys).sorted().map { key in
            let parts = key.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
            let x = ca[key] ?? Acc()
            let y = cb[key] ?? Acc()
            return Operation(
                service: String(parts[0]), operation: parts.count > 1 ? String(parts[1]) : "",
                a: Side(x.durations, errors: x.errors), b: Side(y.durations, errors: y.errors),
                latencyPValue: Statistics.mannWhitney(x.durations.map(Double.init), y.durations.map(Double.init)).map(\.p),
                errorPValue: Statistics.twoProportions(x.errors, x.durations.count, y.errors, y.durations.count))
        }
    }
}

public enum Statistics {
    /// The Mann–Whitney U test with the normal approximation, corrected for ties: U of the first
    /// sample, z, and the two-sided p-value. Nil when a sample is empty.
    public static func mannWhitney(_ x: [Double], _ y: [Double]) -> (u: Double, z: Double, p: Double)? {
        let n1 = Double(x.count)
        let n2 = Double(y.count)
        guard n1 > 0, n2 > 0 else { return nil }
        var all = x.map { ($0, 0) } + y.map { ($0, 1) }
        all.sort { $0.0 < $1.0 }
        var rankSumX = 0.0
        var tieTerm = 0.0
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let rank = Double(i + j) / 2 + 1  // average rank of the tied run, 1-based
            for k in i...j where all[k].1 == 0 { rankSumX += rank }
            let t = Double(j - i + 1)
            tieTerm += t * t * t - t
            i = j + 1
        }
        let u = rankSumX - n1 * (n1 + 1) / 2
        let n = n1 + n2
        let mean = n1 * n2 / 2
        let variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return (u, 0, 1) }
        let z = (u - mean) / variance.squareRoot()
        return (u, z, 2 * normalTail(abs(z)))
    }

    /// Two-sided p-value of the pooled two-proportion z-test; nil when a side is empty, 1 when no
    /// side has any (or every) event.
    public static func twoProportions(_ e1: Int, _ n1: Int, _ e2: Int, _ n2: Int) -> Double? {
        guard n1 > 0, n2 > 0 else { return nil }
        let p = Double(e1 + e2) / Double(n1 + n2)
        let se = (p * (1 - p) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
        guard se > 0 else { return 1 }
        let z = (Double(e2) / Double(n2) - Double(e1) / Double(n1)) / se
        return 2 * normalTail(abs(z))
    }

    /// P(Z > z) for a standard normal Z.
    public static func normalTail(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }
}
