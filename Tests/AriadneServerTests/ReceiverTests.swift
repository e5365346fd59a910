import AriadneExport
import AriadneLoadgen
import AriadneModel
import AriadnePipeline
import AriadneStorage
import AriadneTesting
import AriadneWire
import AriadneWorkload
import GRPCCore
import HTTPTypes
import NIOHTTP1
import Testing

@testable import AriadneServer

@Suite(.serialized) struct ReceiverTests {
    static let t0: UInt64 = 1_700_000_000_000_000_000

    func twoSpanRequest(badSecond: Bool) -> (TraceID, [UInt8]) {
        var b = TraceBuilder(traceID: TraceID(high: 0x11, low: 0x22), start: Self.t0)
        let root = b.span("GET /", service: "web", kind: .server, at: 0, duration: 1_000_000)
        b.span("child", service: "web", parent: root, at: 10, duration: 10)
        var batch = b.batch
        if badSecond { batch.spanIDs[1] = .zero }
        return (b.traceID, OTLPProtobuf.encodeExportRequest(batch))
    }

    @Test func otlpHTTPProtobufWithPartialSuccess() async throws {
        try await withServer { addr, _ in
            let (id, body) = twoSpanRequest(badSecond: true)
            let r = try await http(
                .POST, "http://\(addr.otlpHTTP)/v1/traces", body: body, headers: [("Content-Type", "application/x-protobuf")])
            #expect(r.status == 200)
            #expect(r.headers.first(name: "Content-Type") == "application/x-protobuf")
            let (rejected, message) = try OTLPProtobuf.decodeExportResponse(r.body)
            #expect(rejected == 1)
            #expect(message.contains("span id"))
            let trace = try await http(.GET, "http://\(addr.query)/api/traces/\(id.hex)")
            #expect(trace.status == 200)
            let doc = try JSONValue.parse(trace.body)
            #expect(doc["data"]?.arrayValue?.first?["spans"]?.arrayValue?.count == 1)
        }
    }

    @Test func otlpHTTPJSONAnswersInJSONAndAcceptsGzip() async throws {
        try await withServer { addr, _ in
            var w = Workload(seed: 5)
            let batch = w.batch(spans: 100, start: Self.t0)
            let body = Gzip.compress(OTLPJSON.encodeTracesData(batch))
            let r = try await http(
                .POST, "http://\(addr.otlpHTTP)/v1/traces", body: body,
                headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
            #expect(r.status == 200)
            #expect(r.headers.first(name: "Content-Type") == "application/json")
            #expect(r.text == "{}")
            let trace = try await http(.GET, "http://\(addr.query)/api/v3/traces/\(batch.traceIDs[0].hex)")
            #expect(trace.status == 200)
            let doc = try JSONValue.parse(trace.body)
            let (decoded, _) = try OTLPJSON.decodeExportRequest(
                Array(OTLPJSONTestHelpers.reserialize(doc["result"]!).utf8))
            let expected = batch.spans(ofTrace: batch.traceIDs[0])
            #expect(decoded.ownedSpansSortedByID == expected.ownedSpansSortedByID)
        }
    }

    @Test func errorsFollowTheOTLPSpec() async throws {
        try await withServer(configure: { $0.maxBodyBytes = 100_000 }) { addr, _ in
            let url = "http://\(addr.otlpHTTP)/v1/traces"
            let wrongType = try await http(.POST, url, body: [1, 2, 3], headers: [("Content-Type", "text/plain")])
            #expect(wrongType.status == 415)

            let truncated = try await http(.POST, url, body: [0x0A, 0x80], headers: [("Content-Type", "application/x-protobuf")])
            #expect(truncated.status == 400)
            // The body is a google.rpc.Status: code 3 (INVALID_ARGUMENT) and a message.
            #expect(truncated.body.first == 0x08 && truncated.body[1] == 3)
            #expect(truncated.text.contains("malformed"))

            let badJSON = try await http(.POST, url, body: Array("{\"resourceSpans\":".utf8), headers: [("Content-Type", "application/json")])
            #expect(badJSON.status == 400)
            let status = try JSONValue.parse(badJSON.body)
            #expect(status["code"] == .number("3"))

            let big = try await http(
                .POST, url, body: Array(repeating: 0, count: 200_000), headers: [("Content-Type", "application/x-protobuf")])
            #expect(big.status == 413)

            let bomb = Gzip.compress(Array(repeating: 0, count: 10_000_000))
            let bombed = try await http(
                .POST, url, body: bomb,
                headers: [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")])
            #expect(bombed.status == 413)

            // Still serving.
            let (_, good) = twoSpanRequest(badSecond: false)
            let ok = try await http(.POST, url, body: good, headers: [("Content-Type", "application/x-protobuf")])
            #expect(ok.status == 200)
            let health = try await http(.GET, "http://\(addr.query)/health")
            #expect(health.status == 200)
        }
    }

    @Test func otlpGRPCExportsAndRefusesMalformedMessages() async throws {
        try await withServer { addr, server in
            let parts = addr.otlpGRPC.split(separator: ":")
            let sender = try GRPCSender(host: String(parts[0]), port: Int(parts[1])!)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await sender.run() }
                var w = Workload(seed: 9)
                let batch = w.batch(spans: 200, start: Self.t0)
                let rejected = try await sender.send(OTLPProtobuf.encodeExportRequest(batch), spanCount: batch.count)
                #expect(rejected == 0)
                do {
                    _ = try await sender.send([0x0A, 0xFF, 0xFF], spanCount: 0)
                    Issue.record("malformed gRPC message was accepted")
                } catch let e as SendFailure {
                    #expect(!e.retryable)
                    #expect(e.message.contains("malformed"))
                }
                let (_, partial) = twoSpanRequest(badSecond: true)
                #expect(try await sender.send(partial, spanCount: 2) == 1)
                sender.close()
                try await group.waitForAll()
                #expect(server.spanCount == batch.count + 1)
            }
        }
    }

    @Test func zipkinSpansAreAccepted() async throws {
        try await withServer { addr, _ in
            let body = """
                [{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get","kind":"SERVER",
                  "timestamp":1556604172355737,"duration":1431,"localEndpoint":{"serviceName":"zfront"}},
                 {"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496d","parentId":"6b221d5bc9e6496c","name":"query",
                  "kind":"CLIENT","timestamp":1556604172355800,"duration":500,"localEndpoint":{"serviceName":"zback"}}]
                """
            let r = try await http(
                .POST, "http://\(addr.zipkin)/api/v2/spans", body: Array(body.utf8), headers: [("Content-Type", "application/json")])
            #expect(r.status == 202)
            let trace = try await http(.GET, "http://\(addr.query)/api/traces/5af7183fb1d4cf5f")
            let doc = try JSONValue.parse(trace.body)
            #expect(doc["data"]?.arrayValue?.first?["spans"]?.arrayValue?.count == 2)
            let bad = try await http(
                .POST, "http://\(addr.zipkin)/api/v2/spans", body: Array("{}".utf8), headers: [("Content-Type", "application/json")])
            #expect(bad.status == 400)
        }
    }

    @Test func ingestorPushesBackWhenOverItsInFlightBudget() throws {
        let ingestor = Ingestor(
            consumer: FanOutConsumer([]), metrics: ServerMetrics(), maxBodyBytes: 1000, maxInFlightBytes: 1000)
        try ingestor.admit(bytes: 800, receiver: "otlp", transport: "http")
        #expect(throws: IngestError.self) { try ingestor.admit(bytes: 800, receiver: "otlp", transport: "http") }
        ingestor.release(bytes: 800)
        try ingestor.admit(bytes: 800, receiver: "otlp", transport: "http")
        let e = IngestError(.throttled, "busy", retryAfterSeconds: 2)
        #expect(ErrorMapping.httpStatus(e).code == 429)
        #expect(ErrorMapping.rpcError(e).code.rawValue == 14)  // UNAVAILABLE
        #expect(ErrorMapping.httpStatus(IngestError(.invalidData, "x")).code == 400)
        #expect(ErrorMapping.rpcError(IngestError(.invalidData, "x")).code.rawValue == 3)  // INVALID_ARGUMENT
        #expect(ErrorMapping.httpStatus(IngestError(.tooLarge, "x")).code == 413)
    }

    struct StoreFailure: RetryableError {
        var isRetryable: Bool
    }

    struct FailingStore: SpanConsumer {
        let error: StoreFailure
        func consume(_ batch: SpanBatch) async throws { throw error }
    }

    /// A store that is behind answers 503 (retry), one that fails for good 500 (do not), decided
    /// by what the store's error says of itself.
    @Test func storeFailuresAreClassifiedByTheStoresOwnWord() async throws {
        var b = TraceBuilder(traceID: TraceID(high: 7, low: 7), start: 1_700_000_000_000_000_000)
        b.span("GET /", service: "frontend", kind: .server, at: 0, duration: 1_000_000)
        let body = OTLPProtobuf.encodeExportRequest(b.batch)
        for (retryable, status, grpc) in [(true, 503, 14), (false, 500, 13)] {
            let ingestor = Ingestor(
                consumer: FailingStore(error: StoreFailure(isRetryable: retryable)), metrics: ServerMetrics(), maxBodyBytes: 1 << 20,
                maxInFlightBytes: 1 << 20)
            do {
                _ = try await ingestor.ingest(body, format: .otlpProtobuf, receiver: "otlp", transport: "http")
                Issue.record("a failing store must fail the request")
            } catch {
                #expect(error.isRetryable == retryable)
                #expect(ErrorMapping.httpStatus(error).code == status)
                #expect(ErrorMapping.rpcError(error).code.rawValue == grpc)
            }
        }
    }
}

enum OTLPJSONTestHelpers {
    /// Writes a parsed JSON value back out as text.
    static func reserialize(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return JSONText.quote(s)
        case .array(let a): return "[" + a.map(reserialize).joined(separator: ",") + "]"
        case .object(let m): return "{" + m.map { JSONText.quote($0.0) + ":" + reserialize($0.1) }.joined(separator: ",") + "}"
        }
    }
}
