import AriadneModel
import AriadneTesting
import AriadneWire
import AriadneWorkload
import Testing

/// Jaeger's Thrift (compact and binary, agent packets and collector bodies) and api_v2 protobuf
/// decoders, against messages built the way jaeger-client builds them.
@Suite struct JaegerWireTests {
    enum Encoding: CaseIterable, Sendable {
        case agentCompact, agentBinary, collectorBinary, protobuf

        func encode(_ spans: [Span]) -> [UInt8] {
            switch self {
            case .agentCompact: return JaegerWireFixtures.agentMessage(spans, protocol: .compact)
            case .agentBinary: return JaegerWireFixtures.agentMessage(spans, protocol: .binary)
            case .collectorBinary: return JaegerWireFixtures.thriftBatch(spans, protocol: .binary)
            case .protobuf: return JaegerWireFixtures.postSpansRequest(spans)
            }
        }

        func decode(_ bytes: [UInt8]) throws(DecodeError) -> (SpanBatch, [SpanRejection]) {
            var batch = SpanBatch()
            var rejections = [SpanRejection]()
            try bytes.withUnsafeBytesTyped { raw throws(DecodeError) in
                switch self {
                case .agentCompact: try JaegerThrift.decodeAgentMessage(raw, protocol: .compact, into: &batch, rejections: &rejections)
                case .agentBinary: try JaegerThrift.decodeAgentMessage(raw, protocol: .binary, into: &batch, rejections: &rejections)
                case .collectorBinary: try JaegerThrift.decodeBatch(raw, protocol: .binary, into: &batch, rejections: &rejections)
                case .protobuf: try JaegerProtobuf.decodePostSpansRequest(raw, into: &batch, rejections: &rejections)
                }
            }
            return (batch, rejections)
        }

        /// Thrift carries microseconds; protobuf nanoseconds.
        var truncatesToMicroseconds: Bool { self != .protobuf }
    }

    /// Spans of the realistic workload (high-entropy values, events, links, errors), given one
    /// process as a Jaeger batch has.
    static func spans() -> [Span] {
        var w = Workload(seed: 7, profile: .realistic)
        let batch = w.batch(spans: 400, start: 1_700_000_000_123_456_789)
        let resource = batch.span(at: 0).resource
        return (0..<batch.count).map {
            var s = batch.span(at: $0)
            s.resource = resource
            return s
        }
    }

    @Test(arguments: Encoding.allCases)
    func translatesAsJaegerDoes(_ encoding: Encoding) throws {
        let sent = Self.spans()
        #expect(sent.count > 10)
        #expect(sent.contains { $0.statusCode == .error } && sent.contains { !$0.events.isEmpty })
        let (batch, rejections) = try encoding.decode(encoding.encode(sent))
        #expect(rejections.isEmpty)
        #expect(batch.count == sent.count)
        let micro: (UInt64) -> UInt64 = { encoding.truncatesToMicroseconds ? $0 / 1000 * 1000 : $0 }
        for (i, s) in sent.enumerated() {
            let got = batch.span(at: i)
            #expect(got.traceID == s.traceID && got.spanID == s.spanID && got.parentSpanID == s.parentSpanID)
            #expect(got.name == s.name && got.kind == s.kind)
            #expect(got.startTime == micro(s.startTime))
            #expect(got.duration == micro(s.duration))
            #expect(got.attributes == s.attributes)
            #expect((got.statusCode == .error) == (s.statusCode == .error))
            if s.statusCode == .error { #expect(got.statusMessage == s.statusMessage) }
            #expect(got.events.map(\.name) == s.events.map(\.name))
            #expect(got.events.map(\.attributes) == s.events.map(\.attributes))
            #expect(got.events.map(\.time) == s.events.map { micro($0.time) })
            #expect(got.links.map(\.spanID) == s.links.map(\.spanID))
            #expect(got.serviceName == s.serviceName)
            #expect(Set(got.resource.attributes) == Set(s.resource.attributes))
        }
    }

    /// Every prefix of a message is refused with an error (or decodes a shorter valid message);
    /// none crashes or reads past its end.
    @Test(arguments: Encoding.allCases)
    func truncatedMessagesAreErrors(_ encoding: Encoding) throws {
        let bytes = encoding.encode(Array(Self.spans().prefix(3)))
        var refused = 0
        for n in 0..<bytes.count {
            do { _ = try encoding.decode(Array(bytes.prefix(n))) } catch { refused += 1 }
        }
        // Protobuf's prefixes may end on a field boundary and decode; Thrift's never do (no stop byte).
        #expect(refused >= (encoding == .protobuf ? bytes.count / 2 : bytes.count))
    }

    @Test func hostileThriftIsRefusedWithAMessage() {
        func decode(_ bytes: [UInt8], _ p: JaegerThrift.ThriftProtocol = .binary) -> String? {
            var batch = SpanBatch()
            var rejections = [SpanRejection]()
            do {
                try bytes.withUnsafeBytesTyped { raw throws(DecodeError) in
                    try JaegerThrift.decodeBatch(raw, protocol: p, into: &batch, rejections: &rejections)
                }
                return nil
            } catch { return error.message }
        }
        // Batch.spans claims 2^31-1 elements in a 9-byte body.
        #expect(decode([15, 0, 2, 12, 0x7f, 0xff, 0xff, 0xff, 0])?.contains("exceeds") == true)
        // A string longer than the body.
        #expect(decode([12, 0, 1, 11, 0, 1, 0x7f, 0xff, 0xff, 0xff])?.contains("exceeds") == true)
        // An unknown field nested 100 structs deep is skipped only to a depth of 64.
        let deep = (0..<100).flatMap { _ in [UInt8](arrayLiteral: 12, 0, 9) } + [UInt8](repeating: 0, count: 101)
        #expect(decode(deep)?.contains("deeper") == true)
        // Unknown type codes, in both protocols.
        #expect(decode([0x55, 0, 1]) != nil)
        #expect(decode([0x1e], .compact) != nil)
        // A batch without a process.
        #expect(decode([15, 0, 2, 12, 0, 0, 0, 0, 0])?.contains("process") == true)
    }

    @Test func agentMessagesOtherThanEmitBatchAreRefused() {
        var w = ThriftFixtureBytes()
        w.compactHeader(name: "emitZipkinBatch")
        var batch = SpanBatch()
        var rejections = [SpanRejection]()
        #expect(throws: DecodeError.self) {
            try w.bytes.withUnsafeBytesTyped { raw throws(DecodeError) in
                try JaegerThrift.decodeAgentMessage(raw, protocol: .compact, into: &batch, rejections: &rejections)
            }
        }
    }

    @Test func referencesAndTagsBecomeParentLinksKindAndStatus() throws {
        let trace = TraceID(high: 1, low: 2)
        let other = TraceID(high: 3, low: 4)
        // No parentSpanId, parent given as a CHILD_OF reference (as the protobuf model does), a
        // FOLLOWS_FROM to another trace, an `error` tag and a string `span.kind`.
        var s = Span(
            traceID: trace, spanID: SpanID(9), name: "op", kind: .consumer, startTime: 5_000, endTime: 9_000,
            attributes: [KeyValue("w3c.tracestate", .string("k=v")), KeyValue("otel.scope.name", .string("lib"))],
            links: [
                Span.Link(traceID: trace, spanID: SpanID(8), attributes: [KeyValue("opentracing.ref_type", .string("child_of"))]),
                Span.Link(traceID: other, spanID: SpanID(7)),
            ], statusCode: .error, resource: OwnedResource(service: "svc"))
        s.parentSpanID = .zero
        let (batch, _) = try Encoding.protobuf.decode(JaegerWireFixtures.postSpansRequest([s]))
        let got = batch.span(at: 0)
        #expect(got.parentSpanID == SpanID(8))
        #expect(got.links.map(\.traceID) == [other])
        #expect(got.links[0].attributes == [KeyValue("opentracing.ref_type", .string("follows_from"))])
        #expect(got.kind == .consumer && got.statusCode == .error)
        #expect(got.traceState == "k=v" && got.scope.name == "lib" && got.attributes.isEmpty)
    }
}

/// Raw compact-protocol bytes for messages the fixtures do not build.
struct ThriftFixtureBytes {
    var bytes: [UInt8] = []

    mutating func compactHeader(name: String) {
        bytes += [0x82, 0x81, 0x01, UInt8(name.utf8.count)] + Array(name.utf8) + [0]
    }
}
