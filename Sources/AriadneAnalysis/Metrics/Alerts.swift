public import AriadneModel
import Synchronization

/// An alert on RED metrics, from the configuration file.
public struct AlertRule: Sendable, Equatable {
    public enum Condition: Sendable, Equatable {
        /// The quantile of span durations over the window is above the threshold.
        case latency(quantile: Double, thresholdMs: Double)
        /// Failed calls over calls in the window is above the threshold (0–1).
        case errorRate(threshold: Double)
        /// The newest complete window is anomalous (``AnomalyDetector``).
        case anomaly(SeriesMetric)
        /// The named objective's error budget burns at least `threshold` times the sustainable rate.
        case burnRate(slo: String, threshold: Double)
    }

    public var name: String
    public var condition: Condition
    /// Nil: one alert per service.
    public var service: String?
    public var operation: String?
    public var spanKind: SpanKind?
    public var window: Duration
    /// How long the condition must hold before the alert fires (Prometheus' `for`).
    public var pendingFor: Duration
    /// Fewer calls in the window than this: the condition is false.
    public var minCalls: UInt64

    public init(
        name: String, condition: Condition, service: String? = nil, operation: String? = nil, spanKind: SpanKind? = nil,
        window: Duration = .seconds(300), pendingFor: Duration = .zero, minCalls: UInt64 = 1
    ) {
        self.name = name
        self.condition = condition
        self.service = service
        self.operation = operation
        self.spanKind = spanKind
        self.window = window
        self.pendingFor = pendingFor
        self.minCalls = minCalls
    }
}

/// A service level objective: `objective` of calls are good over `window`. A call is good when it
/// did not fail and, with a latency threshold, took at most that long.
public struct ServiceLevelObjective: Sendable, Equatable {
    public var name: String
    public var service: String
    public var operation: String?
    public var spanKind: SpanKind?
    /// 0.99 for "99% of requests".
    public var objective: Double
    public var latencyThresholdMs: Double?
    public var window: Duration

    public init(
        name: String, service: String, operation: String? = nil, spanKind: SpanKind? = nil, objective: Double,
        latencyThresholdMs: Double? = nil, window: Duration = .seconds(30 * 86400)
    ) {
        self.name = name
        self.service = service
        self.operation = operation
        self.spanKind = spanKind
        self.objective = objective
        self.latencyThresholdMs = latencyThresholdMs
        self.window = window
    }

    func includes(_ k: REDKey) -> Bool {
        k.service == service && (operation == nil || k.operation == operation) && (spanKind == nil || k.kind == spanKind)
    }
}

/// An objective's standing now.
public struct SLOStatus: Sendable, Equatable {
    public var slo: ServiceLevelObjective
    public var calls: Double
    public var good: Double
    /// good / calls (1 with no calls).
    public var compliance: Double
    /// 1 − (bad fraction / allowed bad fraction): 1 untouched, 0 spent, negative overspent.
    public var errorBudgetRemaining: Double
    /// Bad fraction over the allowed one, over the last 5 minutes, hour and 6 hours.
    public var burnRates: [(window: String, rate: Double)]

    public static func == (a: SLOStatus, b: SLOStatus) -> Bool {
        a.slo == b.slo && a.calls == b.calls && a.good == b.good && a.burnRates.map(\.rate) == b.burnRates.map(\.rate)
    }
}

/// Evaluates alert rules on the RED rollups, keeping each alert's state (inactive, pending,
/// firing) between evaluations; a change to firing or back is returned as a notification.
public final class AlertEngine: Sendable {
    public enum State: String, Sendable { case inactive, pending, firing }

    /// One alert: a rule, for one service.
    public struct Alert: Sendable, Equatable {
        public var rule: String
        public var service: String
        public var operation: String?
        public var state: State
        /// The value last evaluated (ms, a fraction, a burn rate or a robust z-score) and the threshold.
        public var value: Double
        public var threshold: Double
        /// When the condition started holding (pending/firing), Unix ns.
        public var activeSince: UInt64?
        public var firedAt: UInt64?
        public var lastEvaluation: UInt64
        public var summary: String
    }

    /// A change of an alert to firing or back to resolved, with what to look at.
    public struct Notification: Sendable, Equatable {
        public var status: String  // "firing" | "resolved"
        public var alert: Alert
        /// The window the rule looked at, Unix ns: where example traces come from.
        public var window: ClosedRange<UInt64>
        /// Examples should be at least this slow (ns), or failed.
        public var exampleMinDuration: UInt64?
        public var exampleErrorsOnly: Bool
    }

    public let rules: [AlertRule]
    public let objectives: [ServiceLevelObjective]
    public let metrics: SpanMetrics
    public let detector: AnomalyDetector
    private let alerts = Mutex([String: Alert]())

    public init(rules: [AlertRule], objectives: [ServiceLevelObjective], metrics: SpanMetrics, detector: AnomalyDetector = AnomalyDetector()) {
        self.rules = rules
        self.objectives = objectives
        self.metrics = metrics
        self.detector = detector
    }

    /// Every alert evaluated so far, by rule then service.
    public func states() -> [Alert] {
        alerts.withLock { Array($0.values) }.sorted { ($0.rule, $0.service) < ($1.rule, $1.service) }
    }

    /// Evaluates every rule at `now` (Unix ns) and returns the notifications it causes.
    public func evaluate(now: UInt64) -> [Notification] {
        var out = [Notification]()
        let services = Set(metrics.keys().map(\.service))
        for rule in rules {
            let targets = rule.service.map { [$0] } ?? services.sorted()
            for service in targets {
                let (holds, value, threshold, window) = check(rule, service: service, now: now)
                let id = rule.name + "\u{0}" + service
                let notification: Notification? = alerts.withLock { all in
                    var a =
                        all[id]
                        ?? Alert(
                            rule: rule.name, service: service, operation: rule.operation, state: .inactive, value: 0, threshold: threshold,
                            lastEvaluation: now, summary: "")
                    a.value = value
                    a.threshold = threshold
                    a.lastEvaluation = now
                    a.summary = summary(rule, service: service, value: value, threshold: threshold)
                    var status: String? = nil
                    if holds {
                        if a.state == .inactive {
                            a.state = .pending
                            a.activeSince = now
                        }
                        if a.state == .pending, now - (a.activeSince ?? now) >= UInt64(rule.pendingFor.inSeconds * 1e9) {
                            a.state = .firing
                            a.firedAt = now
                            status = "firing"
                        }
                    } else {
                        if a.state == .firing { status = "resolved" }
                        a.state = .inactive
                        a.activeSince = nil
                    }
                    all[id] = a
                    guard let status else { return nil }
                    var minDuration: UInt64? = nil
                    if case .latency(_, let ms) = rule.condition { minDuration = UInt64(ms * 1e6) }
                    var errorsOnly = false
                    if case .errorRate = rule.condition { errorsOnly = true }
                    if case .anomaly(.errorRate) = rule.condition { errorsOnly = true }
                    return Notification(
                        status: status, alert: a, window: window, exampleMinDuration: minDuration, exampleErrorsOnly: errorsOnly)
                }
                if let notification { out.append(notification) }
            }
        }
        return out
    }

    func include(_ rule: AlertRule, _ service: String) -> (REDKey) -> Bool {
        { k in
            k.service == service && (rule.operation == nil || k.operation == rule.operation) && (rule.spanKind == nil || k.kind == rule.spanKind)
        }
    }

    func check(_ rule: AlertRule, service: String, now: UInt64) -> (Bool, Double, Double, ClosedRange<UInt64>) {
        let windowNs = UInt64(rule.window.inSeconds * 1e9)
        let from = now > windowNs ? now - windowNs : 0
        let range = from...now
        switch rule.condition {
        case .latency(let q, let threshold):
            let p = metrics.total(from: from, to: now + 1, include: include(rule, service))
            let v = p.latency.quantile(q)
            return (p.calls >= rule.minCalls && v > threshold, v, threshold, range)
        case .errorRate(let threshold):
            let p = metrics.total(from: from, to: now + 1, include: include(rule, service))
            return (p.calls >= rule.minCalls && p.errorRate > threshold, p.errorRate, threshold, range)
        case .anomaly(let metric):
            // Complete windows only: the one still filling would look like a drop in throughput.
            let to = metrics.windowStart(now)
            let span = UInt64(detector.settings.baselineWindows + detector.settings.maxAnomalyWindows + 2) * metrics.interval
            let points = metrics.series(from: to > span ? to - span : 0, to: to, include: include(rule, service), groupOf: { _ in 0 })[0] ?? []
            let last = detector.detect(points, metric: metric, interval: metrics.interval).last
            let ongoing = last?.ongoing == true && last!.end == to
            return (ongoing, ongoing ? last!.score : 0, detector.settings.threshold, (last?.start ?? from)...now)
        case .burnRate(let name, let threshold):
            guard let slo = objectives.first(where: { $0.name == name }) else { return (false, 0, threshold, range) }
            let (calls, good) = tally(slo, from: from, to: now + 1)
            let rate = calls == 0 ? 0 : ((calls - good) / calls) / max(1e-9, 1 - slo.objective)
            return (calls >= Double(rule.minCalls) && rate >= threshold, rate, threshold, range)
        }
    }

    func summary(_ rule: AlertRule, service: String, value: Double, threshold: Double) -> String {
        let target = service + (rule.operation.map { " \($0)" } ?? "")
        switch rule.condition {
        case .latency(let q, _):
            return
                "\(target): p\(formatted(q * 100)) latency \(formatted(value)) ms over \(formatted(threshold)) ms in the last \(rule.window.goText)"
        case .errorRate:
            return "\(target): error rate \(formatted(value * 100))% over \(formatted(threshold * 100))% in the last \(rule.window.goText)"
        case .anomaly(let m):
            return "\(target): \(m.rawValue) anomaly, robust z-score \(formatted(value))"
        case .burnRate(let slo, _):
            return "\(target): SLO \(slo) burning error budget at \(formatted(value))× over the last \(rule.window.goText)"
        }
    }

    /// Calls and good calls of an objective over `from..<to`.
    func tally(_ slo: ServiceLevelObjective, from: UInt64, to: UInt64) -> (calls: Double, good: Double) {
        var calls = 0.0
        var good = 0.0
        let groups = metrics.series(from: from, to: to, include: slo.includes, groupOf: { $0.status == .error })
        for (failed, points) in groups {
            for p in points {
                calls += Double(p.calls)
                if !failed { good += slo.latencyThresholdMs.map { p.latency.count(atMostMs: $0) } ?? Double(p.calls) }
            }
        }
        return (calls, good)
    }

    /// Compliance, budget and burn rates of every objective at `now`.
    public func objectivesStatus(now: UInt64) -> [SLOStatus] {
        objectives.map { slo in
            let windowNs = UInt64(slo.window.inSeconds * 1e9)
            let (calls, good) = tally(slo, from: now > windowNs ? now - windowNs : 0, to: now + 1)
            let allowed = max(1e-9, 1 - slo.objective)
            let compliance = calls == 0 ? 1 : good / calls
            let burn: [(String, Double)] = [("5m", 300), ("1h", 3600), ("6h", 21600)].map { label, seconds in
                let ns = UInt64(seconds) * 1_000_000_000
                let (c, g) = tally(slo, from: now > ns ? now - ns : 0, to: now + 1)
                return (label, c == 0 ? 0 : ((c - g) / c) / allowed)
            }
            return SLOStatus(
                slo: slo, calls: calls, good: good, compliance: compliance, errorBudgetRemaining: 1 - (1 - compliance) / allowed,
                burnRates: burn)
        }
    }
}

func formatted(_ x: Double) -> String {
    let r = (x * 100).rounded() / 100
    return r == r.rounded() ? String(Int(r)) : String(r)
}

extension Duration {
    /// "5m", "90s", "1h" as in the configuration file.
    public var goText: String {
        let s = Int(inSeconds.rounded())
        if s > 0, s % 3600 == 0 { return "\(s / 3600)h" }
        if s > 0, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
