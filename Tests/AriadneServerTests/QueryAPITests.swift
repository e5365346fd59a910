import AriadneModel
import AriadneServer
import AriadneTesting
import AriadneWire
import Foundation
import NIOHTTP1
import Testing

@Suite(.serialized) struct QueryAPITests {
    /// Two traces a minute ago: frontend → backend (slow, user u-1) and frontend → backend → db (error).
    static func seed(_ addr: BoundAddresses) async throws -> (TraceID, TraceID) {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9) - 60_000_000_000
        var a = TraceBuilder(traceID: TraceID(high: 0xAA, low: 1), start: now)
        let ra = a.span("GET /a", service: "frontend", kind: .server, at: 0, duration: 900_000_000)
        a.span(
            "work", service: "backend", kind: .server, parent: ra, at: 1_000_000, duration: 800_000_000,
            attributes: [KeyValue("user.id", "u-1"), KeyValue("retries", 2)])
        var b = TraceBuilder(traceID: TraceID(high: 0xBB, low: 2), start: now + 1_000_000)
        let rb = b.span("GET /b", service: "frontend", kind: .server, at: 0, duration: 20_000_000)
        let wb = b.span("work", service: "backend", kind: .server, parent: rb, at: 1_000, duration: 10_000_000)
        b.span(
            "SELECT", service: "db", kind: .client, parent: wb, at: 2_000, duration: 5_000_000, status: .error,
            statusMessage: "timeout")
        var batch = a.batch
        batch.append(contentsOf: b.batch)
        let r = try await http(
            .POST, "http://\(addr.otlpHTTP)/v1/traces", body: OTLPProtobuf.encodeExportRequest(batch),
            headers: [("Content-Type", "application/x-protobuf")])
        #expect(r.status == 200)
        return (a.traceID, b.traceID)
    }

    func get(_ addr: BoundAddresses, _ path: String) async throws -> (Int, JSONValue) {
        let r = try await http(.GET, "http://\(addr.query)\(path)")
        return (r.status, try JSONValue.parse(r.body))
    }

    func traceIDs(_ doc: JSONValue) -> Set<String> {
        Set((doc["data"]?.arrayValue ?? []).compactMap { $0["traceID"]?.stringValue })
    }

    @Test func jaegerV1Endpoints() async throws {
        try await withServer { addr, _ in
            let (a, b) = try await Self.seed(addr)
            let (_, services) = try await get(addr, "/api/services")
            #expect(services["data"] == .array([.string("backend"), .string("db"), .string("frontend")]))
            #expect(services["total"] == .number("3"))
            #expect(services["errors"] == .null)

            let (_, ops) = try await get(addr, "/api/services/frontend/operations")
            #expect(ops["data"] == .array([.string("GET /a"), .string("GET /b")]))
            let (_, kinds) = try await get(addr, "/api/operations?service=db&spanKind=client")
            #expect(kinds["data"] == .array([.object([("name", .string("SELECT")), ("spanKind", .string("client"))])]))

            let (_, all) = try await get(addr, "/api/traces?service=frontend&lookback=1h")
            #expect(traceIDs(all) == [a.hex, b.hex])
            let (_, byTag) = try await get(addr, "/api/traces?service=backend&tag=user.id:u-1")
            #expect(traceIDs(byTag) == [a.hex])
            // Form encoding, as browsers and curl --data-urlencode write it: '+' is a space.
            let (_, formEncoded) = try await get(addr, "/api/traces?service=backend&q=span.user.id+%3D+%22u-1%22+%26%26+duration+%3E%3D+1ms")
            #expect(traceIDs(formEncoded) == [a.hex])
            let tagsJSON = "%7B%22retries%22%3A%222%22%7D"  // {"retries":"2"}
            let (_, byTags) = try await get(addr, "/api/traces?service=backend&tags=\(tagsJSON)")
            #expect(traceIDs(byTags) == [a.hex])
            let (_, errors) = try await get(addr, "/api/traces?service=db&tag=error:true")
            #expect(traceIDs(errors) == [b.hex])
            let (_, slow) = try await get(addr, "/api/traces?service=backend&minDuration=500ms")
            #expect(traceIDs(slow) == [a.hex])
            let (_, fast) = try await get(addr, "/api/traces?service=backend&maxDuration=0.5s")
            #expect(traceIDs(fast) == [b.hex])
            let (_, op) = try await get(addr, "/api/traces?service=frontend&operation=GET%20/b")
            #expect(traceIDs(op) == [b.hex])
            let (_, limited) = try await get(addr, "/api/traces?service=frontend&limit=1")
            #expect(traceIDs(limited) == [b.hex])
            let (_, byIDs) = try await get(addr, "/api/traces?traceID=\(a.hex)&traceID=\(b.hex)")
            #expect(traceIDs(byIDs) == [a.hex, b.hex])

            let (status, bad) = try await get(addr, "/api/traces?service=backend&minDuration=1s&maxDuration=1ms")
            #expect(status == 400)
            #expect(bad["errors"]?.arrayValue?.first?["code"] == .number("400"))
            // No service, as current Jaeger allows: by attributes alone.
            let (noService, anyService) = try await get(addr, "/api/traces?tags=\(tagsJSON)")
            #expect(noService == 200)
            #expect(traceIDs(anyService) == [a.hex])
            let (badDuration, _) = try await get(addr, "/api/traces?service=x&minDuration=fast")
            #expect(badDuration == 400)

            let (notFound, nf) = try await get(addr, "/api/traces/00000000000000000000000000000abc")
            #expect(notFound == 404)
            #expect(nf["data"] == .null)
            #expect(nf["errors"]?.arrayValue?.first?["msg"] == .string("trace not found"))

            // Optional time range on a lookup, in µs: outside it the trace is not found.
            let startUs = (Date().timeIntervalSince1970 - 3600) * 1e6
            let (inRange, _) = try await get(addr, "/api/traces/\(b.hex)?start=\(UInt64(startUs))")
            #expect(inRange == 200)
            let (outOfRange, _) = try await get(addr, "/api/traces/\(b.hex)?end=\(UInt64(startUs))")
            #expect(outOfRange == 404)
            let (inverted, _) = try await get(addr, "/api/traces/\(b.hex)?start=20&end=10")
            #expect(inverted == 400)
            let (huge, _) = try await get(addr, "/api/traces/\(b.hex)?start=18446744073709551615")
            #expect(huge == 400)

            let (_, trace) = try await get(addr, "/api/traces/\(b.hex)")
            let t = trace["data"]!.arrayValue![0]
            #expect(t["spans"]?.arrayValue?.count == 3)
            #expect(t["processes"]?["p1"] != nil)
            let db = t["spans"]!.arrayValue!.first { $0["operationName"] == .string("SELECT") }!
            #expect(db["references"]?.arrayValue?.first?["refType"] == .string("CHILD_OF"))

            let nowMs = UInt64(Date().timeIntervalSince1970 * 1000)
            let (_, deps) = try await get(addr, "/api/dependencies?endTs=\(nowMs)&lookback=3600000")
            let links = deps["data"]!.arrayValue!
            #expect(links.contains(.object([("parent", .string("frontend")), ("child", .string("backend")), ("callCount", .number("2"))])))
            #expect(links.contains(.object([("parent", .string("backend")), ("child", .string("db")), ("callCount", .number("1"))])))
        }
    }

    @Test func jaegerV3Endpoints() async throws {
        try await withServer { addr, _ in
            let (a, b) = try await Self.seed(addr)
            let (_, services) = try await get(addr, "/api/v3/services")
            #expect(services["services"] == .array([.string("backend"), .string("db"), .string("frontend")]))
            let (_, ops) = try await get(addr, "/api/v3/operations?service=backend&spanKind=server")
            #expect(ops["operations"] == .array([.object([("name", .string("work")), ("spanKind", .string("server"))])]))

            let (_, trace) = try await get(addr, "/api/v3/traces/\(a.hex)")
            let spans = trace["result"]?["resourceSpans"]?.arrayValue?.flatMap {
                $0["scopeSpans"]!.arrayValue!.flatMap { $0["spans"]!.arrayValue! }
            }
            #expect(spans?.count == 2)
            // OTLP JSON: hex ids, integer kinds, nanosecond timestamps as strings.
            #expect(spans?.first?["traceId"] == .string(a.hex))
            #expect(spans?.first?["kind"] == .number("2"))
            if case .string(let start)? = spans?.first?["startTimeUnixNano"] {
                #expect(start.count == 19)
            } else {
                Issue.record("startTimeUnixNano is not a string")
            }

            let minTime = "2000-01-01T00:00:00Z"
            let (_, search) = try await get(
                addr, "/api/v3/traces?query.service_name=db&query.start_time_min=\(minTime)")
            let found = Set(
                search["result"]?["resourceSpans"]?.arrayValue?.flatMap {
                    $0["scopeSpans"]!.arrayValue!.flatMap { $0["spans"]!.arrayValue!.compactMap { $0["traceId"]?.stringValue } }
                } ?? [])
            #expect(found == [b.hex])
            let (_, noService) = try await get(addr, "/api/v3/traces?query.start_time_min=\(minTime)&query.attributes.retries=2")
            #expect(noService["result"]?["resourceSpans"]?.arrayValue?.isEmpty == false)
            // Nothing found is 404 in Jaeger's error shape, as Jaeger answers.
            let (missing, empty) = try await get(addr, "/api/v3/traces?query.service_name=nobody")
            #expect(missing == 404)
            #expect(empty["error"]?["httpCode"] == .number("404"))
            let (bad, badBody) = try await get(addr, "/api/v3/traces?query.start_time_min=yesterday")
            #expect(bad == 400)
            #expect(badBody["error"]?["message"]?.stringValue?.contains("RFC 3339") == true)
        }
    }

    @Test func filtersTraceDurationSortAndSummaries() async throws {
        try await withServer { addr, _ in
            let (a, b) = try await Self.seed(addr)
            func q(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
            let (_, typed) = try await get(addr, "/api/traces?q=\(q("span.retries >= 2 && service = \"backend\""))")
            #expect(traceIDs(typed) == [a.hex])
            let (_, or) = try await get(addr, "/api/traces?q=\(q("status = error || span.user.id =~ \"u-.*\""))")
            #expect(traceIDs(or) == [a.hex, b.hex])
            let (_, slow) = try await get(addr, "/api/traces?service=frontend&minTraceDuration=500ms")
            #expect(traceIDs(slow) == [a.hex])
            let (_, longest) = try await get(addr, "/api/traces?service=frontend&sort=longest&limit=1")
            #expect(traceIDs(longest) == [a.hex])
            let (_, recent) = try await get(addr, "/api/traces?service=frontend&limit=1")
            #expect(traceIDs(recent) == [b.hex])
            let (bad, badDoc) = try await get(addr, "/api/traces?q=\(q("span.x =~ \"(\""))")
            #expect(bad == 400)
            #expect(badDoc["errors"]?.arrayValue?.first?["msg"]?.stringValue?.contains("regular expression") == true)
            let (badSyntax, _) = try await get(addr, "/api/traces?q=\(q("span.x = "))")
            #expect(badSyntax == 400)

            // Tempo's /api/search: summaries without spans.
            let (status, found) = try await get(addr, "/api/search?q=\(q("{ status = error }"))")
            #expect(status == 200)
            let traces = found["traces"]?.arrayValue ?? []
            #expect(traces.count == 1)
            #expect(traces.first?["traceID"]?.stringValue == b.hex)
            #expect(traces.first?["rootServiceName"]?.stringValue == "frontend")
            #expect(traces.first?["rootTraceName"]?.stringValue == "GET /b")
            #expect(traces.first?["durationMs"] == .number("20"))
            #expect(traces.first?["spanCount"] == .number("3"))
            #expect(traces.first?["errorCount"] == .number("1"))
            #expect(traces.first?["services"] == .array([.string("backend"), .string("db"), .string("frontend")]))
            let (_, long) = try await get(addr, "/api/search?minDuration=500ms")
            #expect((long["traces"]?.arrayValue ?? []).compactMap { $0["traceID"]?.stringValue } == [a.hex])
            let (badTime, _) = try await get(addr, "/api/search?start=soon")
            #expect(badTime == 400)
        }
    }

    @Test func adminDeleteHidesTracesAtOnce() async throws {
        try await withServer { addr, _ in
            let (a, b) = try await Self.seed(addr)
            let url = "http://\(addr.query)/api/admin/delete"
            let r = try await http(.POST, url, body: Array(#"{"service":"backend","tags":{"user.id":"u-1"}}"#.utf8))
            #expect(r.status == 200)
            let doc = try JSONValue.parse(r.body)
            #expect(doc["deleted"] == .number("1"))
            #expect(doc["traceIDs"] == .array([.string(a.hex)]))
            let (gone, _) = try await get(addr, "/api/traces/\(a.hex)")
            #expect(gone == 404)
            let (kept, _) = try await get(addr, "/api/traces/\(b.hex)")
            #expect(kept == 200)
            let (_, search) = try await get(addr, "/api/traces?service=frontend")
            #expect(traceIDs(search) == [b.hex])
            let byID = try await http(.POST, url, body: Array("{\"traceIDs\":[\"\(b.hex)\"]}".utf8))
            #expect(byID.status == 200)
            let (goneToo, _) = try await get(addr, "/api/traces/\(b.hex)")
            #expect(goneToo == 404)
            #expect(try await http(.POST, url, body: Array("{}".utf8)).status == 400)
            #expect(try await http(.POST, url, body: Array(#"{"operation":"work"}"#.utf8)).status == 400)
            #expect(try await http(.POST, url, body: Array("not json".utf8)).status == 400)
        }
    }

    @Test func healthMetricsAndSampling() async throws {
        try await withServer { addr, _ in
            _ = try await Self.seed(addr)
            let metrics = try await http(.GET, "http://\(addr.query)/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("ariadne_receiver_spans_accepted_total{receiver=\"otlp\",transport=\"http\"} 5"))
            #expect(metrics.text.contains("ariadne_storage_spans_stored_total"))
            #expect(metrics.text.contains("# TYPE ariadne_receiver_spans_refused_total counter"))
            let sampling = try await http(.GET, "http://\(addr.sampling)/?service=frontend")
            let doc = try JSONValue.parse(sampling.body)
            #expect(doc["strategyType"] == .string("PROBABILISTIC"))
            let alias = try await http(.GET, "http://\(addr.sampling)/sampling?service=frontend")
            #expect(alias.status == 200)
            let missing = try await http(.GET, "http://\(addr.sampling)/")
            #expect(missing.status == 400)
            let twice = try await http(.GET, "http://\(addr.sampling)/?service=a&service=b")
            #expect(twice.status == 400)
        }
    }
}

@Suite(.serialized) struct AnalysisAPITests {
    func get(_ addr: BoundAddresses, _ path: String) async throws -> (Int, JSONValue) {
        let r = try await http(.GET, "http://\(addr.query)\(path)")
        return (r.status, try JSONValue.parse(r.body))
    }

    @Test func traceViewCompareAndServiceMap() async throws {
        try await withServer { addr, _ in
            let (a, b) = try await QueryAPITests.seed(addr)
            let (status, view) = try await get(addr, "/api/analysis/traces/\(b.hex)")
            #expect(status == 200)
            #expect(view["summary"]?["spanCount"] == .number("3"))
            #expect(view["summary"]?["errorCount"] == .number("1"))
            // frontend 0–20 ms → backend 1 µs–10 ms → db 2 µs–5 ms: root, backend, db, backend, root.
            let path = view["criticalPath"]?.arrayValue ?? []
            #expect(path.count == 5)
            let names = (view["statistics"]?.arrayValue ?? []).compactMap { $0["operation"]?.stringValue }
            #expect(Set(names) == ["GET /b", "work", "SELECT"])
            let first = (view["statistics"]?.arrayValue ?? []).first
            #expect(first?["operation"] == .string("GET /b"))  // most self time: 10 ms of its 20
            #expect(view["trace"]?["resourceSpans"]?.arrayValue?.isEmpty == false)

            let (missing, _) = try await get(addr, "/api/analysis/traces/\(TraceID(high: 9, low: 9).hex)")
            #expect(missing == 404)
            let (malformed, _) = try await get(addr, "/api/analysis/traces/xyz")
            #expect(malformed == 400)

            let (_, diff) = try await get(addr, "/api/analysis/compare?a=\(a.hex)&b=\(b.hex)")
            let changes = (diff["nodes"]?.arrayValue ?? []).map { ($0["operation"]?.stringValue ?? "", $0["change"]?.stringValue ?? "") }
            #expect(changes.map(\.0) == ["GET /a", "work", "GET /b", "work", "SELECT"])
            #expect(changes.map(\.1) == ["removed", "removed", "added", "added", "added"])
            let (noB, _) = try await get(addr, "/api/analysis/compare?a=\(a.hex)")
            #expect(noB == 400)

            let (_, map) = try await get(addr, "/api/analysis/service-map?lookback=1h")
            let edges = map["edges"]?.arrayValue ?? []
            #expect(edges.map { "\($0["parent"]!.stringValue!)>\($0["child"]!.stringValue!)" } == ["backend>db", "frontend>backend"])
            #expect(edges[0]["errorRate"] == .number("1.0") || edges[0]["errorRate"] == .number("1"))
            #expect(edges[0]["p95Nanos"] == .number("5000000"))
            #expect((map["nodes"]?.arrayValue ?? []).count == 3)
            let (badLookback, _) = try await get(addr, "/api/analysis/service-map?lookback=soon")
            #expect(badLookback == 400)

            let (_, origins) = try await get(addr, "/api/analysis/error-origins?lookback=1h")
            let origin = origins["origins"]?.arrayValue?.first
            #expect(origins["traces"] == .number("1"))
            #expect(origin?["service"] == .string("db") && origin?["operation"] == .string("SELECT"))
            #expect(origin?["exampleTraceIDs"] == .array([.string(b.hex)]))
            let (_, bottlenecks) = try await get(addr, "/api/analysis/bottlenecks?service=frontend&operation=GET%20/b&lookback=1h")
            #expect(bottlenecks["traces"] == .number("1"))
            let rows = bottlenecks["bottlenecks"]?.arrayValue ?? []
            #expect(rows.compactMap { $0["operation"]?.stringValue } == ["GET /b", "work", "SELECT"])
            let (noOperation, _) = try await get(addr, "/api/analysis/bottlenecks?service=frontend")
            #expect(noOperation == 400)
        }
    }

    @Test func traceFilesAreAnalysedNotStored() async throws {
        try await withServer { addr, _ in
            var t = TraceBuilder(traceID: TraceID(high: 0xF1, low: 1), start: 1_000_000_000)
            let root = t.span("GET /file", service: "front", kind: .server, at: 0, duration: 10_000_000)
            t.span("child", service: "back", parent: root, at: 1_000_000, duration: 1_000_000)
            let file = JaegerJSON.encodeTraces([t.batch])
            for body in [file, OTLPJSON.encodeTracesData(t.batch)] {
                let r = try await http(.POST, "http://\(addr.query)/api/analysis/traces", body: body)
                #expect(r.status == 200)
                let doc = try JSONValue.parse(r.body)
                let views = doc["traces"]?.arrayValue ?? []
                #expect(views.count == 1)
                #expect(views.first?["summary"]?["rootTraceName"] == .string("GET /file"))
                #expect(views.first?["summary"]?["spanCount"] == .number("2"))
            }
            let bad = try await http(.POST, "http://\(addr.query)/api/analysis/traces", body: Array("{\"nope\": 1}".utf8))
            #expect(bad.status == 400)
            #expect(String(decoding: bad.body, as: UTF8.self).contains("not a trace file"))
            let (stored, _) = try await get(addr, "/api/traces/\(t.traceID.hex)")
            #expect(stored == 404)
        }
    }

    @Test func servesTheWebUI() async throws {
        try await withServer { addr, _ in
            let index = try await http(.GET, "http://\(addr.query)/")
            #expect(index.status == 200)
            let html = String(decoding: index.body, as: UTF8.self)
            #expect(html.contains("<script type=\"module\" src=\"/ui/app.js\"></script>"))
            // Every module app.js imports, and what they import, is served.
            var pending = ["app.js", "style.css"]
            var seen = Set<String>()
            while let name = pending.popLast() {
                guard seen.insert(name).inserted else { continue }
                let r = try await http(.GET, "http://\(addr.query)/ui/\(name)")
                #expect(r.status == 200, "\(name)")
                let text = String(decoding: r.body, as: UTF8.self)
                for line in text.split(separator: "\n") where line.hasPrefix("import ") {
                    if let from = line.range(of: "from './") {
                        pending.append(String(line[from.upperBound...].prefix { $0 != "'" }))
                    }
                }
            }
            #expect(seen.count >= 7)
            let missing = try await http(.GET, "http://\(addr.query)/ui/nope.js")
            #expect(missing.status == 404)
        }
    }
}
