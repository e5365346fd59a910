import AriadneModel
import AriadneTesting
import AriadneWire
import AriadneWorkload
import Testing

@Suite struct OTLPJSONTests {
    func decode(_ text: String) throws -> (SpanBatch, [SpanRejection]) {
        try OTLPJSON.decodeExportRequest(Array(text.utf8))
    }

    @Test func followsTheOTLPJSONRules() throws {
        let (batch, rejections) = try decode(
            """
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
              "scopeSpans":[{"scope":{"name":"lib","version":"1.0"},"spans":[{
                "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"",
                "name":"GET /cart","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
                "attributes":[{"key":"big","value":{"intValue":"9007199254740993"}},{"key":"n","value":{"intValue":7}},
                  {"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"boolValue":true}},
                  {"key":"raw","value":{"bytesValue":"AAH/"}},{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}},
                  {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"intValue":"1"}}]}}}],
                "status":{"code":2,"message":"oops"},"someFutureField":{"x":[1,2,3]}}]}]}]}
            """)
        #expect(rejections.isEmpty)
        #expect(batch.count == 1)
        let s = batch.span(at: 0)
        #expect(s.traceID.hex == "5b8efff798038103d269b633813fc60c")
        #expect(s.spanID.hex == "eee19b7ec3c1b174")
        #expect(s.parentSpanID == .zero)
        #expect(s.kind == .server)
        #expect(s.startTime == 1_544_712_660_000_000_000)
        #expect(s.endTime == 1_544_712_661_000_000_000)
        #expect(s.statusCode == .error && s.statusMessage == "oops")
        #expect(s.serviceName == "checkout")
        #expect(s.scope.name == "lib")
        #expect(
            s.attributes == [
                KeyValue("big", .int(9_007_199_254_740_993)), KeyValue("n", 7), KeyValue("d", 1.5), KeyValue("b", true),
                KeyValue("raw", .bytes([0, 1, 255])), KeyValue("a", .array(["x"])),
                KeyValue("m", .kvlist([KeyValue("k", 1)])),
            ])
    }

    @Test func badHexIsMalformed() {
        #expect(throws: DecodeError.self) {
            try decode(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}"#)
        }
    }

    @Test func wrongLengthIdIsARejectedSpan() throws {
        let (batch, rejections) = try decode(
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"0102030405060708"}]}]}]}"#)
        #expect(batch.count == 1)
        #expect(rejections.count == 1)
    }

    @Test(arguments: [
        "[1,2]", "{", #"{"resourceSpans":{}}"#, #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}"#,
        #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}"#, "{\"a\":\"\\ud800\"}",
    ])
    func malformedJSONIsRefused(_ text: String) {
        #expect(throws: DecodeError.self) { try decode(text) }
    }

    @Test func workloadRoundTripsThroughJSON() throws {
        var w = Workload(seed: 2)
        let batch = w.batch(spans: 200, start: 1_700_000_000_000_000_000)
        let json = OTLPJSON.encodeTracesData(batch)
        let (decoded, rejections) = try OTLPJSON.decodeExportRequest(json)
        #expect(rejections.isEmpty)
        #expect(decoded.ownedSpansSortedByID == batch.ownedSpansSortedByID)
    }
}

@Suite struct ZipkinTests {
    @Test func zipkinSpansBecomeModelSpans() throws {
        let text = """
            [{"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312","parentId":"0020000000000001","name":"get /api",
              "kind":"SERVER","timestamp":1556604172355737,"duration":1431,
              "localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1"},
              "remoteEndpoint":{"serviceName":"browser","ipv4":"10.0.0.2","port":443},
              "annotations":[{"timestamp":1556604172355800,"value":"wr"}],
              "tags":{"http.method":"GET","error":"boom"}}]
            """
        var batch = SpanBatch()
        var rejections = [SpanRejection]()
        try Array(text.utf8).withUnsafeBytes { try ZipkinJSON.decodeSpans($0, into: &batch, rejections: &rejections) }
        #expect(rejections.isEmpty)
        let s = batch.span(at: 0)
        #expect(s.traceID == TraceID(high: 0, low: 0x463A_C35C_9F64_13AD))
        #expect(s.parentSpanID == SpanID(0x0020_0000_0000_0001))
        #expect(s.kind == .server)
        #expect(s.startTime == 1_556_604_172_355_737_000)
        #expect(s.duration == 1_431_000)
        #expect(s.serviceName == "frontend")
        #expect(s.statusCode == .error && s.statusMessage == "boom")
        #expect(s.attributes.contains(KeyValue("http.method", "GET")))
        #expect(s.attributes.contains(KeyValue("peer.service", "browser")))
        #expect(s.events == [Span.Event(time: 1_556_604_172_355_800_000, name: "wr")])
    }
}

@Suite struct JaegerJSONTests {
    @Test func rendersOTLPSpansTheWayJaegerDoes() throws {
        var b = TraceBuilder(traceID: TraceID(high: 0, low: 0xABC), start: 2_000_000_000)
        let root = b.span("root", service: "front", kind: .server, at: 0, duration: 5_000_000, attributes: [KeyValue("n", 3)])
        b.span(
            "child", service: "back", kind: .client, parent: root, at: 1_000_000, duration: 1_000,
            attributes: [KeyValue("f", 1.5), KeyValue("arr", .array(["a"]))], status: .error, statusMessage: "bad",
            events: [Span.Event(time: 2_001_000_000, name: "retry", attributes: [KeyValue("attempt", 1)])],
            links: [Span.Link(traceID: TraceID(high: 0, low: 0xABC), spanID: SpanID(9))])
        var w = JSONWriter()
        JaegerJSON.writeTrace(b.batch, into: &w)
        let doc = try JSONValue.parse(w.out)
        #expect(doc["traceID"] == .string("0000000000000abc"))
        let spans = doc["spans"]!.arrayValue!
        #expect(spans.count == 2)
        let child = spans[1]
        #expect(child["operationName"] == .string("child"))
        #expect(child["startTime"] == .number("2001000"))
        #expect(child["duration"] == .number("1"))
        let refs = child["references"]!.arrayValue!
        #expect(refs[0]["refType"] == .string("CHILD_OF"))
        #expect(refs[0]["spanID"] == .string(root.hex))
        #expect(refs[1]["refType"] == .string("FOLLOWS_FROM"))
        let tags = child["tags"]!.arrayValue!
        func tag(_ k: String) -> JSONValue? { tags.first { $0["key"] == .string(k) } }
        #expect(tag("f")?["type"] == .string("float64"))
        #expect(tag("arr")?["value"] == .string("[\"a\"]"))
        #expect(tag("span.kind")?["value"] == .string("client"))
        #expect(tag("error")?["value"] == .bool(true))
        #expect(tag("otel.status_code")?["value"] == .string("ERROR"))
        #expect(tag("otel.status_description")?["value"] == .string("bad"))
        #expect(tag("otel.scope.name")?["value"] == .string("ariadne.tests"))
        let log = child["logs"]!.arrayValue![0]
        #expect(log["timestamp"] == .number("2001000"))
        #expect(log["fields"]!.arrayValue![0] == .object([("key", .string("event")), ("type", .string("string")), ("value", .string("retry"))]))
        let processes = doc["processes"]!
        #expect(child["processID"] != spans[0]["processID"])
        guard case .string(let pid) = child["processID"]! else { Issue.record("no process id"); return }
        #expect(processes[pid]?["serviceName"] == .string("back"))
    }
}

@Suite struct GzipTests {
    @Test func roundTripsAndStopsBombs() throws {
        let body = Array(repeating: UInt8(ascii: "a"), count: 1 << 20)
        let packed = Gzip.compress(body)
        #expect(packed.count < 10_000)
        #expect(try Gzip.decompress(packed, limit: 2 << 20) == body)
        #expect(throws: Gzip.Failure.tooLarge(limit: 1000)) { try Gzip.decompress(packed, limit: 1000) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(packed.prefix(20)), limit: 2 << 20) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress([1, 2, 3, 4], limit: 100) }
    }
}

@Suite struct JaegerJSONReaderTests {
    @Test func readsBackWhatItWrites() throws {
        // Microsecond times and scalar attributes: what Jaeger JSON can carry without loss.
        var b = TraceBuilder(traceID: TraceID(high: 7, low: 0xABC), start: 2_000_000_000)
        let root = b.span(
            "GET /", service: "front", kind: .server, at: 0, duration: 5_000_000,
            attributes: [KeyValue("n", 3), KeyValue("ok", true), KeyValue("ratio", 0.25), KeyValue("s", "x")],
            resourceAttributes: [KeyValue("host.name", "h1")])
        b.span(
            "SELECT", service: "db", kind: .client, parent: root, at: 1_000_000, duration: 2_000, status: .error,
            statusMessage: "deadlock", events: [Span.Event(time: 2_001_000_000, name: "retry", attributes: [KeyValue("attempt", 1)])],
            links: [Span.Link(traceID: TraceID(high: 7, low: 0xDEF), spanID: SpanID(9))])
        let file = JaegerJSON.encodeTraces([b.batch])
        let read = try JaegerJSON.decodeTraces(file)
        #expect(read.ownedSpansSortedByID == b.batch.ownedSpansSortedByID)
    }

    @Test(arguments: [
        "[1]", #"{"data": 3}"#, #"{"data": [{"spans": [{"spanID": "01"}]}]}"#,
        #"{"spans": [{"traceID": "1", "spanID": "1", "startTime": -5, "duration": 1}]}"#,
        #"{"spans": [{"traceID": "1", "spanID": "1", "startTime": 5, "duration": 1, "tags": [{"value": 1}]}]}"#,
    ])
    func refusesWhatIsNotJaegerJSON(_ text: String) {
        #expect(throws: DecodeError.self) { try JaegerJSON.decodeTraces(Array(text.utf8)) }
    }
}
