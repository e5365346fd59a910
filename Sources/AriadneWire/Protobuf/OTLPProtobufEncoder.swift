public import AriadneModel

/// Appends protobuf fields to a byte array. Nested messages reserve one length byte and shift
/// the body only when it turns out longer than 127 bytes, so small messages (most key-values)
/// cost no copy.
struct ProtoWriter {
    var out: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    mutating func tag(_ field: UInt32, _ wt: WireType) { varint(UInt64(field) << 3 | UInt64(wt.rawValue)) }

    mutating func varintField(_ field: UInt32, _ v: UInt64) {
        guard v != 0 else { return }
        tag(field, .varint)
        varint(v)
    }

    mutating func fixed64Field(_ field: UInt32, _ v: UInt64) {
        guard v != 0 else { return }
        tag(field, .fixed64)
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    mutating func fixed32Field(_ field: UInt32, _ v: UInt32) {
        guard v != 0 else { return }
        tag(field, .fixed32)
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    mutating func bytesField(_ field: UInt32, _ bytes: UnsafeRawBufferPointer, always: Bool = false) {
        guard always || !bytes.isEmpty else { return }
        tag(field, .lengthDelimited)
        varint(UInt64(bytes.count))
        out.append(contentsOf: bytes)
    }

    mutating func bytesField(_ field: UInt32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { bytesField(field, $0) }
    }

    /// A 16-byte id field from its two big-endian halves, without building an array.
    mutating func idField(_ field: UInt32, _ id: TraceID) {
        tag(field, .lengthDelimited)
        out.append(16)
        withUnsafeBytes(of: id.high.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: id.low.bigEndian) { out.append(contentsOf: $0) }
    }

    /// An 8-byte id field.
    mutating func idField(_ field: UInt32, _ id: SpanID) {
        tag(field, .lengthDelimited)
        out.append(8)
        withUnsafeBytes(of: id.value.bigEndian) { out.append(contentsOf: $0) }
    }

    mutating func stringField(_ field: UInt32, _ s: String) {
        var s = s
        s.withUTF8 { bytesField(field, UnsafeRawBufferPointer($0)) }
    }

    /// Writes a length-delimited sub-message whose body `body` appends.
    @inline(__always)
    mutating func message(_ field: UInt32, _ body: (inout ProtoWriter) -> Void) {
        tag(field, .lengthDelimited)
        let lengthAt = out.count
        out.append(0)
        body(&self)
        let length = out.count - lengthAt - 1
        if length < 0x80 {
            out[lengthAt] = UInt8(length)
        } else {
            var prefix = [UInt8]()
            var v = UInt64(length)
            while v >= 0x80 {
                prefix.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            prefix.append(UInt8(v))
            out.replaceSubrange(lengthAt..<lengthAt + 1, with: prefix)
        }
    }
}

extension OTLPProtobuf {
    /// Encodes `batch` as an ExportTraceServiceRequest: one ResourceSpans per resource, one
    /// ScopeSpans per scope, spans in batch order within their scope.
    public static func encodeExportRequest(_ batch: SpanBatch) -> [UInt8] {
        var w = ProtoWriter()
        w.out.reserveCapacity(batch.arena.count + batch.count * 64 + batch.spanAttributes.count * 8)
        encode(batch, batch.groupedByResourceAndScope(), into: &w)
        return w.out
    }

    /// Encodes span `i` of `batch` alone, with its resource and scope, as an
    /// ExportTraceServiceRequest: a record of one span, for stores that keep each span apart
    /// (ClickHouse) without building a one-span batch for it. With `withoutIdentity`, the fields
    /// such a store keeps in columns of their own are left out — trace, span and parent ids,
    /// name, kind, start and end — and the reader puts them back after decoding.
    public static func encodeExportRequest(_ batch: SpanBatch, span i: Int, withoutIdentity: Bool = false) -> [UInt8] {
        var w = ProtoWriter()
        let s = Int(batch.scopeIndices[i])
        encode(batch, [(Int(batch.scopes[s].resource), [(s, [i])])], into: &w, withoutIdentity: withoutIdentity)
        return w.out
    }

    private static func encode(
        _ batch: SpanBatch, _ groups: [(resource: Int, scopes: [(scope: Int, spans: [Int])])], into w: inout ProtoWriter,
        withoutIdentity: Bool = false
    ) {
        let encoder = Encoder(batch: batch, withoutIdentity: withoutIdentity)
        for (r, scopes) in groups {
            w.message(1) { w in
                let res = batch.resources[r]
                w.message(1) { w in
                    encoder.attributes(batch.attributes, res.attributes, field: 1, into: &w)
                    w.varintField(2, UInt64(res.droppedAttributesCount))
                }
                for (s, spans) in scopes {
                    w.message(2) { w in
                        let scope = batch.scopes[s]
                        w.message(1) { w in
                            encoder.string(1, scope.name, into: &w)
                            encoder.string(2, scope.version, into: &w)
                            encoder.attributes(batch.attributes, scope.attributes, field: 3, into: &w)
                            w.varintField(4, UInt64(scope.droppedAttributesCount))
                        }
                        for i in spans { w.message(2) { encoder.span(i, into: &$0) } }
                        encoder.string(3, scope.schemaURL, into: &w)
                    }
                }
                encoder.string(3, res.schemaURL, into: &w)
            }
        }
    }

    /// Encodes an ExportTraceServiceResponse; an empty message when nothing was rejected.
    public static func encodeExportResponse(rejectedSpans: Int64, errorMessage: String) -> [UInt8] {
        var w = ProtoWriter()
        if rejectedSpans != 0 || !errorMessage.isEmpty {
            w.message(1) { w in
                w.varintField(1, UInt64(bitPattern: rejectedSpans))
                w.stringField(2, errorMessage)
            }
        }
        return w.out
    }

    /// Decodes an ExportTraceServiceResponse into its partial-success fields.
    public static func decodeExportResponse(_ bytes: [UInt8]) throws(DecodeError) -> (rejectedSpans: Int64, errorMessage: String) {
        do {
            return try bytes.withUnsafeBytes { buf in
                var rejected: Int64 = 0
                var message = ""
                var r = ProtoReader(buf)
                while !r.isAtEnd {
                    let (field, wt) = try r.readTag()
                    guard field == 1, wt == .lengthDelimited else {
                        try r.skip(wt, field: field)
                        continue
                    }
                    var p = ProtoReader(try r.readLengthDelimited())
                    while !p.isAtEnd {
                        let (pf, pwt) = try p.readTag()
                        if pf == 1, pwt == .varint {
                            rejected = Int64(bitPattern: try p.readVarint())
                        } else if pf == 2, pwt == .lengthDelimited {
                            message = String(decoding: try p.readLengthDelimited(), as: UTF8.self)
                        } else {
                            try p.skip(pwt, field: pf)
                        }
                    }
                }
                return (rejected, message)
            }
        } catch let e as DecodeError {
            throw e
        } catch {
            throw DecodeError("\(error)")
        }
    }

    /// Encodes a `google.rpc.Status` { int32 code = 1; string message = 2 }, the body OTLP/HTTP
    /// returns with an error status.
    public static func encodeStatus(code: Int32, message: String) -> [UInt8] {
        var w = ProtoWriter()
        w.varintField(1, UInt64(bitPattern: Int64(code)))
        w.stringField(2, message)
        return w.out
    }
}

/// Writes the parts of a batch; all references resolve against `batch`. A class, so that the
/// closures of nested messages capture one reference instead of copying every column array.
final class Encoder {
    let batch: SpanBatch
    let withoutIdentity: Bool

    init(batch: SpanBatch, withoutIdentity: Bool = false) {
        self.batch = batch
        self.withoutIdentity = withoutIdentity
    }

    func string(_ field: UInt32, _ ref: StrRef, into w: inout ProtoWriter) {
        guard ref.count > 0 else { return }
        batch.withBytes(ref) { w.bytesField(field, $0) }
    }

    func attributes(_ pool: [Attribute], _ range: PoolRange, field: UInt32, into w: inout ProtoWriter) {
        for a in pool[range.indices] {
            w.message(field) { keyValue(a, into: &$0) }
        }
    }

    func keyValue(_ a: Attribute, into w: inout ProtoWriter) {
        string(1, a.key, into: &w)
        w.message(2) { anyValue(a.value, into: &$0) }
    }

    func anyValue(_ v: Value, into w: inout ProtoWriter) {
        switch v {
        case .empty:
            break
        case .string(let r):
            // A oneof member is written even when empty, so that "" stays a string.
            batch.withBytes(r) { w.bytesField(1, $0, always: true) }
        case .bool(let b):
            w.tag(2, .varint)
            w.varint(b ? 1 : 0)
        case .int(let i):
            w.tag(3, .varint)
            w.varint(UInt64(bitPattern: i))
        case .double(let d):
            w.tag(4, .fixed64)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { w.out.append(contentsOf: $0) }
        case .array(let range):
            w.message(5) { w in
                for e in batch.arrayValues[range.indices] { w.message(1) { anyValue(e, into: &$0) } }
            }
        case .kvlist(let range):
            w.message(6) { w in
                for e in batch.kvlistEntries[range.indices] { w.message(1) { keyValue(e, into: &$0) } }
            }
        case .bytes(let r):
            batch.withBytes(r) { w.bytesField(7, $0, always: true) }
        }
    }

    func span(_ i: Int, into w: inout ProtoWriter) {
        if !withoutIdentity {
            w.idField(1, batch.traceIDs[i])
            w.idField(2, batch.spanIDs[i])
        }
        string(3, batch.traceStates[i], into: &w)
        if !withoutIdentity {
            if batch.parentSpanIDs[i].isValid { w.idField(4, batch.parentSpanIDs[i]) }
            string(5, batch.names[i], into: &w)
            w.varintField(6, UInt64(bitPattern: Int64(batch.kinds[i].rawValue)))
            w.fixed64Field(7, batch.startTimes[i])
            w.fixed64Field(8, batch.endTimes[i])
        }
        attributes(batch.spanAttributes, batch.attributeRanges[i], field: 9, into: &w)
        w.varintField(10, UInt64(batch.droppedAttributesCounts[i]))
        for e in batch.events[batch.eventRanges[i].indices] {
            w.message(11) { w in
                w.fixed64Field(1, e.time)
                string(2, e.name, into: &w)
                attributes(batch.attributes, e.attributes, field: 3, into: &w)
                w.varintField(4, UInt64(e.droppedAttributesCount))
            }
        }
        w.varintField(12, UInt64(batch.droppedEventsCounts[i]))
        for l in batch.links[batch.linkRanges[i].indices] {
            w.message(13) { w in
                w.idField(1, l.traceID)
                w.idField(2, l.spanID)
                string(3, l.traceState, into: &w)
                attributes(batch.attributes, l.attributes, field: 4, into: &w)
                w.varintField(5, UInt64(l.droppedAttributesCount))
                w.fixed32Field(6, l.flags)
            }
        }
        w.varintField(14, UInt64(batch.droppedLinksCounts[i]))
        let code = batch.statusCodes[i]
        let message = batch.statusMessages[i]
        if code != .unset || message.count > 0 {
            w.message(15) { w in
                string(2, message, into: &w)
                w.varintField(3, UInt64(bitPattern: Int64(code.rawValue)))
            }
        }
        w.fixed32Field(16, batch.flags[i])
    }
}
