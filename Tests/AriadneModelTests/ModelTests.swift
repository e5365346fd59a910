import AriadneModel
import Testing

@Suite struct IDTests {
    @Test func traceIDHexRoundTripsAndAcceptsUppercase() {
        let id = TraceID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        #expect(id.hex == "0123456789abcdeffedcba9876543210")
        #expect(TraceID(hex: "0123456789ABCDEFFEDCBA9876543210") == id)
        #expect(TraceID(hex: "abc") == TraceID(high: 0, low: 0xABC))
        #expect(TraceID(hex: "xyz") == nil)
        #expect(TraceID(hex: String(repeating: "1", count: 33)) == nil)
        #expect(TraceID(bytes: id.bytes) == id)
        #expect(!TraceID.zero.isValid)
    }

    @Test func spanIDBytesAreBigEndian() {
        let id = SpanID(0x0102_0304_0506_0708)
        #expect(id.bytes == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(SpanID(bytes: [1, 2, 3]) == nil)
        #expect(SpanID(hex: "0102030405060708") == id)
    }
}

@Suite struct TextTests {
    @Test(arguments: ["", "f", "fo", "foo", "foob", "fooba", "foobar"])
    func base64RoundTrips(_ s: String) {
        let encoded = Base64.encode(Array(s.utf8))
        #expect(Base64.decode(encoded) == Array(s.utf8))
    }

    @Test func base64KnownVector() {
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.decode("Zm9vYg==") == Array("foob".utf8))
        #expect(Base64.decode("Zm9v!") == nil)
    }

    @Test func utf8Validation() {
        func valid(_ b: [UInt8]) -> Bool { b.withUnsafeBytes { UTF8Validation.isValid($0) } }
        #expect(valid(Array("héllo wörld, ok 🌍 and a long ascii run".utf8)))
        #expect(!valid([0xC3]))  // truncated
        #expect(!valid([0xC0, 0x80]))  // overlong
        #expect(!valid([0xED, 0xA0, 0x80]))  // surrogate
        #expect(!valid([0xF4, 0x90, 0x80, 0x80]))  // above U+10FFFF
        #expect(!valid(Array("abcdefgh".utf8) + [0xFF]))
    }

    @Test func jsonQuoteEscapes() {
        #expect(JSONText.quote("a\"b\\c\n\u{01}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }
}

@Suite struct SpanBatchTests {
    func sample() -> Span {
        Span(
            traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), parentSpanID: SpanID(4), traceState: "k=v",
            name: "op", kind: .client, startTime: 10, endTime: 20,
            attributes: [
                KeyValue("arr", .array([.array([1, 2]), .kvlist([KeyValue("x", .array(["y"]))])])),
                KeyValue("bytes", .bytes([9, 8])),
            ],
            events: [Span.Event(time: 15, name: "e", attributes: [KeyValue("n", .kvlist([KeyValue("deep", 1.5)]))])],
            links: [Span.Link(traceID: TraceID(high: 5, low: 6), spanID: SpanID(7), attributes: [KeyValue("l", true)])],
            statusCode: .error, statusMessage: "bad",
            resource: OwnedResource(service: "svc", attributes: [KeyValue("r", "1")]),
            scope: OwnedScope(name: "lib", version: "2"))
    }

    @Test func ownedSpanRoundTripsThroughColumns() {
        var batch = SpanBatch()
        batch.append(sample())
        batch.append(sample())
        #expect(batch.count == 2)
        #expect(batch.span(at: 1) == sample())
        #expect(batch.serviceName(ofSpan: 0) == "svc")
        // Equal resource and scope are shared, not repeated.
        #expect(batch.resources.count == 1)
        #expect(batch.scopes.count == 1)
    }

    @Test func selectingKeepsResourcesAndScopes() {
        var batch = SpanBatch()
        var other = sample()
        other.spanID = SpanID(99)
        other.resource = OwnedResource(service: "other")
        batch.append(sample())
        batch.append(other)
        let picked = batch.selecting([1])
        #expect(picked.count == 1)
        #expect(picked.span(at: 0) == other)
        #expect(picked.serviceName(ofSpan: 0) == "other")
    }

    @Test func missingServiceNameIsUnknownService() {
        var s = sample()
        s.resource = OwnedResource()
        var batch = SpanBatch()
        batch.append(s)
        #expect(batch.serviceName(ofSpan: 0) == "unknown_service")
    }
}
