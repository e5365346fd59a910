import AriadneModel
import AriadnePipeline
import AriadneQuery
import AriadneStorage
import AriadneWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// The query API on the query port: Jaeger v1 JSON (as Jaeger v2.20 serves it to its UI and to
/// Grafana), Jaeger api/v3 (OTLP JSON), Tempo-shaped search, Ariadne's own JSON, /health and
/// /metrics. Routes parse parameters, ask the ``TraceQueryService`` and render; every error they
/// meet is a ``QueryError`` rendered in the dialect's own shape by ``Dialect``.
struct QueryAPI {
    /// The default tenant's space: what a request outside a ``RequestScope`` reads.
    let home: TenantSpace
    /// Everything `/metrics` shows.
    let registry: MetricsRegistry
    /// The query service of the asking tenant, scoped to what their teams see.
    var service: TraceQueryService { RequestScope.current?.queries ?? home.queries }
    /// The asking tenant's RED metrics, alerts and objectives.
    var analytics: Analytics { RequestScope.current?.space.analytics ?? home.analytics }
    /// The services the asker may see (nil: all).
    var visibility: ServiceVisibility? { service.visibility }
    var logger = Logger(label: "ariadne.query")
    /// Why the node is not ready to do its work (nil: ready), for `/health?ready`.
    var readiness: @Sendable () async -> String? = { nil }

    typealias Handler = @Sendable (Request, AriadneRequestContext) async throws -> Response

    /// The API dialects, each with its own error shape.
    enum Dialect {
        /// Jaeger v1: `{"data": null, "errors": [{"code", "msg", "traceID"?}], ...}`.
        case jaeger
        /// Jaeger api/v3 and Ariadne's JSON: `{"error": {"httpCode", "message"}}` (grpc-gateway's).
        case v3
    }

    /// `body` with its errors rendered in `dialect`'s shape; an error that is not a
    /// ``QueryError`` is an opaque 500, logged with a request id.
    func route(_ dialect: Dialect, _ body: @escaping Handler) -> Handler {
        let logger = logger
        return { request, context in
            do {
                return try await body(request, context)
            } catch {
                var e = QueryError.classify(error)
                if e.code == .internal {
                    let id = Self.requestID()
                    logger.error("query \(request.method) \(request.uri.path) failed [request \(id)]: \(String(describing: e.cause ?? error))")
                    e.message = "internal error (request \(id))"
                }
                return Self.render(e, dialect)
            }
        }
    }

    static let requestCounter = Atomic<UInt64>(0)
    static func requestID() -> String {
        let n = requestCounter.add(1, ordering: .relaxed).newValue
        return String(UInt64(Date().timeIntervalSince1970) &* 1000 &+ n, radix: 36)
    }

    static func status(_ code: QueryError.Code) -> HTTPResponse.Status {
        switch code {
        case .badRequest: return .badRequest
        case .notFound: return .notFound
        case .throttled: return .tooManyRequests
        case .unavailable: return .serviceUnavailable
        case .permanent: return .notImplemented
        case .internal: return .internalServerError
        }
    }

    static func render(_ e: QueryError, _ dialect: Dialect, traceID: String? = nil) -> Response {
        let status = status(e.code)
        var response =
            switch dialect {
            case .jaeger: errorEnvelope(status, e.message, traceID: traceID)
            case .v3: v3Error(status, e.message)
            }
        if e.isRetryable { response.headers[.retryAfter] = "1" }
        return response
    }

    /// `/health` (live: the process serves) and `/health?ready` (503 with the reason until the
    /// node can do its work: its buffer and store reachable), and `/metrics`: what every role serves.
    func addHealthRoutes(to router: Router<AriadneRequestContext>) {
        let readiness = readiness
        router.get("/health") { request, _ in
            let reason = request.uri.queryParameters["ready"] != nil ? await readiness() : nil
            var response = Self.json { w in
                w.beginObject()
                w.field("status", reason == nil ? "Server available" : "not ready")
                if let reason { w.field("reason", reason) }
                w.endObject()
            }
            if reason != nil {
                response.status = .serviceUnavailable
                response.headers[.retryAfter] = "2"
            }
            return response
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = registry.render()
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }

    func addRoutes(to router: Router<AriadneRequestContext>) {
        addHealthRoutes(to: router)
        for dialect in [jaegerRoutes(), v3Routes(), analysisRoutes(), metricsRoutes()] { router.addRoutes(dialect) }

        // MARK: Search summaries (Grafana Tempo's /api/search shape)
        router.get(
            "/api/search",
            use: route(.v3) { request, _ in
                let summaries = try await service.findSummaries(try tempoSearchQuery(request.uri.formParameters))
                return Self.json { w in w.object(["traces": .array(summaries.map(\.json))]) }
            })

        // MARK: Admin
        router.post(
            "/api/admin/delete",
            use: route(.v3) { request, _ in
                // Refused before the body is read, as the store would refuse it after.
                guard service.canDelete else { throw TraceQueryService.cannotDelete }
                let body: JSONValue
                do {
                    let buffer = try await request.body.collect(upTo: 1 << 20)
                    body = try JSONValue.parse(Array(buffer: buffer))
                } catch {
                    throw QueryError.badRequest("body must be a JSON object of at most 1 MiB: \(error)")
                }
                let (query, ids) = try deleteRequest(body)
                let deleted = try await service.delete(matching: query, ids: ids)
                logger.info("deleted \(deleted.count) traces")
                return Self.json { w in w.object(["deleted": .int(deleted.count), "traceIDs": .strings(deleted.prefix(1000).map(\.hex))]) }
            })
    }

    // MARK: Jaeger v1

    /// Jaeger v1 JSON: what Jaeger's UI, Grafana's Jaeger data source and scripts call.
    func jaegerRoutes() -> RouteCollection<AriadneRequestContext> {
        let router = RouteCollection(context: AriadneRequestContext.self)
        router.get(
            "/api/services",
            use: route(.jaeger) { _, _ in
                let services = try await service.services()
                return Self.envelope(total: services.count) { w in w.value(.strings(services)) }
            })
        router.get(
            "/api/services/:service/operations",
            use: route(.jaeger) { _, context in
                // Path parameters arrive as sent: a service named "my svc" is "my%20svc" here.
                let raw = try context.parameters.require("service")
                let name = raw.removingPercentEncoding ?? raw
                let ops = Set(try await service.operations(service: name, kind: nil).map(\.name)).sorted()
                return Self.envelope(total: ops.count) { w in w.value(.strings(ops)) }
            })
        router.get(
            "/api/operations",
            use: route(.jaeger) { request, _ in
                let q = request.uri.formParameters
                guard let name = q["service"].map(String.init), !name.isEmpty else { throw QueryError.badRequest("parameter 'service' is required") }
                let ops = try await service.operations(service: name, kind: try parseKind(q["spanKind"].map(String.init)))
                return Self.envelope(total: ops.count) { w in w.value(.array(ops.map(\.json))) }
            })
        router.get(
            "/api/traces/:traceID",
            use: route(.jaeger) { request, context in
                let text = try context.parameters.require("traceID")
                let id = try traceID(text)
                let q = request.uri.formParameters
                // µs on the wire, ns in the store.
                let window = try timeWindow(
                    try parseMicros(q["start"], "start").map { $0 * 1000 }, try parseMicros(q["end"], "end").map { $0 * 1000 })
                let trace: SpanBatch
                do throws(QueryError) { trace = try await service.trace(id, window: window) } catch {
                    return Self.render(error, .jaeger, traceID: text)
                }
                return Self.envelope(total: 1) { w in
                    w.beginArray()
                    JaegerJSON.writeTrace(trace, into: &w)
                    w.endArray()
                }
            })
        router.get(
            "/api/traces",
            use: route(.jaeger) { request, _ in
                let q = request.uri.formParameters
                let ids = q[values: "traceID"].map(String.init)
                let traces: [SpanBatch]
                if !ids.isEmpty {
                    guard ids.count <= 1000 else { throw QueryError.badRequest("at most 1000 'traceID' parameters") }
                    traces = try await service.traces(try ids.map { t throws(QueryError) in try traceID(t) })
                } else {
                    traces = try await service.findTraces(try jaegerQuery(q))
                }
                return Self.envelope(total: traces.count) { w in
                    w.beginArray()
                    for t in traces { JaegerJSON.writeTrace(t, into: &w) }
                    w.endArray()
                }
            })
        router.get(
            "/api/dependencies",
            use: route(.jaeger) { request, _ in
                let q = request.uri.formParameters
                let nowMs = UInt64(Date().timeIntervalSince1970 * 1000)
                let endTs = try parseInteger(q["endTs"], "endTs", max: UInt64.max / 1_000_000) ?? nowMs
                let lookback = try parseInteger(q["lookback"], "lookback", max: UInt64.max / 1_000_000) ?? 86_400_000
                let window = (endTs > lookback ? endTs - lookback : 0) * 1_000_000...endTs * 1_000_000
                let links = try await service.dependencies(window: window)
                return Self.envelope(total: links.count) { w in w.value(.array(links.map(\.jaegerJSON))) }
            })
        return router
    }

    // MARK: Jaeger api/v3 (OTLP JSON with nanosecond timestamps)

    /// Jaeger api/v3: OTLP JSON.
    func v3Routes() -> RouteCollection<AriadneRequestContext> {
        let router = RouteCollection(context: AriadneRequestContext.self)
        router.get(
            "/api/v3/services",
            use: route(.v3) { _, _ in
                let services = try await service.services()
                return Self.json { w in w.object(["services": .strings(services)]) }
            })
        router.get(
            "/api/v3/operations",
            use: route(.v3) { request, _ in
                let q = request.uri.formParameters
                guard let name = (q["service"] ?? q["query.service_name"]).map(String.init), !name.isEmpty else {
                    throw QueryError.badRequest("parameter 'service' is required")
                }
                let ops = try await service.operations(service: name, kind: try parseKind((q["spanKind"] ?? q["span_kind"]).map(String.init)))
                return Self.json { w in w.object(["operations": .array(ops.map(\.json))]) }
            })
        router.get(
            "/api/v3/traces/:traceID",
            use: route(.v3) { request, context in
                let id = try traceID(try context.parameters.require("traceID"))
                let q = request.uri.formParameters
                let start = try parseRFC3339(q["start_time"] ?? q["startTime"], "start_time")
                let end = try parseRFC3339(q["end_time"] ?? q["endTime"], "end_time")
                return Self.v3Result(try await service.trace(id, window: try timeWindow(start, end)))
            })
        router.get(
            "/api/v3/traces",
            use: route(.v3) { request, _ in
                var all = SpanBatch()
                for t in try await service.findTraces(try v3Query(request.uri.formParameters)) { all.append(contentsOf: t) }
                // As Jaeger answers a search that finds nothing.
                guard !all.isEmpty else { throw QueryError.notFound("No traces found") }
                return Self.v3Result(all)
            })
        return router
    }

    // MARK: parameters

    func jaegerQuery(_ q: FlatDictionary<Substring, Substring>) throws(QueryError) -> TraceQuery {
        // Without a service, as current Jaeger does: attributes, a filter or the window alone.
        let service = q["service"].map(String.init) ?? ""
        var query = TraceQuery(service: service.isEmpty ? nil : service)
        try applySearchOptions(q, to: &query)
        if let op = q["operation"], !op.isEmpty { query.operation = String(op) }
        query.spanKind = try parseKind(q["spanKind"].map(String.init))
        for tag in q[values: "tag"] {
            guard let colon = tag.firstIndex(of: ":") else { throw QueryError.badRequest("malformed 'tag' parameter '\(tag)': expected key:value") }
            query.tags[String(tag[..<colon])] = String(tag[tag.index(after: colon)...])
        }
        if let tags = q["tags"], !tags.isEmpty {
            guard case .object(let members)? = try? JSONValue.parse(String(tags)) else {
                throw QueryError.badRequest("malformed 'tags' parameter: expected a JSON object of strings")
            }
            for (k, v) in members {
                guard case .string(let s) = v else { throw QueryError.badRequest("malformed 'tags' parameter: value of '\(k)' must be a string") }
                query.tags[k] = s
            }
        }
        let nowMicros = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        let end = try parseMicros(q["end"], "end") ?? nowMicros
        let lookback = try q["lookback"].flatMap { $0 == "custom" || $0.isEmpty ? nil : $0 }.map { text throws(QueryError) in
            try parseGoDuration(String(text), "lookback") / 1000
        }
        let start = try parseMicros(q["start"], "start") ?? (end - min(end, lookback ?? 2 * 86_400_000_000))
        guard start <= end else { throw QueryError.badRequest("'start' is after 'end'") }
        query.startMin = start * 1000
        query.startMax = end * 1000
        query.durationMin = try q["minDuration"].flatMap { $0.isEmpty ? nil : $0 }.map { t throws(QueryError) in
            try parseGoDuration(String(t), "minDuration")
        }
        query.durationMax = try q["maxDuration"].flatMap { $0.isEmpty ? nil : $0 }.map { t throws(QueryError) in
            try parseGoDuration(String(t), "maxDuration")
        }
        if let lo = query.durationMin, let hi = query.durationMax, hi < lo {
            throw QueryError.badRequest("'maxDuration' must be greater than or equal to 'minDuration'")
        }
        let limit = try parseLimit(q["limit"], "limit") ?? 0
        query.limit = limit == 0 ? 100 : limit
        return query
    }

    /// Ariadne's additions to a search: `q` (the filter language of ``FilterParser``),
    /// `minTraceDuration`/`maxTraceDuration` (Go durations, bounds on the whole trace) and
    /// `sort` (`mostRecent`, the default, or `longest`).
    func applySearchOptions(_ q: FlatDictionary<Substring, Substring>, to query: inout TraceQuery) throws(QueryError) {
        if let text = q["q"], !text.isEmpty {
            let parsed: ParsedFilter
            do { parsed = try FilterParser.parse(String(text)) } catch { throw QueryError.badRequest(error.description) }
            query.filter = parsed.filter
            query.traceDurationMin = parsed.traceDurationMin
            query.traceDurationMax = parsed.traceDurationMax
        }
        if let t = q["minTraceDuration"], !t.isEmpty { query.traceDurationMin = try parseGoDuration(String(t), "minTraceDuration") }
        if let t = q["maxTraceDuration"], !t.isEmpty { query.traceDurationMax = try parseGoDuration(String(t), "maxTraceDuration") }
        switch q["sort"].map(String.init)?.lowercased() {
        case nil, "", "mostrecent", "most_recent", "recent": query.order = .mostRecent
        case "longest", "longest_first", "longestfirst": query.order = .longest
        case _?: throw QueryError.badRequest("'sort' must be mostRecent or longest")
        }
    }

    /// `/api/search` in Grafana Tempo's shape: `q` (filter), `start`/`end` (Unix seconds),
    /// `minDuration`/`maxDuration` (of the whole trace, as in Tempo), `limit`, plus `service`,
    /// `operation` and `sort`.
    func tempoSearchQuery(_ q: FlatDictionary<Substring, Substring>) throws(QueryError) -> TraceQuery {
        var query = TraceQuery(limit: 20)
        if let s = q["service"], !s.isEmpty { query.service = String(s) }
        if let o = q["operation"], !o.isEmpty { query.operation = String(o) }
        try applySearchOptions(q, to: &query)
        // Seconds up to the year 2554, where nanoseconds since 1970 stop fitting in UInt64 with room
        // for the last second's fraction.
        func seconds(_ name: Substring) throws(QueryError) -> UInt64? {
            try parseInteger(q[name], String(name), max: UInt64.max / 1_000_000_000 - 1).map { $0 * 1_000_000_000 }
        }
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let end = try seconds("end") ?? now
        query.startMax = end + 999_999_999
        query.startMin = try seconds("start") ?? (end > 3_600_000_000_000 ? end - 3_600_000_000_000 : 0)
        guard query.startMin! <= query.startMax! else { throw QueryError.badRequest("'start' is after 'end'") }
        if let t = q["minDuration"], !t.isEmpty { query.traceDurationMin = try parseGoDuration(String(t), "minDuration") }
        if let t = q["maxDuration"], !t.isEmpty { query.traceDurationMax = try parseGoDuration(String(t), "maxDuration") }
        if let n = try parseLimit(q["limit"], "limit") {
            guard n > 0 else { throw QueryError.badRequest("'limit' must be a positive integer") }
            query.limit = n
        }
        return query
    }

    /// `{"traceIDs": [...], "service", "operation", "tags": {k: v}, "q": filter, "start", "end" (µs)}`: the listed
    /// traces, and every trace with a span matching the conditions. Conditions without a service or
    /// a tag are refused, so that a typo cannot delete everything.
    func deleteRequest(_ body: JSONValue) throws(QueryError) -> (TraceQuery?, [TraceID]) {
        guard case .object = body else { throw QueryError.badRequest("body must be a JSON object") }
        var ids = [TraceID]()
        for v in body["traceIDs"]?.arrayValue ?? [] {
            guard let text = v.stringValue, let id = TraceID(hex: text) else { throw QueryError.badRequest("traceIDs must be hex trace ids") }
            ids.append(id)
        }
        var query = TraceQuery(limit: Int.max)
        query.service = body["service"]?.stringValue
        query.operation = body["operation"]?.stringValue
        if case .object(let tags)? = body["tags"] {
            for (k, v) in tags {
                guard let s = v.stringValue else { throw QueryError.badRequest("tag '\(k)' must be a string") }
                query.tags[k] = s
            }
        }
        if case .number(let t)? = body["start"] { query.startMin = try parseMicros(Substring(t), "start").map { $0 * 1000 } }
        if case .number(let t)? = body["end"] { query.startMax = try parseMicros(Substring(t), "end").map { $0 * 1000 } }
        if let text = body["q"]?.stringValue, !text.isEmpty {
            do { query.filter = try FilterParser.parse(text).filter } catch { throw QueryError.badRequest(error.description) }
        }
        let hasConditions = query.service != nil || !query.tags.isEmpty || query.filter != nil
        if !hasConditions && (query.operation != nil || query.startMin != nil || query.startMax != nil) {
            throw QueryError.badRequest("give a service, a tag or a filter with operation, start or end")
        }
        guard hasConditions || !ids.isEmpty else { throw QueryError.badRequest("give traceIDs, a service, tags or a filter (q)") }
        return (hasConditions ? query : nil, ids)
    }

    func v3Query(_ q: FlatDictionary<Substring, Substring>) throws(QueryError) -> TraceQuery {
        func param(_ names: String...) -> String? {
            for n in names { if let v = q[Substring(n)], !v.isEmpty { return String(v) } }
            return nil
        }
        // Without a service, as current Jaeger does.
        var query = TraceQuery(service: param("query.service_name", "query.serviceName"))
        query.operation = param("query.operation_name", "query.operationName")
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        query.startMin =
            try parseRFC3339(param("query.start_time_min", "query.startTimeMin").map { Substring($0) }, "query.start_time_min")
            ?? (now - min(now, 2 * 86_400_000_000_000))
        query.startMax = try parseRFC3339(param("query.start_time_max", "query.startTimeMax").map { Substring($0) }, "query.start_time_max") ?? now
        if let d = param("query.duration_min", "query.durationMin") { query.durationMin = try parseGoDuration(d, "query.duration_min") }
        if let d = param("query.duration_max", "query.durationMax") { query.durationMax = try parseGoDuration(d, "query.duration_max") }
        guard query.startMin! <= query.startMax! else { throw QueryError.badRequest("'query.start_time_min' is after 'query.start_time_max'") }
        if let n = param("query.search_depth", "query.searchDepth", "query.num_traces", "query.numTraces") {
            guard let limit = try parseLimit(Substring(n), "query.search_depth"), limit > 0 else {
                throw QueryError.badRequest("'query.search_depth' must be a positive integer")
            }
            query.limit = limit
        } else {
            query.limit = 100
        }
        try applySearchOptions(q, to: &query)
        for (k, v) in q where k.hasPrefix("query.attributes.") {
            query.tags[String(k.dropFirst("query.attributes.".count))] = String(v)
        }
        if let attrs = param("query.attributes"), case .object(let members)? = try? JSONValue.parse(attrs) {
            for (k, v) in members { if let s = v.stringValue { query.tags[k] = s } }
        }
        return query
    }

    /// The window of a trace lookup, nil when neither bound is given.
    func timeWindow(_ start: UInt64?, _ end: UInt64?) throws(QueryError) -> ClosedRange<UInt64>? {
        guard start != nil || end != nil else { return nil }
        let lo = start ?? 0
        let hi = end ?? UInt64.max
        guard lo <= hi else { throw QueryError.badRequest("the start of the time range is after its end") }
        return lo...hi
    }

    func parseKind(_ text: String?) throws(QueryError) -> SpanKind? {
        guard let text, !text.isEmpty else { return nil }
        guard let k = SpanKind(jaegerName: text) else {
            throw QueryError.badRequest("unsupported span kind '\(text.prefix(64))': use server, client, producer, consumer or internal")
        }
        return k
    }

    /// The most traces one search returns: larger limits are taken as this many.
    static let maxLimit = 1_000_000

    /// A limit: a non-negative integer, clamped to ``maxLimit``.
    func parseLimit(_ text: Substring?, _ name: String) throws(QueryError) -> Int? {
        try parseInteger(text, name, max: UInt64.max).map { Int(min($0, UInt64(Self.maxLimit))) }
    }

    func parseMicros(_ text: Substring?, _ name: String) throws(QueryError) -> UInt64? {
        // Bounded so that the conversion to nanoseconds cannot overflow.
        try parseInteger(text, name, max: UInt64.max / 1000)
    }

    /// A non-negative decimal integer of at most `max`; nil when absent or empty. Every number a
    /// route reads goes through here (or a parser that bounds likewise), so that arithmetic on
    /// it cannot overflow.
    func parseInteger(_ text: Substring?, _ name: String, max: UInt64) throws(QueryError) -> UInt64? {
        guard let text, !text.isEmpty else { return nil }
        guard text.utf8.count <= 20, let v = UInt64(text), v <= max else {
            throw QueryError.badRequest("'\(name)' must be an integer from 0 to \(max)")
        }
        return v
    }

    func traceID(_ text: String) throws(QueryError) -> TraceID {
        guard let id = TraceID(hex: text) else {
            throw QueryError.badRequest("malformed trace id '\(text.prefix(64))': expected up to 32 hex digits")
        }
        return id
    }

    func parseRFC3339(_ text: Substring?, _ name: String) throws(QueryError) -> UInt64? {
        guard let text, !text.isEmpty else { return nil }
        guard let ns = RFC3339.parse(String(text)) else { throw QueryError.badRequest("'\(name)' must be an RFC 3339 time") }
        return ns
    }

    func parseGoDuration(_ text: String, _ name: String) throws(QueryError) -> UInt64 {
        guard let ns = GoDuration.parse(text) else {
            throw QueryError.badRequest("'\(name)' must be a duration such as 100ms, 1.5s or 2m, got '\(text.prefix(64))'")
        }
        return ns
    }

    // MARK: responses

    static func json(_ body: (inout JSONWriter) -> Void, status: HTTPResponse.Status = .ok) -> Response {
        var w = JSONWriter()
        body(&w)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: w.out)))
    }

    /// Jaeger's envelope: {"data": ..., "total": n, "limit": 0, "offset": 0, "errors": null}.
    static func envelope(total: Int, _ data: (inout JSONWriter) -> Void) -> Response {
        json { w in
            w.beginObject()
            w.key("data")
            data(&w)
            w.key("total")
            w.int(Int64(total))
            w.key("limit")
            w.int(0)
            w.key("offset")
            w.int(0)
            w.key("errors")
            w.null()
            w.endObject()
        }
    }

    static func errorEnvelope(_ status: HTTPResponse.Status, _ message: String, traceID: String? = nil) -> Response {
        json(
            { w in
                w.beginObject()
                w.key("data")
                w.null()
                w.key("total")
                w.int(0)
                w.key("limit")
                w.int(0)
                w.key("offset")
                w.int(0)
                w.key("errors")
                w.beginArray()
                w.beginObject()
                w.key("code")
                w.int(Int64(status.code))
                w.field("msg", message)
                if let traceID { w.field("traceID", traceID) }
                w.endObject()
                w.endArray()
                w.endObject()
            }, status: status)
    }

    /// An api/v3 error as Jaeger's HTTP gateway writes it: `{"error": {"httpCode", "message"}}`.
    static func v3Error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(
            { w in
                w.beginObject()
                w.key("error")
                w.beginObject()
                w.key("httpCode")
                w.int(Int64(status.code))
                w.field("message", message)
                w.endObject()
                w.endObject()
            }, status: status)
    }

    static func v3Result(_ batch: SpanBatch) -> Response {
        json { w in
            w.beginObject()
            w.key("result")
            OTLPJSON.encodeTracesData(batch, into: &w)
            w.endObject()
        }
    }
}
