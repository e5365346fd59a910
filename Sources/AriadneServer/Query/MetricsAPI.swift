import AriadneAnalysis
import AriadneModel
import AriadneQuery
import AriadneStorage
import AriadneWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// RED metrics, anomalies, forecasts, population comparisons, alerts and objectives: Jaeger's
/// `/api/metrics/*` (the Monitor tab's shape) and Ariadne's `/api/analysis/*`, `/api/alerts`,
/// `/api/slos`. All read the rollups kept at ingest, except comparisons, which read traces.
extension QueryAPI {
    /// Jaeger's Monitor endpoints and the rollup analyses.
    func metricsRoutes() -> RouteCollection<AriadneRequestContext> {
        let router = RouteCollection(context: AriadneRequestContext.self)
        router.get(
            "/api/metrics/minstep",
            use: route(.jaeger) { _, _ in
                let metrics = analytics.metrics
                return Self.json { w in
                    w.beginObject()
                    w.field("minStep", Int(metrics.interval / 1_000_000))
                    w.endObject()
                }
            })
        router.get(
            "/api/metrics/:kind",
            use: route(.jaeger) { request, context in
                let metrics = analytics.metrics
                let kind = try context.parameters.require("kind")
                guard ["latencies", "calls", "errors"].contains(kind) else {
                    throw QueryError.notFound("unknown metric '\(kind)': expected latencies, calls or errors")
                }
                let q = request.uri.formParameters
                return try jaegerMetrics(kind, q, metrics)
            })
        router.get(
            "/api/analysis/red",
            use: route(.v3) { request, _ in
                let metrics = analytics.metrics
                let q = request.uri.formParameters
                return try red(q, metrics)
            })
        router.get(
            "/api/analysis/anomalies",
            use: route(.v3) { request, _ in
                let metrics = analytics.metrics
                let q = request.uri.formParameters
                let window: ClosedRange<UInt64>
                window = try analysisWindow(q, defaultLookback: 6 * 3_600_000_000_000)
                let only = q["service"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
                let found = metrics.anomalies(in: window, service: only, detector: analytics.alerts.detector).filter {
                    visibility.shows($0.service)
                }
                var examples = [[TraceID]]()
                for f in found.prefix(50) {
                    let failed = f.anomaly.metric == .errorRate
                    let tq = TraceQuery.examples(
                        // Windows hold spans by end time: a slow span of the first window may start before it.
                        service: f.service, operation: f.operation,
                        starting: (f.anomaly.start > metrics.interval ? f.anomaly.start - metrics.interval : 0)...f.anomaly.end,
                        slowerThan: !failed && f.anomaly.observed > f.anomaly.baseline ? UInt64(f.anomaly.baseline * 1e6) : nil, failed: failed)
                    examples.append((try? await service.findTraceIDs(tq)) ?? [])
                }
                return Self.json { w in
                    w.object([
                        "intervalSeconds": .double(Double(metrics.interval) / 1e9),
                        "anomalies": .array(
                            zip(found.prefix(50), examples).map { f, ex in
                                .object([
                                    "service": .string(f.service), "operation": .string(f.operation), "metric": .string(f.anomaly.metric.rawValue),
                                    "start": .nanos(f.anomaly.start), "end": .nanos(f.anomaly.end), "baseline": .double(f.anomaly.baseline),
                                    "observed": .double(f.anomaly.observed), "ratio": .double(f.anomaly.ratio), "score": .double(f.anomaly.score),
                                    "ongoing": .bool(f.anomaly.ongoing), "exampleTraceIDs": .strings(ex.map(\.hex)),
                                ])
                            }),
                    ])
                }
            })
        router.get(
            "/api/analysis/forecast",
            use: route(.v3) { request, _ in
                let metrics = analytics.metrics
                let q = request.uri.formParameters
                guard let forecastService = q["service"].map(String.init), !forecastService.isEmpty else {
                    throw QueryError.badRequest("parameter 'service' is required")
                }
                if !visibility.shows(forecastService) { throw QueryError.notFound("no service '\(forecastService)'") }
                let operation = q["operation"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
                let window: ClosedRange<UInt64>
                window = try analysisWindow(q, defaultLookback: 3_600_000_000_000)
                guard (q["horizon"] ?? "").utf8.count <= 4, let horizon = Int(q["horizon"] ?? "10"), (1...1000).contains(horizon) else {
                    throw QueryError.badRequest("'horizon' must be 1 to 1000 windows")
                }
                // Complete windows only, and every window in the range (none means no calls).
                guard let f = metrics.forecast(service: forecastService, operation: operation, in: window, horizon: horizon) else {
                    throw QueryError.badRequest("the window holds more than 100,000 rollup windows: shorten 'lookback'")
                }
                func series(_ values: [Double], _ ahead: [Forecast.Point]) -> JSONField {
                    .object([
                        "history": .array(zip(f.windows, values).map { .object(["time": .nanos($0), "value": .double($1)]) }),
                        "forecast": .array(
                            ahead.map {
                                .object([
                                    "time": .nanos($0.time), "value": .double($0.value), "lower": .double(max(0, $0.lower)),
                                    "upper": .double($0.upper),
                                ])
                            }),
                    ])
                }
                let seconds = Double(metrics.interval) / 1e9
                return Self.json { w in
                    w.value(
                        .object(
                            [
                                "service": .string(forecastService), "intervalSeconds": .double(seconds),
                                "throughput": series(f.throughput, f.throughputForecast), "p95Ms": series(f.p95Ms, f.p95Forecast),
                            ], then: operation.map { ["operation": .string($0)] } ?? [:]))
                }
            })
        router.get(
            "/api/analysis/populations",
            use: route(.v3) { request, _ in
                let q = request.uri.formParameters
                let queries: (TraceQuery, TraceQuery)
                queries = try populationQueries(q)
                let c = try await service.populations(queries.0, queries.1)
                return Self.json { w in Self.writePopulations(c, into: &w) }
            })
        router.get(
            "/api/alerts",
            use: route(.v3) { _, _ in
                let now = UInt64(Date().timeIntervalSince1970 * 1e9)
                let states = analytics.alerts.states().filter { visibility.shows($0.service) }
                return Self.json { w in
                    w.beginObject()
                    w.field("evaluatedAt", String(now))
                    w.key("rules")
                    w.beginArray()
                    for r in analytics.settings.alerts where r.service.map(visibility.shows) ?? true {
                        w.beginObject()
                        w.field("name", r.name)
                        w.field("service", r.service ?? "")
                        w.field("operation", r.operation ?? "")
                        w.field("window", r.window.goText)
                        w.field("for", r.pendingFor.goText)
                        w.endObject()
                    }
                    w.endArray()
                    w.key("alerts")
                    w.beginArray()
                    for a in states {
                        w.beginObject()
                        w.field("name", a.rule)
                        w.field("service", a.service)
                        if let op = a.operation { w.field("operation", op) }
                        w.field("state", a.state.rawValue)
                        w.field("value", a.value)
                        w.field("threshold", a.threshold)
                        if let t = a.activeSince { w.field("activeSince", String(t)) }
                        if let t = a.firedAt { w.field("firedAt", String(t)) }
                        w.field("summary", a.summary)
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                }
            })
        router.get(
            "/api/slos",
            use: route(.v3) { _, _ in
                let now = UInt64(Date().timeIntervalSince1970 * 1e9)
                let statuses = analytics.alerts.objectivesStatus(now: now).filter { visibility.shows($0.slo.service) }
                return Self.json { w in
                    w.beginObject()
                    w.key("slos")
                    w.beginArray()
                    for s in statuses {
                        w.beginObject()
                        w.field("name", s.slo.name)
                        w.field("service", s.slo.service)
                        if let op = s.slo.operation { w.field("operation", op) }
                        w.field("objective", s.slo.objective)
                        if let ms = s.slo.latencyThresholdMs { w.field("latencyThresholdMs", ms) }
                        w.field("window", s.slo.window.goText)
                        w.field("calls", s.calls)
                        w.field("good", s.good)
                        w.field("compliance", s.compliance)
                        w.field("errorBudgetRemaining", s.errorBudgetRemaining)
                        w.key("burnRates")
                        w.beginObject()
                        for (label, rate) in s.burnRates { w.field(label, rate) }
                        w.endObject()
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                }
            })
        return router
    }

    /// Jaeger's `GET /api/metrics/{latencies,calls,errors}`: one series per service (or per service
    /// and operation with `groupByOperation`), a point per `step` from `endTs − lookback` to `endTs`,
    /// each over the `ratePer` before it. Latencies in ms; calls per second; errors as a fraction.
    func jaegerMetrics(_ kind: String, _ q: FlatDictionary<Substring, Substring>, _ metrics: SpanMetrics) throws(QueryError) -> Response {
        let services = Set(q[values: "service"].map(String.init).filter { !$0.isEmpty })
        guard !services.isEmpty else { throw QueryError.badRequest("please provide at least one service name") }
        func ms(_ name: String, _ fallback: UInt64) throws(QueryError) -> UInt64 {
            guard let t = q[Substring(name)], !t.isEmpty else { return fallback }
            guard let v = UInt64(t), v <= UInt64.max / 1_000_000 else { throw QueryError.badRequest("'\(name)' must be an integer of milliseconds") }
            return v
        }
        let end = try ms("endTs", UInt64(Date().timeIntervalSince1970 * 1000)) * 1_000_000
        let lookback = try ms("lookback", 3_600_000) * 1_000_000
        let step = max(try ms("step", 60_000) * 1_000_000, metrics.interval)
        let ratePer = max(try ms("ratePer", 600_000) * 1_000_000, metrics.interval)
        guard lookback / step <= 10_000 else { throw QueryError.badRequest("too many points: raise 'step' or lower 'lookback'") }
        var quantile = 0.0
        if kind == "latencies" {
            guard let t = q["quantile"], let x = Double(t), x > 0, x <= 1 else {
                throw QueryError.badRequest("please provide a quantile between (0, 1]")
            }
            quantile = x
        }
        let byOperation = q["groupByOperation"].map { $0 == "true" || $0 == "1" } ?? false
        var kinds = Set<SpanKind>()
        for text in q[values: "spanKind"] {
            let name = text.hasPrefix("SPAN_KIND_") ? String(text.dropFirst(10)) : String(text)
            guard let k = SpanKind(jaegerName: name) else { throw QueryError.badRequest("unsupported spanKind '\(text)'") }
            kinds.insert(k)
        }
        if kinds.isEmpty { kinds = [.server] }
        let start = end > lookback ? end - lookback : 0
        let series = metrics.series(
            from: start > ratePer ? start - ratePer : 0, to: end + 1,
            include: { services.contains($0.service) && kinds.contains($0.kind) && visibility.shows($0.service) },
            groupOf: { byOperation ? [$0.service, $0.operation] : [$0.service] })
        let scope = byOperation ? "service_operation" : "service"
        let (name, help): (String, String) =
            switch kind {
            case "latencies": ("\(scope)_latencies", "\(quantile)th quantile latency, grouped by \(byOperation ? "service & operation" : "service")")
            case "calls": ("\(scope)_call_rate", "calls/sec, grouped by \(byOperation ? "service & operation" : "service")")
            default:
                (
                    "\(scope)_error_rate",
                    "error rate, computed as a fraction of errors/sec over calls/sec, grouped by \(byOperation ? "service & operation" : "service")"
                )
            }
        return Self.json { w in
            w.beginObject()
            w.field("name", name)
            w.field("type", "GAUGE")
            w.field("help", help)
            w.key("metrics")
            w.beginArray()
            for group in series.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let points = series[group]!
                w.beginObject()
                w.key("labels")
                w.beginArray()
                for (label, value) in zip(["service_name", "operation"], group) {
                    w.beginObject()
                    w.field("name", label)
                    w.field("value", value)
                    w.endObject()
                }
                w.endArray()
                w.key("metricPoints")
                w.beginArray()
                for p in metrics.steps(points, from: start, to: end, step: step, ratePer: ratePer) {
                    let value: Double? =
                        switch kind {
                        case "latencies": p.calls > 0 ? p.latency.quantile(quantile) : nil
                        case "calls": Double(p.calls) / (Double(ratePer) / 1e9)
                        default: p.calls > 0 ? p.errorRate : nil
                        }
                    if let value {
                        w.object(["gaugeValue": .object(["doubleValue": .double(value)]), "timestamp": .string(RFC3339.format(p.start))])
                    }
                }
                w.endArray()
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    /// Per service (or, with `service`, per operation of it): calls, rate, errors and latency
    /// quantiles over the window, and a point per window for sparklines.
    func red(_ q: FlatDictionary<Substring, Substring>, _ metrics: SpanMetrics) throws(QueryError) -> Response {
        let window = try analysisWindow(q)
        let service = q["service"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var kind: SpanKind? = nil
        if let t = q["spanKind"], !t.isEmpty {
            guard let k = SpanKind(jaegerName: String(t)) else { throw QueryError.badRequest("unsupported spanKind '\(t)'") }
            kind = k
        }
        let series = metrics.series(
            from: window.lowerBound, to: window.upperBound + 1,
            include: {
                (service == nil || $0.service == service) && (kind == nil || $0.kind == kind) && visibility.shows($0.service)
            },
            groupOf: { service == nil ? [$0.service] : [$0.service, $0.operation, $0.kind.jaegerName] })
        let seconds = max(1e-9, Double(window.upperBound - window.lowerBound) / 1e9)
        return Self.json { w in
            w.beginObject()
            w.field("start", String(window.lowerBound))
            w.field("end", String(window.upperBound))
            w.field("intervalSeconds", Double(metrics.interval) / 1e9)
            w.key(service == nil ? "services" : "operations")
            w.beginArray()
            for group in series.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let points = series[group]!
                let total = REDPoint(start: window.lowerBound, merging: points)
                w.beginObject()
                w.field("service", group[0])
                if group.count > 1 {
                    w.field("operation", group[1])
                    w.field("spanKind", group[2])
                }
                w.field("calls", total.calls)
                w.field("errors", total.errors)
                w.field("ratePerSecond", Double(total.calls) / seconds)
                w.field("errorRate", total.errorRate)
                w.field("p50Ms", total.latency.quantile(0.5))
                w.field("p95Ms", total.latency.quantile(0.95))
                w.field("p99Ms", total.latency.quantile(0.99))
                w.key("series")
                w.beginArray()
                for p in points {
                    w.beginObject()
                    w.field("time", String(p.start))
                    w.field("calls", p.calls)
                    w.field("errors", p.errors)
                    w.field("p95Ms", p.latency.quantile(0.95))
                    w.endObject()
                }
                w.endArray()
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    /// The two populations of `/api/analysis/populations`: with `attribute`, `a` and `b` are its
    /// values (within `lookback`/`start`/`end`); without, they are windows `FROM..TO`, each end
    /// RFC 3339, Unix µs, `now`, or a Go duration before now (`now-2h` or `-2h`).
    func populationQueries(_ q: FlatDictionary<Substring, Substring>) throws(QueryError) -> (TraceQuery, TraceQuery) {
        guard let a = q["a"].map(String.init), !a.isEmpty, let b = q["b"].map(String.init), !b.isEmpty else {
            throw QueryError.badRequest("parameters 'a' and 'b' are required: two attribute values (with 'attribute') or two windows FROM..TO")
        }
        let service = q["service"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let operation = q["operation"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var base = try analysisQuery(q, service: service, operation: operation, filter: nil)
        if q["limit"] == nil { base.limit = 1000 }
        var qa = base
        var qb = base
        if let attribute = q["attribute"].map(String.init), !attribute.isEmpty {
            qa.tags[attribute] = a
            qb.tags[attribute] = b
        } else {
            let now = UInt64(Date().timeIntervalSince1970 * 1e9)
            (qa.startMin, qa.startMax) = try Self.windowSpec(a, now: now, name: "a")
            (qb.startMin, qb.startMax) = try Self.windowSpec(b, now: now, name: "b")
        }
        return (qa, qb)
    }

    static func windowSpec(_ text: String, now: UInt64, name: String) throws(QueryError) -> (UInt64, UInt64) {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2 else { throw QueryError.badRequest("'\(name)' must be a window FROM..TO (e.g. now-2h..now-1h), or use 'attribute'") }
        func instant(_ s: String) throws(QueryError) -> UInt64 {
            if s == "now" || s.isEmpty { return now }
            // `now-2h` (or `-2h`, which command lines mistake for an option).
            let relative = s.hasPrefix("now-") ? s.dropFirst(4) : s.hasPrefix("-") ? s.dropFirst() : nil
            if let relative, let d = GoDuration.parse(String(relative)) { return now > d ? now - d : 0 }
            if let t = RFC3339.parse(s) { return t }
            if let us = UInt64(s), us <= UInt64.max / 1000 { return us * 1000 }
            throw QueryError.badRequest("'\(name)': '\(s)' is not a time (RFC 3339, Unix µs, now, or now-DURATION)")
        }
        let from = try instant(parts[0])
        let to = try instant(parts[1])
        guard from <= to else { throw QueryError.badRequest("'\(name)': the window starts after it ends") }
        return (from, to)
    }

    static func writePopulations(_ c: PopulationComparison, into w: inout JSONWriter) {
        w.object([
            "a": .object(["traces": .int(c.traces.a), "spansPerTrace": .double(c.spansPerTrace.a)]),
            "b": .object(["traces": .int(c.traces.b), "spansPerTrace": .double(c.spansPerTrace.b)]),
            "operations": .array(c.operations.map(\.json)),
        ])
    }
}
