import AriadneModel
import AriadneStorage
import AriadneWire
import Foundation
import Hummingbird
import HummingbirdCore
import HTTPTypes
import NIOCore

/// The query API on the query port: Jaeger v1 JSON (as Jaeger v2.20 serves it to its UI and to
/// Grafana), Jaeger api/v3 (OTLP JSON), /health and /metrics.
struct QueryAPI {
    let reader: any TraceReader
    let metrics: ServerMetrics
    let extraGauges: @Sendable () -> [(name: String, help: String, value: Int)]
    /// Deletes traces (the engine); nil when the store cannot delete.
    var deleter: (@Sendable (TraceQuery?, [TraceID]) async throws -> [TraceID])? = nil
    /// RED metrics, alerts and objectives; nil: their routes are absent.
    var analytics: Analytics? = nil

    /// A client error in a query: 400 with Jaeger's error envelope.
    struct BadRequest: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in
            json { w in
                w.beginObject()
                w.field("status", "Server available")
                w.endObject()
            }
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = metrics.render(extraGauges: extraGauges()) + (analytics?.exposition() ?? "")
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }

        // MARK: Jaeger v1
        router.get("/api/services") { _, _ in
            let services = try await reader.services()
            return envelope(total: services.count) { w in
                w.beginArray()
                for s in services { w.string(s) }
                w.endArray()
            }
        }
        router.get("/api/services/:service/operations") { _, context in
            let service = try context.parameters.require("service")
            let ops = Set(try await reader.operations(service: service, kind: nil).map(\.name)).sorted()
            return envelope(total: ops.count) { w in
                w.beginArray()
                for o in ops { w.string(o) }
                w.endArray()
            }
        }
        router.get("/api/operations") { request, _ in
            let q = request.uri.formParameters
            guard let service = q["service"].map(String.init), !service.isEmpty else {
                return errorEnvelope(.badRequest, "parameter 'service' is required")
            }
            let kind: SpanKind?
            do throws(BadRequest) { kind = try parseKind(q["spanKind"].map(String.init)) } catch { return errorEnvelope(.badRequest, error.message) }
            let ops = try await reader.operations(service: service, kind: kind)
            return envelope(total: ops.count) { w in
                w.beginArray()
                for o in ops {
                    w.beginObject()
                    w.field("name", o.name)
                    w.field("spanKind", o.kind.jaegerName)
                    w.endObject()
                }
                w.endArray()
            }
        }
        router.get("/api/traces/:traceID") { request, context in
            let text = try context.parameters.require("traceID")
            guard let id = TraceID(hex: text) else {
                return errorEnvelope(.badRequest, "malformed trace id '\(text)'")
            }
            let q = request.uri.formParameters
            let window: ClosedRange<UInt64>?
            do throws(BadRequest) {
                // µs on the wire, ns in the store.
                let start = try parseMicros(q["start"], "start").map { $0 * 1000 }
                let end = try parseMicros(q["end"], "end").map { $0 * 1000 }
                window = try timeWindow(start, end)
            } catch { return errorEnvelope(.badRequest, error.message) }
            guard let trace = try await reader.trace(id: id, window: window) else {
                return errorEnvelope(.notFound, "trace not found", traceID: text)
            }
            return envelope(total: 1) { w in
                w.beginArray()
                JaegerJSON.writeTrace(trace, into: &w)
                w.endArray()
            }
        }
        router.get("/api/traces") { request, _ in
            let q = request.uri.formParameters
            let ids = q[values: "traceID"].map(String.init)
            var traces = [SpanBatch]()
            if !ids.isEmpty {
                for text in ids {
                    guard let id = TraceID(hex: text) else { return errorEnvelope(.badRequest, "malformed trace id '\(text)'") }
                    if let t = try await reader.trace(id: id, window: nil) { traces.append(t) }
                }
            } else {
                let query: TraceQuery
                do throws(BadRequest) { query = try jaegerQuery(q) } catch { return errorEnvelope(.badRequest, error.message) }
                traces = try await reader.findTraces(query)
            }
            return envelope(total: traces.count) { w in
                w.beginArray()
                for t in traces { JaegerJSON.writeTrace(t, into: &w) }
                w.endArray()
            }
        }
        router.get("/api/dependencies") { request, _ in
            let q = request.uri.formParameters
            let nowMs = UInt64(Date().timeIntervalSince1970 * 1000)
            guard let endTs = q["endTs"].map({ UInt64($0) }) ?? nowMs,
                let lookback = q["lookback"].map({ UInt64($0) }) ?? UInt64(86_400_000),
                endTs <= UInt64.max / 1_000_000
            else { return errorEnvelope(.badRequest, "endTs and lookback must be integers of milliseconds") }
            let window = (endTs > lookback ? endTs - lookback : 0) * 1_000_000...endTs * 1_000_000
            let links = try await reader.dependencies(window: window)
            return envelope(total: links.count) { w in
                w.beginArray()
                for l in links {
                    w.beginObject()
                    w.field("parent", l.parent)
                    w.field("child", l.child)
                    w.key("callCount")
                    w.int(Int64(l.callCount))
                    w.endObject()
                }
                w.endArray()
            }
        }

        // MARK: Search summaries (Grafana Tempo's /api/search shape)
        router.get("/api/search") { request, _ in
            let query: TraceQuery
            do throws(BadRequest) { query = try tempoSearchQuery(request.uri.formParameters) } catch {
                return v3Error(.badRequest, error.message)
            }
            let summaries = try await reader.summaries(try await reader.findTraceIDs(query))
            return json { w in
                w.beginObject()
                w.key("traces")
                w.beginArray()
                for t in summaries { Self.writeSummary(t, into: &w) }
                w.endArray()
                w.endObject()
            }
        }

        addAnalysisRoutes(to: router)
        addMetricsRoutes(to: router)

        // MARK: Admin
        router.post("/api/admin/delete") { request, _ in
            guard let deleter else {
                return v3Error(.notImplemented, "this store cannot delete traces (use --store engine)")
            }
            let body: JSONValue
            do {
                let buffer = try await request.body.collect(upTo: 1 << 20)
                body = try JSONValue.parse(Array(buffer: buffer))
            } catch {
                return v3Error(.badRequest, "body must be a JSON object of at most 1 MiB: \(error)")
            }
            let request: (TraceQuery?, [TraceID])
            do throws(BadRequest) { request = try deleteRequest(body) } catch { return v3Error(.badRequest, error.message) }
            let deleted = try await deleter(request.0, request.1)
            return json { w in
                w.beginObject()
                w.key("deleted")
                w.int(Int64(deleted.count))
                w.key("traceIDs")
                w.beginArray()
                for id in deleted.prefix(1000) { w.string(id.hex) }
                w.endArray()
                w.endObject()
            }
        }

        // MARK: Jaeger api/v3 (OTLP JSON with nanosecond timestamps)
        router.get("/api/v3/services") { _, _ in
            let services = try await reader.services()
            return json { w in
                w.beginObject()
                w.key("services")
                w.beginArray()
                for s in services { w.string(s) }
                w.endArray()
                w.endObject()
            }
        }
        router.get("/api/v3/operations") { request, _ in
            let q = request.uri.formParameters
            guard let service = (q["service"] ?? q["query.service_name"]).map(String.init), !service.isEmpty else {
                return v3Error(.badRequest, "parameter 'service' is required")
            }
            let kind: SpanKind?
            do throws(BadRequest) { kind = try parseKind((q["spanKind"] ?? q["span_kind"]).map(String.init)) } catch {
                return v3Error(.badRequest, error.message)
            }
            let ops = try await reader.operations(service: service, kind: kind)
            return json { w in
                w.beginObject()
                w.key("operations")
                w.beginArray()
                for o in ops {
                    w.beginObject()
                    w.field("name", o.name)
                    w.field("spanKind", o.kind.jaegerName)
                    w.endObject()
                }
                w.endArray()
                w.endObject()
            }
        }
        router.get("/api/v3/traces/:traceID") { request, context in
            let text = try context.parameters.require("traceID")
            guard let id = TraceID(hex: text) else { return v3Error(.badRequest, "malformed trace id '\(text)'") }
            let q = request.uri.formParameters
            let window: ClosedRange<UInt64>?
            do throws(BadRequest) {
                let start = try parseRFC3339(q["start_time"] ?? q["startTime"], "start_time")
                let end = try parseRFC3339(q["end_time"] ?? q["endTime"], "end_time")
                window = try timeWindow(start, end)
            } catch { return v3Error(.badRequest, error.message) }
            guard let trace = try await reader.trace(id: id, window: window) else {
                return v3Error(.notFound, "trace not found")
            }
            return v3Result(trace)
        }
        router.get("/api/v3/traces") { request, _ in
            let query: TraceQuery
            do throws(BadRequest) { query = try v3Query(request.uri.formParameters) } catch { return v3Error(.badRequest, error.message) }
            var all = SpanBatch()
            for t in try await reader.findTraces(query) { all.append(contentsOf: t) }
            return v3Result(all)
        }
    }

    // MARK: parameters

    func jaegerQuery(_ q: FlatDictionary<Substring, Substring>) throws(BadRequest) -> TraceQuery {
        let service = q["service"].map(String.init) ?? ""
        guard !service.isEmpty || !(q["q"] ?? "").isEmpty else {
            throw BadRequest("parameter 'service' is required (or a filter in 'q')")
        }
        var query = TraceQuery(service: service.isEmpty ? nil : service)
        try applySearchOptions(q, to: &query)
        if let op = q["operation"], !op.isEmpty { query.operation = String(op) }
        query.spanKind = try parseKind(q["spanKind"].map(String.init))
        for tag in q[values: "tag"] {
            guard let colon = tag.firstIndex(of: ":") else { throw BadRequest("malformed 'tag' parameter '\(tag)': expected key:value") }
            query.tags[String(tag[..<colon])] = String(tag[tag.index(after: colon)...])
        }
        if let tags = q["tags"], !tags.isEmpty {
            guard case .object(let members)? = try? JSONValue.parse(String(tags)) else {
                throw BadRequest("malformed 'tags' parameter: expected a JSON object of strings")
            }
            for (k, v) in members {
                guard case .string(let s) = v else { throw BadRequest("malformed 'tags' parameter: value of '\(k)' must be a string") }
                query.tags[k] = s
            }
        }
        let nowMicros = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        let end = try parseMicros(q["end"], "end") ?? nowMicros
        let lookback = try q["lookback"].flatMap { $0 == "custom" || $0.isEmpty ? nil : $0 }.map { text throws(BadRequest) in
            try parseGoDuration(String(text), "lookback") / 1000
        }
        let start = try parseMicros(q["start"], "start") ?? (end - min(end, lookback ?? 2 * 86_400_000_000))
        query.startMin = start * 1000
        query.startMax = end * 1000
        query.durationMin = try q["minDuration"].flatMap { $0.isEmpty ? nil : $0 }.map { t throws(BadRequest) in
            try parseGoDuration(String(t), "minDuration")
        }
        query.durationMax = try q["maxDuration"].flatMap { $0.isEmpty ? nil : $0 }.map { t throws(BadRequest) in
            try parseGoDuration(String(t), "maxDuration")
        }
        if let lo = query.durationMin, let hi = query.durationMax, hi < lo {
            throw BadRequest("'maxDuration' must be greater than or equal to 'minDuration'")
        }
        if let l = q["limit"], !l.isEmpty {
            guard let n = Int(l), n >= 0 else { throw BadRequest("'limit' must be a non-negative integer") }
            query.limit = n == 0 ? 100 : n
        } else {
            query.limit = 100
        }
        return query
    }

    /// Ariadne's additions to a search: `q` (the filter language of ``FilterParser``),
    /// `minTraceDuration`/`maxTraceDuration` (Go durations, bounds on the whole trace) and
    /// `sort` (`mostRecent`, the default, or `longest`).
    func applySearchOptions(_ q: FlatDictionary<Substring, Substring>, to query: inout TraceQuery) throws(BadRequest) {
        if let text = q["q"], !text.isEmpty {
            let parsed: ParsedFilter
            do { parsed = try FilterParser.parse(String(text)) } catch { throw BadRequest(error.description) }
            query.filter = parsed.filter
            query.traceDurationMin = parsed.traceDurationMin
            query.traceDurationMax = parsed.traceDurationMax
        }
        if let t = q["minTraceDuration"], !t.isEmpty { query.traceDurationMin = try parseGoDuration(String(t), "minTraceDuration") }
        if let t = q["maxTraceDuration"], !t.isEmpty { query.traceDurationMax = try parseGoDuration(String(t), "maxTraceDuration") }
        switch q["sort"].map(String.init)?.lowercased() {
        case nil, "", "mostrecent", "most_recent", "recent": query.order = .mostRecent
        case "longest", "longest_first", "longestfirst": query.order = .longest
        case let other?: throw BadRequest("'sort' must be mostRecent or longest, got '\(other)'")
        }
        do { _ = try SpanMatcher(query) } catch { throw BadRequest("\(error)") }
    }

    /// `/api/search` in Grafana Tempo's shape: `q` (filter), `start`/`end` (Unix seconds),
    /// `minDuration`/`maxDuration` (of the whole trace, as in Tempo), `limit`, plus `service`,
    /// `operation` and `sort`.
    func tempoSearchQuery(_ q: FlatDictionary<Substring, Substring>) throws(BadRequest) -> TraceQuery {
        var query = TraceQuery(limit: 20)
        if let s = q["service"], !s.isEmpty { query.service = String(s) }
        if let o = q["operation"], !o.isEmpty { query.operation = String(o) }
        try applySearchOptions(q, to: &query)
        func seconds(_ name: Substring) throws(BadRequest) -> UInt64? {
            guard let t = q[name], !t.isEmpty else { return nil }
            guard let v = UInt64(t), v <= UInt64.max / 1_000_000_000 else {
                throw BadRequest("'\(name)' must be an integer of seconds since the epoch")
            }
            return v * 1_000_000_000
        }
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let end = try seconds("end") ?? now
        query.startMax = end + 999_999_999
        query.startMin = try seconds("start") ?? (end > 3_600_000_000_000 ? end - 3_600_000_000_000 : 0)
        guard query.startMin! <= query.startMax! else { throw BadRequest("'start' is after 'end'") }
        if let t = q["minDuration"], !t.isEmpty { query.traceDurationMin = try parseGoDuration(String(t), "minDuration") }
        if let t = q["maxDuration"], !t.isEmpty { query.traceDurationMax = try parseGoDuration(String(t), "maxDuration") }
        if let l = q["limit"], !l.isEmpty {
            guard let n = Int(l), n > 0 else { throw BadRequest("'limit' must be a positive integer") }
            query.limit = n
        }
        return query
    }

    /// `{"traceIDs": [...], "service", "operation", "tags": {k: v}, "q": filter, "start", "end" (µs)}`: the listed
    /// traces, and every trace with a span matching the conditions. Conditions without a service or
    /// a tag are refused, so that a typo cannot delete everything.
    func deleteRequest(_ body: JSONValue) throws(BadRequest) -> (TraceQuery?, [TraceID]) {
        guard case .object = body else { throw BadRequest("body must be a JSON object") }
        var ids = [TraceID]()
        for v in body["traceIDs"]?.arrayValue ?? [] {
            guard let text = v.stringValue, let id = TraceID(hex: text) else { throw BadRequest("traceIDs must be hex trace ids") }
            ids.append(id)
        }
        var query = TraceQuery(limit: Int.max)
        query.service = body["service"]?.stringValue
        query.operation = body["operation"]?.stringValue
        if case .object(let tags)? = body["tags"] {
            for (k, v) in tags {
                guard let s = v.stringValue else { throw BadRequest("tag '\(k)' must be a string") }
                query.tags[k] = s
            }
        }
        if case .number(let t)? = body["start"] { query.startMin = try parseMicros(Substring(t), "start").map { $0 * 1000 } }
        if case .number(let t)? = body["end"] { query.startMax = try parseMicros(Substring(t), "end").map { $0 * 1000 } }
        if let text = body["q"]?.stringValue, !text.isEmpty {
            do { query.filter = try FilterParser.parse(text).filter } catch { throw BadRequest(error.description) }
            do { _ = try SpanMatcher(query) } catch { throw BadRequest("\(error)") }
        }
        let hasConditions = query.service != nil || !query.tags.isEmpty || query.filter != nil
        if !hasConditions && (query.operation != nil || query.startMin != nil || query.startMax != nil) {
            throw BadRequest("give a service, a tag or a filter with operation, start or end")
        }
        guard hasConditions || !ids.isEmpty else { throw BadRequest("give traceIDs, a service, tags or a filter (q)") }
        return (hasConditions ? query : nil, ids)
    }

    func v3Query(_ q: FlatDictionary<Substring, Substring>) throws(BadRequest) -> TraceQuery {
        func param(_ names: String...) -> String? {
            for n in names { if let v = q[Substring(n)], !v.isEmpty { return String(v) } }
            return nil
        }
        guard let service = param("query.service_name", "query.serviceName") else {
            throw BadRequest("parameter 'query.service_name' is required")
        }
        var query = TraceQuery(service: service)
        query.operation = param("query.operation_name", "query.operationName")
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        query.startMin = try parseRFC3339(param("query.start_time_min", "query.startTimeMin").map { Substring($0) }, "query.start_time_min") ?? (now - 2 * 86_400_000_000_000)
        query.startMax = try parseRFC3339(param("query.start_time_max", "query.startTimeMax").map { Substring($0) }, "query.start_time_max") ?? now
        if let d = param("query.duration_min", "query.durationMin") { query.durationMin = try parseGoDuration(d, "query.duration_min") }
        if let d = param("query.duration_max", "query.durationMax") { query.durationMax = try parseGoDuration(d, "query.duration_max") }
        if let n = param("query.search_depth", "query.searchDepth", "query.num_traces", "query.numTraces") {
            guard let limit = Int(n), limit > 0 else { throw BadRequest("'query.search_depth' must be a positive integer") }
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
    func timeWindow(_ start: UInt64?, _ end: UInt64?) throws(BadRequest) -> ClosedRange<UInt64>? {
        guard start != nil || end != nil else { return nil }
        let lo = start ?? 0
        let hi = end ?? UInt64.max
        guard lo <= hi else { throw BadRequest("the start of the time range is after its end") }
        return lo...hi
    }

    func parseKind(_ text: String?) throws(BadRequest) -> SpanKind? {
        guard let text, !text.isEmpty else { return nil }
        guard let k = SpanKind(jaegerName: text) else {
            throw BadRequest("unsupported span kind '\(text)': use server, client, producer, consumer or internal")
        }
        return k
    }

    func parseMicros(_ text: Substring?, _ name: String) throws(BadRequest) -> UInt64? {
        guard let text, !text.isEmpty else { return nil }
        // Bounded so that the conversion to nanoseconds cannot overflow.
        guard let v = UInt64(text), v <= UInt64.max / 1000 else {
            throw BadRequest("'\(name)' must be an integer of microseconds since the epoch")
        }
        return v
    }

    func parseRFC3339(_ text: Substring?, _ name: String) throws(BadRequest) -> UInt64? {
        guard let text, !text.isEmpty else { return nil }
        guard let ns = RFC3339.parse(String(text)) else { throw BadRequest("'\(name)' must be an RFC 3339 time") }
        return ns
    }

    func parseGoDuration(_ text: String, _ name: String) throws(BadRequest) -> UInt64 {
        guard let ns = GoDuration.parse(text) else {
            throw BadRequest("'\(name)' must be a duration such as 100ms, 1.5s or 2m, got '\(text)'")
        }
        return ns
    }

    // MARK: responses

    func json(_ body: (inout JSONWriter) -> Void, status: HTTPResponse.Status = .ok) -> Response {
        var w = JSONWriter()
        body(&w)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: w.out)))
    }

    /// Jaeger's envelope: {"data": ..., "total": n, "limit": 0, "offset": 0, "errors": null}.
    func envelope(total: Int, _ data: (inout JSONWriter) -> Void) -> Response {
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

    func errorEnvelope(_ status: HTTPResponse.Status, _ message: String, traceID: String? = nil) -> Response {
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

    /// An api/v3 error, shaped like the grpc-gateway status Jaeger returns: {"code", "message"}.
    func v3Error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(
            { w in
                w.beginObject()
                w.key("code")
                w.int(Int64(status.code))
                w.field("message", message)
                w.endObject()
            }, status: status)
    }

    func v3Result(_ batch: SpanBatch) -> Response {
        json { w in
            w.beginObject()
            w.key("result")
            OTLPJSON.encodeTracesData(batch, into: &w)
            w.endObject()
        }
    }
}
