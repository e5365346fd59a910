import AriadneAnalysis
import AriadneClickHouse
import AriadneModel
import AriadnePipeline
import AriadneQuery
import AriadneStorage
import AriadneWire
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// RED metrics, their rollups on disk, and the alerts evaluated on them: what sits beside the
/// query side of the server.
final class Analytics: MetricsSource {
    let settings: AnalyticsSettings
    let metrics: SpanMetrics
    /// Calls between services paired at ingest, for Tempo's service-graph series.
    let serviceGraph = ServiceGraphMetrics()
    let alerts: AlertEngine
    let files: RollupFiles?
    /// On ClickHouse: rollups every node writes and reads, in place of files.
    let shared: SharedRollups?
    /// Whether the shared rollups were read once (the first read is logged).
    let readShared = Latch()

    init(settings: AnalyticsSettings, dataDirectory: String?, clickhouse: ClickHouseStore? = nil, logger: Logger) throws {
        self.settings = settings
        metrics = SpanMetrics(interval: settings.interval, retention: settings.retention)
        alerts = AlertEngine(
            rules: settings.alerts, objectives: settings.objectives, metrics: metrics, detector: AnomalyDetector(settings.anomaly))
        shared = clickhouse.map { SharedRollups(store: $0) }
        files = try (clickhouse == nil ? dataDirectory : nil).map { try RollupFiles(dataDirectory: $0) }
        if let files {
            let cells = files.load(into: metrics, oldest: oldestWindow(now: AnalyticsService.now())) { logger.warning("\($0)") }
            if cells > 0 { logger.info("analytics: read \(cells) rollup cells from \(files.directory)") }
        }
    }

    /// Writes completed windows (all windows when `final`) to disk or ClickHouse.
    func persist(now: UInt64, final: Bool) async throws {
        guard files != nil || shared != nil else { return }
        let cells = metrics.takeUnsaved(before: final ? .max : metrics.windowStart(now))
        guard !cells.isEmpty else { return }
        if let files { try files.append(cells) }
        if let shared { try await shared.append(cells) }
    }

    /// The windows of `retention` back from `now`.
    func oldestWindow(now: UInt64) -> UInt64 {
        let retention = UInt64(settings.retention.inSeconds * 1e9)
        return now > retention ? now - retention : 0
    }

    /// The span metrics and service-graph metrics, under the names of the spanmetrics connector
    /// and of Tempo's metrics-generator.
    func collect(into out: inout PrometheusExposition) { collect(into: &out, visibility: nil) }

    /// The series of the services `visibility` shows (nil: all), and calls between two of them.
    func collect(into out: inout PrometheusExposition, visibility: ServiceVisibility?) {
        let seconds = settings.durationUnit == .seconds
        let duration = seconds ? "traces_span_metrics_duration_seconds" : "traces_span_metrics_duration_milliseconds"
        let totals = metrics.totals().filter { visibility.shows($0.key.service) }
        let labels = totals.map { key, _ in
            [("service_name", key.service), ("span_name", key.operation), ("span_kind", key.kind.otlpName), ("status_code", key.status.otlpName)]
        }
        out.family("traces_span_metrics_calls_total", .counter, help: "Spans received, by service, span name, kind and status (before sampling).")
        for ((_, h), l) in zip(totals, labels) { out.sample("traces_span_metrics_calls_total", l, Int(h.count)) }
        out.family(duration, .histogram, help: "Span durations, by service, span name, kind and status (before sampling).")
        for ((_, h), l) in zip(totals, labels) { Self.histogram(duration, l, h, scale: seconds ? 0.001 : 1, into: &out) }

        let edges = serviceGraph.totals().filter { visibility.shows($0.edge.client) && visibility.shows($0.edge.server) }
        let edgeLabels = edges.map { e, _ in [("client", e.client), ("server", e.server), ("connection_type", e.connectionType)] }
        out.family(
            "traces_service_graph_request_total", .counter, help: "Calls between services, and to databases, caches and queues (before sampling).")
        for ((_, t), l) in zip(edges, edgeLabels) { out.sample("traces_service_graph_request_total", l, Int(t.requests)) }
        out.family("traces_service_graph_request_failed_total", .counter, help: "Calls where the caller's or the callee's span failed.")
        for ((_, t), l) in zip(edges, edgeLabels) { out.sample("traces_service_graph_request_failed_total", l, Int(t.failed)) }
        out.family("traces_service_graph_request_server_seconds", .histogram, help: "Call durations as the callee's span measured them.")
        for ((_, t), l) in zip(edges, edgeLabels) {
            Self.histogram("traces_service_graph_request_server_seconds", l, t.server, scale: 0.001, into: &out)
        }
        out.family("traces_service_graph_request_client_seconds", .histogram, help: "Call durations as the caller's span measured them.")
        for ((_, t), l) in zip(edges, edgeLabels) {
            Self.histogram("traces_service_graph_request_client_seconds", l, t.client, scale: 0.001, into: &out)
        }
    }

    /// A latency histogram's samples; bounds and sum scaled from milliseconds.
    static func histogram(_ name: String, _ labels: [(String, String)], _ h: LatencyHistogram, scale: Double, into out: inout PrometheusExposition) {
        out.histogram(
            name, labels, bounds: LatencyHistogram.boundsMs.map { $0 * scale }, counts: h.buckets.map(Int.init), sum: h.sumMs * scale)
    }
}

/// Every `evaluation_interval`, for each tenant's space: writes completed rollup windows,
/// evaluates alerts, and sends their notifications to the log and the webhooks. At shutdown it
/// writes what is left.
struct AnalyticsService: Service {
    let spaces: TenantSpaces
    let logger: Logger
    /// Whether this node evaluates alerts now: one node does in a cluster (with several, each
    /// transition would be notified by each).
    var evaluatesAlerts: @Sendable () -> Bool = { true }
    /// The UI's base address for links, once the query listener is known.
    let baseURL: @Sendable () -> String

    func run() async throws {
        for space in spaces.all { await refreshShared(space, now: Self.now()) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        // Stopped last (it is first in the group): by then the pipeline has flushed, so the final
        // write holds every span counted.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: spaces.all.first?.analytics.settings.evaluationInterval ?? .seconds(10))
                if Task.isCancelled { break }
                for space in spaces.all { await tick(space, client: client, final: false) }
            }
        }
        for space in spaces.all { await tick(space, client: client, final: true) }
        try? await client.shutdown()
    }

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1e9) }

    func tick(_ space: TenantSpace, client: HTTPClient, final: Bool) async {
        let analytics = space.analytics
        let now = Self.now()
        do { try await analytics.persist(now: now, final: final) } catch { logger.error("analytics: writing rollups failed: \(error)") }
        analytics.serviceGraph.expire(now: now)
        if final { return }
        await refreshShared(space, now: now)
        // One node per deployment evaluates alerts (see `evaluatesAlerts`); others would notify
        // each transition once more apiece.
        guard evaluatesAlerts() else { return }
        for n in analytics.alerts.evaluate(now: now) {
            logger.info(
                "alert \(n.status) name=\(n.alert.rule) service=\(n.alert.service) tenant=\(space.tenant) value=\(n.alert.value) threshold=\(n.alert.threshold): \(n.alert.summary)"
            )
            let examples = (try? await exampleTraces(n, space.queries)) ?? []
            let body = Self.payload(
                n, examples: examples, baseURL: baseURL(), now: now, tenant: space.tenant == TenantName.default ? nil : space.tenant)
            for url in analytics.settings.webhooks { await post(body, to: url, client: client) }
        }
    }

    /// On ClickHouse: adds what other nodes counted since the last read.
    func refreshShared(_ space: TenantSpace, now: UInt64) async {
        guard let shared = space.analytics.shared else { return }
        do {
            let cells = try await shared.refresh(into: space.analytics.metrics, oldest: space.analytics.oldestWindow(now: now))
            if cells > 0 && !space.analytics.readShared.isSet {
                logger.info("analytics: read \(cells) rollup cells from ClickHouse (tenant \(space.tenant))")
            }
            space.analytics.readShared.set()
        } catch {
            logger.error("analytics: reading rollups from ClickHouse failed: \(error)")
        }
    }

    func exampleTraces(_ n: AlertEngine.Notification, _ queries: TraceQueryService) async throws -> [TraceID] {
        try await queries.findTraceIDs(
            .examples(
                service: n.alert.service, operation: n.alert.operation, starting: n.window, slowerThan: n.exampleMinDuration,
                failed: n.exampleErrorsOnly))
    }

    /// Three attempts a second apart; a receiver that stays down is logged, not retried forever.
    func post(_ body: [UInt8], to url: String, client: HTTPClient) async {
        for attempt in 1...3 {
            do {
                var req = HTTPClientRequest(url: url)
                req.method = .POST
                req.headers.add(name: "Content-Type", value: "application/json")
                req.body = .bytes(ByteBuffer(bytes: body))
                let response = try await client.execute(req, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 1 << 20)
                if (200..<300).contains(Int(response.status.code)) { return }
                logger.warning("alert webhook \(url) answered \(response.status.code) (attempt \(attempt) of 3)")
            } catch {
                logger.warning("alert webhook \(url) failed: \(error) (attempt \(attempt) of 3)")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Alertmanager's webhook shape (so receivers written for it read ours), with the value,
    /// threshold and example traces added.
    /// `tenant` (a label) for a tenant other than the default one.
    static func payload(_ n: AlertEngine.Notification, examples: [TraceID], baseURL: String, now: UInt64, tenant: String? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("version", "4")
        w.field("status", n.status)
        w.field("receiver", "ariadne")
        w.field("externalURL", baseURL)
        w.key("alerts")
        w.beginArray()
        w.beginObject()
        w.field("status", n.status)
        w.key("labels")
        w.beginObject()
        w.field("alertname", n.alert.rule)
        w.field("service", n.alert.service)
        if let op = n.alert.operation { w.field("operation", op) }
        if let tenant { w.field("tenant", tenant) }
        w.endObject()
        w.key("annotations")
        w.beginObject()
        w.field("summary", n.alert.summary)
        w.endObject()
        w.field("startsAt", RFC3339.format(n.alert.firedAt ?? n.alert.activeSince ?? now))
        w.field("endsAt", n.status == "resolved" ? RFC3339.format(now) : "0001-01-01T00:00:00Z")
        w.field("generatorURL", baseURL + "/#/alerts")
        w.field("value", n.alert.value)
        w.field("threshold", n.alert.threshold)
        w.key("exampleTraces")
        w.beginArray()
        for id in examples {
            w.beginObject()
            w.field("traceID", id.hex)
            w.field("url", baseURL + "/#/trace/" + id.hex)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        w.endArray()
        w.endObject()
        return w.out
    }
}

extension TraceQuery {
    /// The three longest traces with a span of `service` (and `operation`) starting in the window,
    /// at least `slowerThan` ns long or failed: what a notification or an anomaly points at.
    static func examples(
        service: String, operation: String?, starting window: ClosedRange<UInt64>, slowerThan: UInt64?, failed: Bool
    ) -> TraceQuery {
        var q = TraceQuery(service: service, operation: operation, order: .longest, limit: 3)
        q.startMin = window.lowerBound
        q.startMax = window.upperBound
        q.durationMin = slowerThan
        if failed { q.tags = ["error": "true"] }
        return q
    }
}

/// RED rollups in ClickHouse: each node appends the windows it counted and reads what the
/// others wrote since it last looked. Rows are read once each (by the time they were written,
/// a few seconds behind, so that an insert still under way is not skipped), so sums stay exact.
final class SharedRollups: Sendable {
    let store: ClickHouseStore
    /// This process's rows, which it has in memory already.
    let node = UUID().uuidString
    /// Rows written up to this time have been read.
    private let readThrough = Mutex<UInt64>(0)
    /// How far behind the clock reads stay: longer than an insert takes, plus clock skew.
    static let lag: UInt64 = 10_000_000_000

    init(store: ClickHouseStore) { self.store = store }

    func append(_ cells: [UInt64: [REDKey: LatencyHistogram]]) async throws {
        var rows = [ClickHouseStore.RollupRow]()
        for (w, keys) in cells {
            for (k, h) in keys {
                rows.append(
                    .init(
                        window: w, service: k.service, operation: k.operation, kind: k.kind, status: k.status, sumMs: h.sumMs,
                        maxMs: h.maxMs, buckets: h.buckets))
            }
        }
        try await store.appendRollups(rows, node: node)
    }

    /// Adds the rows other nodes wrote since the last call; returns how many.
    func refresh(into metrics: SpanMetrics, oldest: UInt64) async throws -> Int {
        let now = AnalyticsService.now()
        let upTo = now > Self.lag ? now - Self.lag : 0
        let from = readThrough.withLock { $0 }
        guard upTo > from else { return 0 }
        let rows = try await store.rollups(oldestWindow: oldest, written: (from == 0 ? 0 : from + 1)...upTo, excluding: node)
        for r in rows {
            metrics.restore(
                window: r.window, key: REDKey(service: r.service, operation: r.operation, kind: r.kind, status: r.status),
                histogram: LatencyHistogram(buckets: r.buckets, sumMs: r.sumMs, maxMs: r.maxMs))
        }
        readThrough.withLock { $0 = upTo }
        return rows.count
    }
}

/// RED metrics counted from every span entering the pipeline.
struct REDObserver: SpanObserver {
    let metrics: SpanMetrics
    func observe(_ batch: SpanBatch, now: UInt64) { metrics.record(batch, now: now) }
}

/// Service-graph calls paired from every span entering the pipeline.
struct ServiceGraphObserver: SpanObserver {
    let graph: ServiceGraphMetrics
    func observe(_ batch: SpanBatch, now: UInt64) { graph.record(batch, now: now) }
}
