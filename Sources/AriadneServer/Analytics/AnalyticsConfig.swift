public import AriadneAnalysis
import AriadneModel
public import AriadnePipeline
public import Yams

/// The configuration file's `analytics` section, read here beside the analytics it configures.
public struct AnalyticsSection: ConfigSection {
    public static let key = "analytics"
    public var settings: AnalyticsSettings

    public init() { settings = AnalyticsSettings() }

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let settings = reader.analytics(node) else { return nil }
        self.settings = settings
    }
}

/// The `analytics` section:
///
/// ```yaml
/// analytics:
///   interval: 1m
///   webhooks: [http://127.0.0.1:9000/hook]
///   alerts:
///     - {name: checkout-slow, type: latency, service: checkout, quantile: 0.95, threshold_ms: 300, window: 5m, for: 1m}
///   slos:
///     - {name: checkout-fast, service: checkout, objective: 99, latency_threshold_ms: 300, window: 720h}
/// ```
extension ConfigReader {
    mutating func analytics(_ node: Node) -> AnalyticsSettings? {
        guard let m = mapping(node, "analytics") else { return nil }
        var a = AnalyticsSettings()
        var alertNodes = [Node]()
        for (k, v) in m {
            switch k.string ?? "" {
            case "interval": if let d = duration(v, "interval"), positive(d, v, "interval") { a.interval = d }
            case "retention": if let d = duration(v, "retention") { a.retention = d }
            case "evaluation_interval":
                if let d = duration(v, "evaluation_interval"), positive(d, v, "evaluation_interval") { a.evaluationInterval = d }
            case "duration_unit":
                guard let u = v.string.flatMap(AnalyticsSettings.DurationUnit.init(rawValue:)) else {
                    fail(v, "duration_unit must be s or ms"); continue
                }
                a.durationUnit = u
            case "external_url":
                guard let u = v.string, u.hasPrefix("http://") || u.hasPrefix("https://") else {
                    fail(v, "external_url must start with http:// or https://"); continue
                }
                a.externalURL = u.hasSuffix("/") ? String(u.dropLast()) : u
            case "webhooks":
                for (url, n) in zip(strings(v, "webhooks") ?? [], v.sequence.map(Array.init) ?? []) {
                    if url.hasPrefix("http://") || url.hasPrefix("https://") {
                        a.webhooks.append(url)
                    } else {
                        fail(n, "a webhook must be an http:// or https:// URL")
                    }
                }
            case "alerts":
                guard let list = v.sequence else { fail(v, "alerts must be a list"); continue }
                alertNodes = Array(list)
            case "slos":
                guard let list = v.sequence else { fail(v, "slos must be a list"); continue }
                for item in list { if let s = objective(item) { a.objectives.append(s) } }
            case "anomaly":
                guard let am = mapping(v, "anomaly") else { continue }
                for (ak, av) in am {
                    switch ak.string ?? "" {
                    case "baseline_windows": if let n = positiveInt(av, "baseline_windows") { a.anomaly.baselineWindows = n }
                    case "min_baseline_windows": if let n = positiveInt(av, "min_baseline_windows") { a.anomaly.minBaselineWindows = n }
                    case "threshold": if let x = number(av, "threshold", above: 0) { a.anomaly.threshold = x }
                    case "min_relative_change": if let x = number(av, "min_relative_change", above: 0) { a.anomaly.minRelativeChange = x }
                    case "min_calls": if let n = positiveInt(av, "min_calls") { a.anomaly.minCalls = UInt64(n) }
                    default:
                        unknownKey(ak, in: "anomaly", expected: "baseline_windows, min_baseline_windows, threshold, min_relative_change, min_calls")
                    }
                }
            default:
                unknownKey(
                    k, in: "analytics",
                    expected: "interval, retention, evaluation_interval, duration_unit, external_url, webhooks, alerts, slos, anomaly")
            }
        }
        // Alerts last: a burn-rate alert names an objective, wherever the file defines it.
        var names = Set<String>()
        for item in alertNodes {
            guard let rule = alert(item, objectives: Set(a.objectives.map(\.name))) else { continue }
            if !names.insert(rule.name).inserted { fail(item, "alert '\(rule.name)' is defined twice"); continue }
            a.alerts.append(rule)
        }
        return a
    }

    mutating func positive(_ d: Duration, _ node: Node, _ what: String) -> Bool {
        if d <= .zero { fail(node, "\(what) must be longer than zero"); return false }
        return true
    }

    mutating func number(_ node: Node, _ what: String, above lower: Double, atMost upper: Double = .infinity) -> Double? {
        guard let x = node.float ?? node.int.map(Double.init), x > lower, x <= upper else {
            fail(node, upper.isFinite ? "\(what) must be a number in (\(lower), \(upper)]" : "\(what) must be a number above \(lower)")
            return nil
        }
        return x
    }

    mutating func spanKind(_ node: Node) -> SpanKind? {
        guard let text = node.string, !text.isEmpty, let k = SpanKind(jaegerName: text) else {
            fail(node, "span_kind must be server, client, producer, consumer or internal")
            return nil
        }
        return k
    }

    mutating func alert(_ node: Node, objectives: Set<String>) -> AlertRule? {
        guard let m = mapping(node, "an alert") else { return nil }
        var name: String?
        var type: (String, Node)?
        var rule = AlertRule(name: "", condition: .errorRate(threshold: 0))
        var quantile = 0.95
        var thresholdMs: Double?
        var threshold: Double?
        var metric = SeriesMetric.latency
        var slo: (String, Node)?
        var ok = true
        for (k, v) in m {
            switch k.string ?? "" {
            case "name": name = v.string
            case "type": type = v.string.map { ($0, v) }
            case "service": rule.service = v.string
            case "operation": rule.operation = v.string
            case "span_kind": if let kind = spanKind(v) { rule.spanKind = kind } else { ok = false }
            case "window": if let d = duration(v, "window"), positive(d, v, "window") { rule.window = d } else { ok = false }
            case "for": if let d = duration(v, "for") { rule.pendingFor = d } else { ok = false }
            case "min_calls": if let n = positiveInt(v, "min_calls") { rule.minCalls = UInt64(n) } else { ok = false }
            case "quantile": if let q = number(v, "quantile", above: 0, atMost: 1) { quantile = q } else { ok = false }
            case "threshold_ms": if let x = number(v, "threshold_ms", above: 0) { thresholdMs = x } else { ok = false }
            case "threshold": if let x = number(v, "threshold", above: 0) { threshold = x } else { ok = false }
            case "metric":
                guard let s = v.string, let mm = SeriesMetric(rawValue: s) else {
                    fail(v, "metric must be latency, error_rate or throughput"); ok = false; continue
                }
                metric = mm
            case "slo": slo = v.string.map { ($0, v) }
            default:
                unknownKey(
                    k, in: "an alert",
                    expected: "name, type, service, operation, span_kind, window, for, min_calls, quantile, threshold_ms, threshold, metric, slo")
            }
        }
        guard let name, !name.isEmpty else { fail(node, "an alert needs a name"); return nil }
        rule.name = name
        guard let (t, typeNode) = type else { fail(node, "alert '\(name)' needs a type: latency, error_rate, anomaly or slo_burn_rate"); return nil }
        switch t {
        case "latency":
            guard let thresholdMs else { fail(node, "alert '\(name)' needs threshold_ms"); return nil }
            rule.condition = .latency(quantile: quantile, thresholdMs: thresholdMs)
        case "error_rate":
            guard let threshold, threshold < 1 else {
                fail(node, "alert '\(name)' needs a threshold between 0 and 1 (0.05: five percent)"); return nil
            }
            rule.condition = .errorRate(threshold: threshold)
        case "anomaly":
            rule.condition = .anomaly(metric)
        case "slo_burn_rate":
            guard let (s, sloNode) = slo else { fail(node, "alert '\(name)' needs slo: the name of an objective under slos"); return nil }
            guard objectives.contains(s) else { fail(sloNode, "alert '\(name)': no objective named '\(s)' under slos"); return nil }
            rule.condition = .burnRate(slo: s, threshold: threshold ?? 14.4)
        default:
            fail(typeNode, "unknown alert type '\(t)': expected latency, error_rate, anomaly or slo_burn_rate")
            return nil
        }
        return ok ? rule : nil
    }

    mutating func objective(_ node: Node) -> ServiceLevelObjective? {
        guard let m = mapping(node, "an objective") else { return nil }
        var name: String?
        var service: String?
        var slo = ServiceLevelObjective(name: "", service: "", objective: 0.99)
        var objective: Double?
        var ok = true
        for (k, v) in m {
            switch k.string ?? "" {
            case "name": name = v.string
            case "service": service = v.string
            case "operation": slo.operation = v.string
            case "span_kind": if let kind = spanKind(v) { slo.spanKind = kind } else { ok = false }
            case "objective":
                // Percent, as people write objectives (99.9); a fraction (0.999) is read as such.
                guard let x = number(v, "objective", above: 0, atMost: 100), x < 100 else {
                    fail(v, "objective must be a percentage below 100, such as 99.9"); ok = false; continue
                }
                objective = x > 1 ? x / 100 : x
            case "latency_threshold_ms": if let x = number(v, "latency_threshold_ms", above: 0) { slo.latencyThresholdMs = x } else { ok = false }
            case "window": if let d = duration(v, "window"), positive(d, v, "window") { slo.window = d } else { ok = false }
            default: unknownKey(k, in: "an objective", expected: "name, service, operation, span_kind, objective, latency_threshold_ms, window")
            }
        }
        guard let name, !name.isEmpty else { fail(node, "an objective needs a name"); return nil }
        guard let service, !service.isEmpty else { fail(node, "objective '\(name)' needs a service"); return nil }
        guard let objective else { if ok { fail(node, "objective '\(name)' needs objective (a percentage such as 99.9)") }; return nil }
        slo.name = name
        slo.service = service
        slo.objective = objective
        return ok ? slo : nil
    }
}
