import Synchronization

/// Counters, gauges and histograms of pipeline stages, rendered with the server's /metrics. A
/// stage names its metric family and labels; the family's help text is registered once.
public final class PipelineMetrics: MetricsSource {
    struct Key: Hashable {
        var name: String
        /// Label names and values, alternating, in the order the stage gave them.
        var labels: [String]

        init(_ name: String, _ labels: KeyValuePairs<String, String>) {
            self.name = name
            self.labels = labels.flatMap { [$0.key, $0.value] }
        }

        var pairs: [(String, String)] { stride(from: 0, to: labels.count, by: 2).map { (labels[$0], labels[$0 + 1]) } }
    }

    struct Histogram {
        var bounds: [Double]
        var counts: [Int]
        var sum: Double
    }

    private let counters = Mutex([Key: Int]())
    private let gauges = Mutex([Key: @Sendable () -> Int]())
    private let histograms = Mutex([String: Histogram]())
    private let help = Mutex([String: (text: String, type: PrometheusExposition.MetricType)]())

    public init() {}

    public func describe(_ name: String, _ text: String, type: PrometheusExposition.MetricType = .counter) {
        help.withLock { $0[name] = (text, type) }
    }

    /// Adds to a counter; labels in a fixed order.
    public func add(_ name: String, _ n: Int, _ labels: KeyValuePairs<String, String> = [:]) {
        counters.withLock { $0[Key(name, labels), default: 0] += n }
    }

    public func value(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Int {
        counters.withLock { $0[Key(name, labels)] ?? 0 }
    }

    /// A gauge read when /metrics is rendered.
    public func gauge(
        _ name: String, _ text: String, _ labels: KeyValuePairs<String, String> = [:], _ read: @escaping @Sendable () -> Int
    ) {
        describe(name, text, type: .gauge)
        gauges.withLock { $0[Key(name, labels)] = read }
    }

    /// Records one observation in a histogram family (`_bucket{le}`, `_sum`, `_count`; seconds).
    public func observe(_ name: String, seconds: Double, buckets: [Double]) {
        histograms.withLock { h in
            var entry = h[name] ?? Histogram(bounds: buckets, counts: Array(repeating: 0, count: buckets.count + 1), sum: 0)
            entry.counts[buckets.firstIndex { seconds <= $0 } ?? buckets.count] += 1
            entry.sum += seconds
            h[name] = entry
        }
    }

    /// Every described family, sorted by name.
    public func collect(into out: inout PrometheusExposition) {
        let snapshot = counters.withLock { $0 }
        let described = help.withLock { $0 }
        let readers = gauges.withLock { $0 }
        let hists = histograms.withLock { $0 }
        for (name, h) in described.sorted(by: { $0.key < $1.key }) {
            out.family(name, h.type, help: h.text)
            switch h.type {
            case .histogram:
                if let hist = hists[name] {
                    out.histogram(name, [], bounds: hist.bounds, counts: hist.counts, sum: hist.sum)
                } else {
                    out.sample(name + "_count", [], 0)
                }
            case .gauge:
                for (key, read) in readers.filter({ $0.key.name == name }).sorted(by: { $0.key.labels.lexicographicallyPrecedes($1.key.labels) }) {
                    out.sample(name, key.pairs, read())
                }
            case .counter:
                for (key, v) in snapshot.filter({ $0.key.name == name }).sorted(by: { $0.key.labels.lexicographicallyPrecedes($1.key.labels) }) {
                    out.sample(name, key.pairs, v)
                }
            }
        }
    }
}
