/// The `analytics` section of the configuration file: how RED metrics are rolled up and kept,
/// what is alerted on, and where notifications go.
public struct AnalyticsSettings: Sendable, Equatable {
    /// Rollup window.
    public var interval: Duration = .seconds(60)
    /// How long rollups are kept (in memory and on disk). Two days: enough for baselines, alert
    /// windows and day-over-day views at ~160 bytes per (key, window); Prometheus keeps the long run.
    public var retention: Duration = .seconds(48 * 3600)
    /// The unit of `traces_span_metrics_duration_*`: seconds (Prometheus' base unit, what
    /// `promtool check metrics` accepts) or milliseconds (the spanmetrics connector's default).
    public var durationUnit: DurationUnit = .seconds
    /// How often alerts are evaluated and rollups written to disk.
    public var evaluationInterval: Duration = .seconds(15)
    /// The UI's address as people reach it, for links in notifications; default: the query listener.
    public var externalURL: String?
    /// Every alert notification is POSTed as JSON to each of these.
    public var webhooks: [String] = []
    public var alerts: [AlertRule] = []
    public var objectives: [ServiceLevelObjective] = []
    public var anomaly = AnomalyDetector.Settings()

    public enum DurationUnit: String, Sendable, Equatable {
        case seconds = "s"
        case milliseconds = "ms"
    }

    public init() {}
}
