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
    /// Ariadne's trace analyses.
    func analysisRoutes() -> RouteCollection<AriadneRequestContext> {
        let router = RouteCollection(context: AriadneRequestContext.self)
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
                    w.object(["a": TraceSummary(of: ta).json, "b": TraceSummary(of: tb).json, "nodes": .array(nodes.map(\.json))])
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
                    w.object([
                        "service": .string(endpoint), "operation": .string(operation), "traces": .int(traces),
                        "bottlenecks": .array(rows.map(\.json)),
                    ])
                }
            })
        router.get(
            "/api/analysis/error-origins",
            use: route(.v3) { request, _ in
                let q = request.uri.formParameters
                let failing = q["service"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
                let query = try analysisQuery(q, service: failing, operation: nil, filter: .compare(.status, .eq, .string("error")))
                let (traces, origins) = try await service.errorOrigins(query)
                return Self.json { w in w.object(["traces": .int(traces), "origins": .array(origins.map(\.json))]) }
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
                w.object([
                    "start": .nanos(window.lowerBound), "end": .nanos(window.upperBound), "nodes": .array(graph.nodes.map(\.json)),
                    "edges": .array(graph.edges.map { $0.edgeJSON(seconds: graph.seconds, series: step != nil) }),
                ])
            }
        }
        router.get("/api/analysis/service-map", use: serviceGraph)
        router.get("/api/analysis/service-graph", use: serviceGraph)
        return router
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

    /// `{"summary", "trace": OTLP JSON, "criticalPath": [{spanID, startTimeUnixNano, endTimeUnixNano}],
    /// "statistics": [...]}`.
    static func writeTraceView(_ trace: SpanBatch, into w: inout JSONWriter) {
        let tree = TraceTree(trace)
        w.beginObject()
        w.key("summary")
        w.value(TraceSummary(of: trace).json)
        w.key("criticalPath")
        w.value(
            .array(
                CriticalPath.compute(tree).map {
                    .object(["spanID": .string(trace.spanIDs[$0.span].hex), "startTimeUnixNano": .nanos($0.start), "endTimeUnixNano": .nanos($0.end)])
                }))
        w.key("statistics")
        w.value(.array(TraceStatistics.compute(tree).map(\.json)))
        w.key("trace")
        OTLPJSON.encodeTracesData(trace, into: &w)
        w.endObject()
    }
}
