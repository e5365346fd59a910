/// The analyses the Monitor view and `/api/analysis/*` ask of the rollups, as values: routes
/// only parse their parameters and render these.
extension SpanMetrics {
    /// An anomaly of one service and operation.
    public struct FoundAnomaly: Sendable {
        public var service: String
        public var operation: String
        public var anomaly: Anomaly
    }

    /// Anomalies in p95 latency and error rate per service and operation (of `service` only, if
    /// given) over the complete windows of `window`, newest first.
    public func anomalies(in window: ClosedRange<UInt64>, service: String?, detector: AnomalyDetector) -> [FoundAnomaly] {
        let series = self.series(
            from: window.lowerBound, to: windowStart(window.upperBound), include: { service == nil || $0.service == service },
            groupOf: { [$0.service, $0.operation] })
        var found = [FoundAnomaly]()
        for (group, points) in series {
            for metric in [SeriesMetric.latency, .errorRate] {
                for a in detector.detect(points, metric: metric, interval: interval) {
                    found.append(FoundAnomaly(service: group[0], operation: group[1], anomaly: a))
                }
            }
        }
        return found.sorted { ($0.anomaly.start, $0.service, $0.operation) > ($1.anomaly.start, $1.service, $1.operation) }
    }

    /// A service's (or operation's) throughput and p95 per complete window of `window`, each with
    /// its forecast `horizon` windows ahead.
    public struct ServiceForecast: Sendable {
        public var windows: [UInt64]
        public var throughput: [Double]
        /// ms; a window without calls carries the last latency seen.
        public var p95Ms: [Double]
        public var throughputForecast: [Forecast.Point]
        public var p95Forecast: [Forecast.Point]
    }

    /// Nil when the window holds more than `maxWindows` rollup windows.
    public func forecast(
        service: String, operation: String?, in window: ClosedRange<UInt64>, horizon: Int, maxWindows: UInt64 = 100_000
    ) -> ServiceForecast? {
        let end = windowStart(window.upperBound)
        let start = windowStart(window.lowerBound)
        guard (end - start) / interval <= maxWindows else { return nil }
        let points =
            series(
                from: start, to: end, include: { $0.service == service && (operation == nil || $0.operation == operation) },
                groupOf: { _ in 0 })[0] ?? []
        var byWindow = [UInt64: REDPoint]()
        for p in points { byWindow[p.start] = p }
        let windows = Array(stride(from: start, to: end, by: Int(interval)))
        let seconds = Double(interval) / 1e9
        let throughput = windows.map { Double(byWindow[$0]?.calls ?? 0) / seconds }
        var last = 0.0
        let p95 = windows.map { w -> Double in
            if let p = byWindow[w], p.calls > 0 { last = p.latency.quantile(0.95) }
            return last
        }
        let lastTime = windows.last ?? start
        func ahead(_ values: [Double]) -> [Forecast.Point] {
            Forecast.holt(values, lastTime: lastTime, step: interval, horizon: horizon)?.points ?? []
        }
        return ServiceForecast(
            windows: windows, throughput: throughput, p95Ms: p95, throughputForecast: ahead(throughput), p95Forecast: ahead(p95))
    }
}

extension SpanMetrics {
    /// Jaeger's metric steps: one point per `step` from `start` to `end`, each merging the
    /// windows of `points` (in time order) that end within the `ratePer` before it.
    public func steps(_ points: [REDPoint], from start: UInt64, to end: UInt64, step: UInt64, ratePer: UInt64) -> [REDPoint] {
        var out = [REDPoint]()
        // Points are in time order: each step's windows are a slice found by moving two bounds.
        var t = start
        var lo = 0
        var hi = 0
        while t <= end {
            let from = t > ratePer ? t - ratePer : 0
            while lo < points.count && points[lo].start + interval <= from { lo += 1 }
            while hi < points.count && points[hi].start < t { hi += 1 }
            out.append(REDPoint(start: t, merging: points[lo..<max(lo, hi)]))
            let (next, overflow) = t.addingReportingOverflow(step)
            if overflow { break }
            t = next
        }
        return out
    }
}
