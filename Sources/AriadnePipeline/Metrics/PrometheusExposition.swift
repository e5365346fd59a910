import Foundation
import Synchronization

/// The Prometheus text exposition format 0.0.4, written one family at a time: `# HELP`, `# TYPE`,
/// then samples whose label values are escaped here (backslash, double quote, newline), so no
/// label that came from a configuration file or a span can break the page.
public struct PrometheusExposition: Sendable {
    public enum MetricType: String, Sendable {
        case counter, gauge, histogram
    }

    public private(set) var text = ""

    public init() {}

    public mutating func family(_ name: String, _ type: MetricType, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name
        text += Self.labels(labels)
        text += " \(Self.number(value))\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        text += name
        text += Self.labels(labels)
        text += " \(value)\n"
    }

    /// A histogram's `_bucket` (cumulative, with `+Inf`), `_sum` and `_count` samples; `counts`
    /// per bucket (not cumulative), one more than `bounds` for the overflow.
    public mutating func histogram(_ name: String, _ labels: [(String, String)], bounds: [Double], counts: [Int], sum: Double) {
        var cumulative = 0
        for (i, bound) in bounds.enumerated() {
            cumulative += counts[i]
            sample(name + "_bucket", labels + [("le", Self.number(bound))], cumulative)
        }
        let total = counts.reduce(0, +)
        sample(name + "_bucket", labels + [("le", "+Inf")], total)
        sample(name + "_sum", labels, sum)
        sample(name + "_count", labels, total)
    }

    /// `{k="v",…}`, or nothing without labels.
    public static func labels(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// A label value as the text format requires it.
    public static func escape(_ s: String) -> String {
        guard s.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return s }
        return s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Integers without a fraction, others as Swift prints them; infinities as Prometheus spells them.
    public static func number(_ x: Double) -> String {
        if x.isInfinite { return x > 0 ? "+Inf" : "-Inf" }
        if x.isNaN { return "NaN" }
        return x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
    }
}

/// Something that contributes families to `/metrics`.
public protocol MetricsSource: Sendable {
    func collect(into out: inout PrometheusExposition)
}

/// Every source of `/metrics` in one place, rendered in the order registered: the receivers,
/// the pipeline's stages, the store, the analytics.
public final class MetricsRegistry: Sendable {
    private let sources = Mutex([any MetricsSource]())

    public init() {}

    public func register(_ source: any MetricsSource) {
        sources.withLock { $0.append(source) }
    }

    public func render() -> String {
        var out = PrometheusExposition()
        for s in sources.withLock({ $0 }) { s.collect(into: &out) }
        return out.text
    }
}

/// Gauges read when `/metrics` is rendered.
public struct GaugeSource: MetricsSource {
    public let read: @Sendable () -> [(name: String, help: String, value: Int)]

    public init(_ read: @escaping @Sendable () -> [(name: String, help: String, value: Int)]) { self.read = read }

    public func collect(into out: inout PrometheusExposition) {
        for g in read() {
            out.family(g.name, .gauge, help: g.help)
            out.sample(g.name, [], g.value)
        }
    }
}
