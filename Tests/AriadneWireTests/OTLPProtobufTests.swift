import AriadneModel
import AriadneTesting
import AriadneWire
import AriadneWorkload
import Testing

/// Hand-built protobuf, so that tests state the wire bytes they mean.
struct PB {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: UInt64, _ wt: UInt64) { varint(field << 3 | wt) }

    mutating func len(_ field: UInt64, _ body: [UInt8]) {
        tag(field, 2)
        varint(UInt64(body.count))
        bytes += body
    }

    mutating func fixed64(_ field: UInt64, _ v: UInt64) {
        tag(field, 1)
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }

    static func message(_ build: (inout PB) -> Void) -> [UInt8] {
        var p = PB()
        build(&p)
        return p.bytes
    }

    /// A request with one span whose fields `span` appends.
    static func request(span: (inout PB) -> Void) -> [UInt8] {
        message { r in
            r.len(
                1,
                message { rs in
                    rs.len(2, message { ss in ss.len(2, message(span)) })
                })
        }
    }

    static func validSpanFields(_ s: inout PB) {
        s.len(1, Array(repeating: 1, count: 16))
        s.len(2, Array(repeating: 2, count: 8))
        s.len(5, Array("op".utf8))
        s.fixed64(7, 100)
        s.fixed64(8, 200)
    }
}

@Suite struct OTLPProtobufTests {
    @Test func workloadRoundTripsThroughProtobuf() throws {
        var w = Workload(seed: 1)
        let batch = w.batch(spans: 300, start: 1_700_000_000_000_000_000)
        let bytes = OTLPProtobuf.encodeExportRequest(batch)
        let (decoded, rejections) = try OTLPProtobuf.decodeExportRequest(bytes)
        #expect(rejections.isEmpty)
        #expect(decoded.count == batch.count)
        #expect(decoded.ownedSpansSortedByID == batch.ownedSpansSortedByID)
        // Re-encoding the decoded batch gives the same bytes: nothing was lost or reordered.
        #expect(OTLPProtobuf.encodeExportRequest(decoded) == bytes)
    }

    @Test func decodesHandBuiltSpanAndSkipsUnknownFields() throws {
        let bytes = PB.request { s in
            PB.validSpanFields(&s)
            s.tag(99, 0)
            s.varint(12345)  // unknown varint
            s.len(100, [1, 2, 3])  // unknown bytes
            s.tag(101, 5)
            s.bytes += [0, 0, 0, 0]  // unknown fixed32
            s.len(
                9,
                PB.message { kv in
                    kv.len(1, Array("k".utf8))
                    kv.len(
                        2,
                        PB.message { v in
                            v.tag(3, 0); v.varint(UInt64(bitPattern: -5))
                        })
                })
        }
        let (batch, rejections) = try OTLPProtobuf.decodeExportRequest(bytes)
        #expect(rejections.isEmpty)
        #expect(batch.count == 1)
        let span = batch.span(at: 0)
        #expect(span.name == "op")
        #expect(span.startTime == 100 && span.endTime == 200)
        #expect(span.attributes == [KeyValue("k", .int(-5))])
    }

    @Test func wrongLengthIdsAreRejectedSpansNotErrors() throws {
        let bytes = PB.request { s in
            s.len(1, [1, 2, 3])
            s.len(2, Array(repeating: 2, count: 8))
        }
        let (batch, rejections) = try OTLPProtobuf.decodeExportRequest(bytes)
        #expect(batch.count == 1)
        #expect(rejections.count == 1)
        #expect(rejections[0].reason.contains("trace_id"))
    }

    static let malformed: [(String, [UInt8])] = [
        ("truncated varint", [0x0A, 0x80]),
        ("length beyond the body", [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 0x00]),
        ("huge length prefix", [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ("wrong wire type for resource_spans", [0x08, 0x01]),
        ("group wire type", [0x0B, 0x0C]),
        ("field number zero", [0x02, 0x00]),
        ("invalid wire type 7", [0x0F]),
        (
            "invalid UTF-8 in span name",
            PB.request { s in
                PB.validSpanFields(&s)
                s.len(5, [0x66, 0xFF, 0xFE])
            }
        ),
        (
            "wrong wire type inside span",
            PB.request { s in
                s.tag(7, 0); s.varint(5)
            }
        ),
        (
            "truncated fixed64",
            PB.request { s in
                s.tag(7, 1); s.bytes += [1, 2, 3]
            }
        ),
    ]

    @Test(arguments: malformed.map(\.0))
    func malformedInputIsADecodeError(_ name: String) {
        let bytes = Self.malformed.first { $0.0 == name }!.1
        #expect(throws: DecodeError.self) { try OTLPProtobuf.decodeExportRequest(bytes) }
    }

    @Test func deeplyNestedValuesAreRefused() {
        var value = PB.message { v in
            v.tag(2, 0); v.varint(1)
        }
        for _ in 0..<100 {
            let inner = value
            value = PB.message { v in v.len(5, PB.message { a in a.len(1, inner) }) }
        }
        let bytes = PB.request { s in
            PB.validSpanFields(&s)
            s.len(
                9,
                PB.message { kv in
                    kv.len(1, Array("deep".utf8)); kv.len(2, value)
                })
        }
        #expect(throws: DecodeError.self) { try OTLPProtobuf.decodeExportRequest(bytes) }
    }

    /// Mutated and truncated requests, from a fixed seed so that a failure is reproducible: each
    /// one is refused with a `DecodeError` or decodes into spans that survive encode → decode
    /// unchanged, and both outcomes occur.
    @Test func mutatedRequestsAreRefusedOrDecodeConsistently() throws {
        var w = Workload(seed: 3)
        let good = OTLPProtobuf.encodeExportRequest(w.batch(spans: 50, start: 1))
        var rng = SplitMix64(seed: 0xA11CE)
        var refused = 0
        var decoded = 0
        for _ in 0..<2000 {
            var b = good
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { b.removeLast(Int.random(in: 0..<b.count, using: &rng)) }
            do {
                let (batch, _) = try OTLPProtobuf.decodeExportRequest(b)
                let (again, _) = try OTLPProtobuf.decodeExportRequest(OTLPProtobuf.encodeExportRequest(batch))
                #expect(again.ownedSpansSortedByID == batch.ownedSpansSortedByID)
                decoded += 1
            } catch is DecodeError {
                refused += 1
            }
        }
        #expect(refused > 0 && decoded > 0, "refused \(refused), decoded \(decoded)")
    }

    @Test func exportResponseRoundTrips() throws {
        let bytes = OTLPProtobuf.encodeExportResponse(rejectedSpans: 3, errorMessage: "bad ids")
        let (n, m) = try OTLPProtobuf.decodeExportResponse(bytes)
        #expect(n == 3 && m == "bad ids")
        #expect(OTLPProtobuf.encodeExportResponse(rejectedSpans: 0, errorMessage: "").isEmpty)
    }
}
