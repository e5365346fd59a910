import AriadneAnalysis
import AriadneModel
import AriadneQuery
import AriadneStorage
import AriadneWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// Ariadne's own JSON for the web UI and for scripts: a trace with its critical path and
/// statistics, a trace read from a file without storing it, the comparison of two traces and
/// the service map. Times are nanoseconds since the epoch as decimal strings (as in OTLP JSON);
/// durations are nanoseconds as numbers.
extension QueryAPI {
    func addAnalysisRoutes(to router: Router<BasicRequestContext>) {
        router.get(
            "/api/analysis/traces/:traceID",
            use: route(.v3) { _, context in
                let trace = try await service.trace(try traceID(try context.parameters.require("traceID")))
                return Self.json { w in Self.writeTraceView(trace, into: &w) }
            })
        // A trace file (OTLP JSON, or Jaeger JSON as Jaeger's UI downloads it) analysed, not stored.
        router.post(
            "/api/analysis/traces",
            use: route(.v3) { request, _ in
                let bytes: [UInt8]
                do {
                    bytes = Array(buffer: try await request.body.collect(upTo: Self.maxFileBytes))
                } catch {
                    return Self.v3Error(.contentTooLarge, "a trace file may be at most \(Self.maxFileBytes >> 20) MiB")
                }
                let batch: SpanBatch
                do { batch = try Self.decodeTraceFile(bytes) } catch { throw QueryError.badRequest("not a trace file: \(error)") }
                let traces = Self.splitByTrace(batch)
                return Self.json { w in
                    w.beginObject()
                    w.key("traces")
                    w.beginArray()
                    for t in traces.prefix(Self.maxFileTraces) { Self.writeTraceView(t, into: &w) }
                    w.endArray()
                    w.key("truncated")
                    w.bool(traces.count > Self.maxFileTraces)
                    w.endObject()
                }
            })
        router.get(
            "/api/analysis/compare",
            use: route(.v3) { request, _ in
                let q = request.uri.formParameters
                guard let a = q["a"].flatMap({ TraceID(hex: String($0)) }), let b = q["b"].flatMap({ TraceID(hex: String($0)) }) else {
                    throw QueryError.badRequest("parameters 'a' and 'b' must be hex trace ids")
                }
                let (ta, tb, nodes) = try await service.compare(a, b)
                return Self.json { w in
                    w.beginObject()
                    for (name, trace) in [("a", ta), ("b", tb)] {
                        w.key(name)
                        Self.writeSummary(TraceSummary(of: trace), into: &w)
                    }
                    w.key("nodes")
                    w.beginArray()
                    for n in nodes {
                        w.beginObject()
                        w.field("depth", n.depth)
                        w.field("service", n.service)
                        w.field("operation", n.operation)
                        for (k, v) in [("countA", n.countA), ("countB", n.countB), ("errorsA", n.errorsA), ("errorsB", n.errorsB)] {
                            w.field(k, v)
                        }
                        w.field("meanNanosA", n.meanA)
                        w.field("meanNanosB", n.meanB)
                        w.field("change", n.change.rawValue)
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                }
            })
        router.get(
            "/api/analysis/bottlenecks",
            use: route(.v3) { request, _ in
                let q = request.uri.formParameters
                guard let endpoint = q["service"].map(String.init), !endpoint.isEmpty, let operation = q["operation"].map(String.init),
                    !operation.isEmpty
                else { throw QueryError.badRequest("parameters 'service' and 'operation' (the endpoint) are required") }
                let query = try analysisQuery(q, service: endpoint, operation: operation, filter: nil)
                let (traces, rows) = try await service.bottlenecks(query, service: endpoint, operation: operation)
                return Self.json { w in
                    w.beginObject()
                    w.field("service", endpoint)
                    w.field("operation", operation)
                    w.field("traces", traces)
                    w.key("bottlenecks")
                    w.beginArray()
                    for r in rows {
                        w.beginObject()
                        w.field("service", r.service)
                        w.field("operation", r.operation)
                        w.field("traces", r.traces)
                        w.field("p50Nanos", r.p50)
                        w.field("p95Nanos", r.p95)
                        w.field("share", r.share)
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                }
            })
        router.get(
            "/api/analysis/error-origins",
            use: route(.v3) { request, _ in
                let q = request.uri.formParameters
                let failing = q["service"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
                let query = try analysisQuery(q, service: failing, operation: nil, filter: .compare(.status, .eq, .string("error")))
                let (traces, origins) = try await service.errorOrigins(query)
                return Self.json { w in
                    w.beginObject()
                    w.field("traces", traces)
                    w.key("origins")
                    w.beginArray()
                    for o in origins {
                        w.beginObject()
                        w.field("service", o.service)
                        w.field("operation", o.operation)
                        w.field("exceptionType", o.exceptionType)
                        w.field("count", o.count)
                        w.key("exampleTraceIDs")
                        w.beginArray()
                        for id in o.exampleTraces { w.string(id.hex) }
                        w.endArray()
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                }
            })
        // The service graph: services and the leaf nodes they call, edges with rate, errors and
        // latency quantiles, and with `step` (a Go duration) calls and errors per step.
        let serviceGraph: Handler = route(.v3) { request, _ in
            let q = request.uri.formParameters
            let window = try analysisWindow(q)
            var step: UInt64? = nil
            if let t = q["step"], !t.isEmpty {
                let ns = try parseGoDuration(String(t), "step")
                guard ns > 0, (window.upperBound - window.lowerBound) / ns <= 10_000 else {
                    throw QueryError.badRequest("'step' must be positive and give at most 10,000 steps")
                }
                step = ns
            }
            let graph = try await service.serviceGraph(window: window, step: step)
            return Self.json { w in
                w.beginObject()
                w.field("start", String(window.lowerBound))
                w.field("end", String(window.upperBound))
                w.key("nodes")
                w.beginArray()
                for n in graph.nodes {
                    w.beginObject()
                    w.field("service", n.service)
                    w.field("type", n.type)
                    w.field("callsIn", n.callsIn)
                    w.field("callsOut", n.callsOut)
                    w.endObject()
                }
                w.endArray()
                w.key("edges")
                w.beginArray()
                for l in graph.edges {
                    w.beginObject()
                    w.field("parent", l.parent)
                    w.field("child", l.child)
                    w.field("connectionType", l.connectionType)
                    w.field("callCount", l.callCount)
                    w.field("errorCount", l.errorCount)
                    w.field("errorRate", l.callCount > 0 ? Double(l.errorCount) / Double(l.callCount) : 0)
                    w.field("ratePerSecond", Double(l.callCount) / graph.seconds)
                    w.field("p50Nanos", l.p50Duration)
                    w.field("p95Nanos", l.p95Duration)
                    w.field("p99Nanos", l.p99Duration)
                    if step != nil {
                        w.key("series")
                        w.beginArray()
                        for c in l.series {
                            w.beginObject()
                            w.field("start", String(c.start))
                            w.field("calls", c.calls)
                            w.field("errors", c.errors)
                            w.endObject()
                        }
                        w.endArray()
                    }
                    w.endObject()
                }
                w.endArray()
                w.endObject()
            }
        }
        router.get("/api/analysis/service-map", use: serviceGraph)
        router.get("/api/analysis/service-graph", use: serviceGraph)
    }

    /// `start`/`end` (µs) or `lookback` (Go duration, default 1h) ending now.
    func analysisWindow(
        _ q: FlatDictionary<Substring, Substring>, defaultLookback: UInt64 = 3_600_000_000_000
    ) throws(QueryError) -> ClosedRange<UInt64> {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let end = try parseMicros(q["end"], "end").map { $0 * 1000 } ?? now
        let lookback =
            try q["lookback"].flatMap { $0.isEmpty ? nil : $0 }.map { t throws(QueryError) in
                try parseGoDuration(String(t), "lookback")
            } ?? defaultLookback
        let start = try parseMicros(q["start"], "start").map { $0 * 1000 } ?? (end - min(end, lookback))
        guard start <= end else { throw QueryError.badRequest("'start' is after 'end'") }
        return start...end
    }

    /// The traces an analysis reads: in the window, with a span meeting the conditions, most recent
    /// first, at most `limit` (default 200, at most 5000) so that an analysis stays bounded.
    func analysisQuery(
        _ q: FlatDictionary<Substring, Substring>, service: String?, operation: String?, filter: SpanFilter?
    ) throws(QueryError) -> TraceQuery {
        let window = try analysisWindow(q)
        var query = TraceQuery(service: service, limit: 200)
        query.operation = operation
        query.filter = filter
        query.startMin = window.lowerBound
        query.startMax = window.upperBound
        if let l = q["limit"], !l.isEmpty {
            guard l.utf8.count <= 6, let n = Int(l), (1...5000).contains(n) else { throw QueryError.badRequest("'limit' must be 1 to 5000 traces") }
            query.limit = n
        }
        return query
    }

    static let maxFileBytes = 64 << 20
    static let maxFileTraces = 1000

    /// OTLP JSON (`{"resourceSpans": ...}`) or Jaeger JSON, told apart by their top-level keys.
    static func decodeTraceFile(_ bytes: [UInt8]) throws(DecodeError) -> SpanBatch {
        let head = String(decoding: bytes.prefix(4096), as: UTF8.self)
        if head.contains("\"resourceSpans\"") || head.contains("\"resource_spans\"") {
            let (batch, rejections) = try OTLPJSON.decodeExportRequest(bytes)
            if let r = rejections.first { throw DecodeError("span \(r.index): \(r.reason)") }
            return batch
        }
        return try JaegerJSON.decodeTraces(bytes)
    }

    static func splitByTrace(_ batch: SpanBatch) -> [SpanBatch] {
        var order = [TraceID]()
        var spans = [TraceID: [Int]]()
        for i in 0..<batch.count {
            if spans[batch.traceIDs[i]] == nil { order.append(batch.traceIDs[i]) }
            spans[batch.traceIDs[i], default: []].append(i)
        }
        return order.map { batch.selecting(spans[$0]!) }
    }

    /// A trace summary in Grafana Tempo's search-result shape, plus span and error counts and services.
    static func writeSummary(_ s: TraceSummary, into w: inout JSONWriter) {
        w.beginObject()
        w.field("traceID", s.traceID.hex)
        w.field("rootServiceName", s.rootService)
        w.field("rootTraceName", s.rootName)
        w.field("startTimeUnixNano", String(s.start))
        let duration = s.end >= s.start ? s.end - s.start : 0
        w.field("durationMs", Int(duration / 1_000_000))
        w.field("durationNanos", duration)
        w.field("spanCount", s.spanCount)
        w.field("errorCount", s.errorCount)
        w.key("services")
        w.beginArray()
        for name in s.services { w.string(name) }
        w.endArray()
        w.endObject()
    }

    /// `{"summary", "trace": OTLP JSON, "criticalPath": [{spanID, startTimeUnixNano, endTimeUnixNano}],
    /// "statistics": [...]}`.
    static func writeTraceView(_ trace: SpanBatch, into w: inout JSONWriter) {
        let tree = TraceTree(trace)
        w.beginObject()
        w.key("summary")
        writeSummary(TraceSummary(of: trace), into: &w)
        w.key("criticalPath")
        w.beginArray()
        for s in CriticalPath.compute(tree) {
            w.beginObject()
            w.field("spanID", trace.spanIDs[s.span].hex)
            w.field("startTimeUnixNano", String(s.start))
            w.field("endTimeUnixNano", String(s.end))
            w.endObject()
        }
        w.endArray()
        w.key("statistics")
        w.beginArray()
        for r in TraceStatistics.compute(tree) {
            w.beginObject()
            w.field("service", r.service)
            w.field("operation", r.operation)
            w.field("count", r.count)
            w.field("errorCount", r.errorCount)
            w.field("totalNanos", r.total)
            w.field("selfNanos", r.selfTime)
            w.field("minNanos", r.min)
            w.field("maxNanos", r.max)
            w.endObject()
        }
        w.endArray()
        w.key("trace")
        OTLPJSON.encodeTracesData(trace, into: &w)
        w.endObject()
    }
}
