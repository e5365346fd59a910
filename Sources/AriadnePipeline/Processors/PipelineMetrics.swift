import Synchronization

/// Counters and gauges of pipeline stages, rendered with the server's /metrics. A stage names
/// its metric family and labels; the family's help text is registered once.
public final class PipelineMetrics: Sendable {
    struct Key: Hashable {
        var name: String
        var labels: String
    }

    private let counters = Mutex([Key: Int]())
    private let gauges = Mutex([Key: @Sendable () -> Int]())
    private let help = Mutex([String: (text: String, type: String)]())

    public init() {}

    public func describe(_ name: String, _ text: String, type: String = "counter") {
        help.withLock { $0[name] = (text, type) }
    }

    /// Adds to a counter; labels as `key="value"` pairs in a fixed order.
    public func add(_ name: String, _ n: Int, _ labels: KeyValuePairs<String, String> = [:]) {
        let text = labels.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
        counters.withLock { $0[Key(name: name, labels: text), default: 0] += n }
    }

    public func value(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Int {
        let text = labels.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
        return counters.withLock { $0[Key(name: name, labels: text)] ?? 0 }
    }

    /// A gauge read when /metrics is rendered.
    public func gauge(
        _ name: String, _ text: String, _ labels: KeyValuePairs<String, String> = [:], _ read: @escaping @Sendable () -> Int
    ) {
        describe(name, text, type: "gauge")
        let text = labels.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
        gauges.withLock { $0[Key(name: name, labels: text)] = read }
    }

    /// Records one observation in a histogram family (`_bucket{le}`, `_sum`, `_count`; seconds).
    public func observe(_ name: String, seconds: Double, buckets: [Double]) {
        counters.withLock { c in
            for b in buckets where seconds <= b { c[Key(name: name + "_bucket", labels: "le=\"\(b)\""), default: 0] += 1 }
            c[Key(name: name + "_bucket", labels: "le=\"+Inf\""), default: 0] += 1
            c[Key(name: name + "_count", labels: ""), default: 0] += 1
            // The sum in microseconds, rendered in seconds.
            c[Key(name: name + "_sum_us", labels: ""), default: 0] += Int(seconds * 1e6)
        }
    }

    /// Prometheus text format 0.0.4: every described family, sorted, counters then gauges.
    public func render() -> String {
        let snapshot = counters.withLock { $0 }
        let described = help.withLock { $0 }
        let readers = gauges.withLock { $0 }
        var out = ""
        for (name, h) in described.sorted(by: { $0.key < $1.key }) {
            out += "# HELP \(name) \(h.text)\n# TYPE \(name) \(h.type)\n"
            if h.type == "histogram" {
                let buckets = snapshot.filter { $0.key.name == name + "_bucket" }.sorted {
                    (Double($0.key.labels.dropFirst(4).dropLast()) ?? .infinity) < (Double($1.key.labels.dropFirst(4).dropLast()) ?? .infinity)
                }
                for (key, v) in buckets { out += "\(name)_bucket{\(key.labels)} \(v)\n" }
                let sum = Double(snapshot[Key(name: name + "_sum_us", labels: "")] ?? 0) / 1e6
                out += "\(name)_sum \(sum)\n\(name)_count \(snapshot[Key(name: name + "_count", labels: "")] ?? 0)\n"
                continue
            }
            let values =
                h.type == "gauge"
                ? readers.filter { $0.key.name == name }.map { ($0.key, $0.value()) }
                : snapshot.filter { $0.key.name == name }.map { ($0.key, $0.value) }
            for (key, v) in values.sorted(by: { $0.0.labels < $1.0.labels }) {
                out += key.labels.isEmpty ? "\(name) \(v)\n" : "\(name){\(key.labels)} \(v)\n"
            }
        }
        return out
    }
}
