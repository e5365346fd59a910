/// Which windowed quantity an anomaly or alert looks at.
public enum SeriesMetric: String, Sendable, CaseIterable {
    /// p95 span duration, ms.
    case latency
    /// Failed calls over calls.
    case errorRate = "error_rate"
    /// Calls per second.
    case throughput

    public func value(of p: REDPoint, interval: UInt64) -> Double {
        switch self {
        case .latency: return p.latency.quantile(0.95)
        case .errorRate: return p.errorRate
        case .throughput: return Double(p.calls) / (Double(interval) / 1e9)
        }
    }
}

/// A shift of a series away from its trailing baseline.
public struct Anomaly: Sendable, Equatable {
    public var metric: SeriesMetric
    /// First and last anomalous window starts (Unix ns); `end` is the end of the last window.
    public var start: UInt64
    public var end: UInt64
    /// The baseline's median before the shift, and the median of the anomalous windows.
    public var baseline: Double
    public var observed: Double
    /// Robust z-score of the largest window: distance from the median in scaled MADs.
    public var score: Double
    /// Whether the last window of the series is still anomalous.
    public var ongoing: Bool

    /// observed / baseline (∞-safe: baseline 0 gives the observed value over a tiny floor).
    public var ratio: Double { observed / max(baseline, 1e-9) }
}

/// Flags windows whose value is far from the median of the windows before them, in units of the
/// median absolute deviation (robust: a few outliers in the baseline do not widen it, and the
/// anomaly itself is kept out of the baseline while it lasts).
public struct AnomalyDetector: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Windows before the current one that form its baseline.
        public var baselineWindows = 30
        /// No verdict until this many baseline windows exist.
        public var minBaselineWindows = 8
        /// Robust z-score beyond which a window is anomalous.
        public var threshold = 4.0
        /// And the change must be at least this relative to the baseline (latency, throughput)…
        public var minRelativeChange = 0.25
        /// …or this absolute (error rate: 0.05 = five percentage points).
        public var minAbsoluteChange = 0.05
        /// Windows with fewer calls are neither judged nor part of a baseline.
        public var minCalls: UInt64 = 10
        /// An anomaly longer than the baseline becomes the new normal.
        public var maxAnomalyWindows: Int { baselineWindows }

        public init() {}
    }

    public var settings: Settings

    public init(_ settings: Settings = Settings()) { self.settings = settings }

    /// Anomalies of one series, oldest first. `points` are windows of `interval` ns, oldest first.
    public func detect(_ points: [REDPoint], metric: SeriesMetric, interval: UInt64) -> [Anomaly] {
        var baseline = [Double]()
        var found = [Anomaly]()
        var current: (anomaly: Anomaly, values: [Double], windows: Int)? = nil
        func close() {
            guard var c = current else { return }
            c.anomaly.observed = median(c.values)
            found.append(c.anomaly)
            current = nil
        }
        for (index, p) in points.enumerated() where p.calls >= settings.minCalls {
            let x = metric.value(of: p, interval: interval)
            let isLast = index == points.count - 1
            if baseline.count >= settings.minBaselineWindows, let verdict = judge(x, baseline, metric) {
                if current != nil, current!.windows < settings.maxAnomalyWindows {
                    current!.values.append(x)
                    current!.windows += 1
                    current!.anomaly.end = p.start + interval
                    current!.anomaly.score = max(current!.anomaly.score, abs(verdict.score))
                    current!.anomaly.ongoing = isLast
                    continue
                } else if current == nil {
                    current = (
                        Anomaly(
                            metric: metric, start: p.start, end: p.start + interval, baseline: verdict.median, observed: x,
                            score: abs(verdict.score), ongoing: isLast), [x], 1
                    )
                    continue
                }
                // Lasted as long as a baseline: the new level is normal from here on.
                let level = current!.values
                close()
                baseline = level
            } else {
                close()
            }
            baseline.append(x)
            if baseline.count > settings.baselineWindows { baseline.removeFirst(baseline.count - settings.baselineWindows) }
        }
        close()
        return found
    }

    /// The robust z-score of `x` against `baseline` when it is anomalous, else nil.
    func judge(_ x: Double, _ baseline: [Double], _ metric: SeriesMetric) -> (median: Double, score: Double)? {
        let m = median(baseline)
        let mad = median(baseline.map { abs($0 - m) })
        // A perfectly flat baseline has MAD 0: a floor keeps ordinary jitter from scoring as infinity.
        let floor = metric == .errorRate ? 0.01 : max(abs(m) * 0.02, 1e-6)
        let scale = max(1.4826 * mad, floor)
        let score = (x - m) / scale
        guard abs(score) >= settings.threshold else { return nil }
        let change = abs(x - m)
        switch metric {
        case .errorRate: guard change >= settings.minAbsoluteChange else { return nil }
        case .latency, .throughput: guard change >= settings.minRelativeChange * abs(m) else { return nil }
        }
        return (m, score)
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// A short forecast by Holt's linear exponential smoothing (level and trend), with an interval
/// from the spread of its one-step errors on the history.
public struct Forecast: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var time: UInt64
        public var value: Double
        public var lower: Double
        public var upper: Double
    }

    public var points: [Point]
    /// Smoothing constants chosen by least squares on the history.
    public var alpha: Double
    public var beta: Double

    /// Forecasts `horizon` steps of `step` ns after the last of `values` (evenly spaced, the last
    /// at `lastTime`). `z` sets the interval's width (1.96: ~95% for normal errors). Needs ≥ 3 values.
    public static func holt(_ values: [Double], lastTime: UInt64, step: UInt64, horizon: Int, z: Double = 1.96) -> Forecast? {
        guard values.count >= 3, horizon > 0 else { return nil }
        var best: (sse: Double, alpha: Double, beta: Double)? = nil
        for a in stride(from: 0.1, through: 0.9, by: 0.1) {
            for b in stride(from: 0.05, through: 0.5, by: 0.05) {
                let sse = fit(values, a, b).errors.reduce(0) { $0 + $1 * $1 }
                if best == nil || sse < best!.sse { best = (sse, a, b) }
            }
        }
        let (_, alpha, beta) = best!
        let f = fit(values, alpha, beta)
        let n = Double(max(1, f.errors.count - 1))
        let sigma = (f.errors.reduce(0) { $0 + $1 * $1 } / n).squareRoot()
        let points = (1...horizon).map { h -> Point in
            let v = f.level + Double(h) * f.trend
            // The variance of an h-step Holt forecast grows with h (Hyndman et al., class 1 models).
            let growth = 1 + Double(h - 1) * alpha * alpha * (1 + Double(h) * beta + Double(h * (2 * h - 1)) * beta * beta / 6)
            let half = z * sigma * growth.squareRoot()
            return Point(time: lastTime + UInt64(h) * step, value: v, lower: v - half, upper: v + half)
        }
        return Forecast(points: points, alpha: alpha, beta: beta)
    }

    static func fit(_ y: [Double], _ alpha: Double, _ beta: Double) -> (level: Double, trend: Double, errors: [Double]) {
        var level = y[0]
        var trend = y[1] - y[0]
        var errors = [Double]()
        for t in 1..<y.count {
            let predicted = level + trend
            errors.append(y[t] - predicted)
            let newLevel = alpha * y[t] + (1 - alpha) * predicted
            trend = beta * (newLevel - level) + (1 - beta) * trend
            level = newLevel
        }
        return (level, trend, errors)
    }
}
