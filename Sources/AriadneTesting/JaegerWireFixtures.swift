public import AriadneModel

/// Jaeger's wire messages built from spans, the way jaeger-client libraries build them: for unit
/// tests of the Jaeger decoders and seeds of the fuzz harness (the server has no Jaeger encoder).
/// Spans of one call share the first span's resource as their process.
public enum JaegerWireFixtures {
    public enum ThriftProtocol: Sendable { case binary, compact }

    /// A Thrift `Batch` struct (the collector's HTTP body).
    public static func thriftBatch(_ spans: [Span], protocol p: ThriftProtocol) -> [UInt8] {
        switch p {
        case .binary:
            var w = ThriftBinaryWriter()
            writeBatch(spans, &w)
            return w.bytes
        case .compact:
            var w = ThriftCompactWriter()
            writeBatch(spans, &w)
            return w.bytes
        }
    }

    /// An agent UDP packet: the oneway `emitBatch` call.
    public static func agentMessage(_ spans: [Span], protocol p: ThriftProtocol) -> [UInt8] {
        switch p {
        case .binary:
            var w = ThriftBinaryWriter()
            w.bytes += [0x80, 0x01, 0x00, 0x04]  // strict header, version 1, ONEWAY
            w.binary(Array("emitBatch".utf8))
            w.bytes += [0, 0, 0, 1]
            writeArgs(spans, &w)
            return w.bytes
        case .compact:
            var w = ThriftCompactWriter()
            w.bytes += [0x82, 0x81, 0x01]  // protocol id, version 1 | ONEWAY << 5, sequence id 1
            w.binary(Array("emitBatch".utf8))
            writeArgs(spans, &w)
            return w.bytes
        }
    }

    static func writeArgs<W: ThriftWriter>(_ spans: [Span], _ w: inout W) {
        w.structBegin()
        w.field(.structure, 1)
        writeBatch(spans, &w)
        w.stop()
    }

    static func writeBatch<W: ThriftWriter>(_ spans: [Span], _ w: inout W) {
        w.structBegin()
        w.field(.structure, 1)
        w.structBegin()
        let resource = spans.first?.resource ?? OwnedResource()
        w.field(.binary, 1)
        w.binary(Array(resource.serviceName.utf8))
        let processTags = resource.attributes.filter { $0.key != "service.name" }
        w.field(.list, 2)
        writeTags(processTags, &w)
        w.stop()
        w.field(.list, 2)
        w.listBegin(.structure, spans.count)
        for s in spans { writeSpan(s, &w) }
        w.stop()
    }

    static func writeSpan<W: ThriftWriter>(_ s: Span, _ w: inout W) {
        w.structBegin()
        w.field(.i64, 1)
        w.i64(Int64(bitPattern: s.traceID.low))
        w.field(.i64, 2)
        w.i64(Int64(bitPattern: s.traceID.high))
        w.field(.i64, 3)
        w.i64(Int64(bitPattern: s.spanID.value))
        w.field(.i64, 4)
        w.i64(Int64(bitPattern: s.parentSpanID.value))
        w.field(.binary, 5)
        w.binary(Array(s.name.utf8))
        if !s.links.isEmpty {
            w.field(.list, 6)
            w.listBegin(.structure, s.links.count)
            for l in s.links {
                let childOf = l.attributes.contains { $0 == KeyValue("opentracing.ref_type", .string("child_of")) }
                w.structBegin()
                w.field(.i32, 1)
                w.i32(childOf ? 0 : 1)
                w.field(.i64, 2)
                w.i64(Int64(bitPattern: l.traceID.low))
                w.field(.i64, 3)
                w.i64(Int64(bitPattern: l.traceID.high))
                w.field(.i64, 4)
                w.i64(Int64(bitPattern: l.spanID.value))
                w.stop()
            }
        }
        w.field(.i32, 7)
        w.i32(Int32(s.flags & 1))
        w.field(.i64, 8)
        w.i64(Int64(s.startTime / 1000))
        w.field(.i64, 9)
        w.i64(Int64(s.duration / 1000))
        w.field(.list, 10)
        writeTags(jaegerTags(s), &w)
        if !s.events.isEmpty {
            w.field(.list, 11)
            w.listBegin(.structure, s.events.count)
            for e in s.events {
                w.structBegin()
                w.field(.i64, 1)
                w.i64(Int64(e.time / 1000))
                w.field(.list, 2)
                writeTags([KeyValue("event", .string(e.name))] + e.attributes, &w)
                w.stop()
            }
        }
        w.field(.bool, 12)
        w.bool(false)
        w.stop()
    }

    /// A span's attributes plus the tags Jaeger clients use for kind and status.
    public static func jaegerTags(_ s: Span) -> [KeyValue] {
        var tags = s.attributes
        let kinds: [SpanKind: String] = [.client: "client", .server: "server", .producer: "producer", .consumer: "consumer"]
        if let k = kinds[s.kind] { tags.append(KeyValue("span.kind", .string(k))) }
        if s.statusCode == .error {
            tags.append(KeyValue("error", .bool(true)))
            if !s.statusMessage.isEmpty { tags.append(KeyValue("otel.status_description", .string(s.statusMessage))) }
        }
        return tags
    }

    static func writeTags<W: ThriftWriter>(_ tags: [KeyValue], _ w: inout W) {
        w.listBegin(.structure, tags.count)
        for t in tags {
            w.structBegin()
            w.field(.binary, 1)
            w.binary(Array(t.key.utf8))
            w.field(.i32, 2)
            switch t.value {
            case .bool(let b):
                w.i32(2)
                w.field(.bool, 5)
                w.bool(b)
            case .int(let i):
                w.i32(3)
                w.field(.i64, 6)
                w.i64(i)
            case .double(let d):
                w.i32(1)
                w.field(.double, 4)
                w.double(d)
            case .bytes(let b):
                w.i32(4)
                w.field(.binary, 7)
                w.binary(b)
            default:
                w.i32(0)
                w.field(.binary, 3)
                w.binary(Array(t.value.displayString.utf8))
            }
            w.stop()
        }
    }

    // MARK: api_v2 protobuf

    /// A `PostSpansRequest` for `jaeger.api_v2.CollectorService/PostSpans`.
    public static func postSpansRequest(_ spans: [Span]) -> [UInt8] {
        var batch = [UInt8]()
        for s in spans { batch += proto(1, protoSpan(s)) }
        let resource = spans.first?.resource ?? OwnedResource()
        var process = proto(1, Array(resource.serviceName.utf8))
        for t in resource.attributes where t.key != "service.name" { process += proto(2, protoKeyValue(t)) }
        batch += proto(2, process)
        return proto(1, batch)
    }

    static func protoSpan(_ s: Span) -> [UInt8] {
        var out = proto(1, s.traceID.bytes) + proto(2, s.spanID.bytes) + proto(3, Array(s.name.utf8))
        if s.parentSpanID.isValid { out += proto(4, proto(1, s.traceID.bytes) + proto(2, s.parentSpanID.bytes)) }
        for l in s.links {
            let childOf = l.attributes.contains { $0 == KeyValue("opentracing.ref_type", .string("child_of")) }
            out += proto(4, proto(1, l.traceID.bytes) + proto(2, l.spanID.bytes) + (childOf ? [] : varintField(3, 1)))
        }
        out += varintField(5, UInt64(s.flags & 1))
        out += proto(6, protoTime(s.startTime)) + proto(7, protoTime(s.duration))
        for t in jaegerTags(s) { out += proto(8, protoKeyValue(t)) }
        for e in s.events {
            var log = proto(1, protoTime(e.time)) + proto(2, protoKeyValue(KeyValue("event", .string(e.name))))
            for a in e.attributes { log += proto(2, protoKeyValue(a)) }
            out += proto(9, log)
        }
        return out
    }

    static func protoKeyValue(_ t: KeyValue) -> [UInt8] {
        var out = proto(1, Array(t.key.utf8))
        switch t.value {
        case .bool(let b): out += varintField(2, 1) + varintField(4, b ? 1 : 0)
        case .int(let i): out += varintField(2, 2) + varintField(5, UInt64(bitPattern: i))
        case .double(let d):
            out += varintField(2, 3) + [6 << 3 | 1]
            withUnsafeBytes(of: d.bitPattern.littleEndian) { out += $0 }
        case .bytes(let b): out += varintField(2, 4) + proto(7, b)
        default: out += proto(3, Array(t.value.displayString.utf8))
        }
        return out
    }

    static func protoTime(_ ns: UInt64) -> [UInt8] {
        varintField(1, ns / 1_000_000_000) + varintField(2, ns % 1_000_000_000)
    }

    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v
        var out = [UInt8]()
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        return out + [UInt8(v)]
    }

    static func varintField(_ field: UInt64, _ v: UInt64) -> [UInt8] { varint(field << 3) + varint(v) }

    static func proto(_ field: UInt64, _ payload: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(UInt64(payload.count)) + payload
    }
}

enum ThriftWireType { case bool, byte, double, i16, i32, i64, binary, structure, map, set, list }

/// Writes one Thrift protocol; only what Jaeger's messages use.
protocol ThriftWriter {
    var bytes: [UInt8] { get set }
    mutating func structBegin()
    mutating func field(_ type: ThriftWireType, _ id: Int16)
    /// Ends the struct.
    mutating func stop()
    mutating func listBegin(_ element: ThriftWireType, _ count: Int)
    mutating func bool(_ b: Bool)
    mutating func i32(_ v: Int32)
    mutating func i64(_ v: Int64)
    mutating func double(_ d: Double)
    mutating func binary(_ b: [UInt8])
}

struct ThriftBinaryWriter: ThriftWriter {
    var bytes = [UInt8]()

    static func code(_ t: ThriftWireType) -> UInt8 {
        switch t {
        case .bool: return 2
        case .byte: return 3
        case .double: return 4
        case .i16: return 6
        case .i32: return 8
        case .i64: return 10
        case .binary: return 11
        case .structure: return 12
        case .map: return 13
        case .set: return 14
        case .list: return 15
        }
    }

    mutating func bigEndian<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
    mutating func structBegin() {}
    mutating func field(_ type: ThriftWireType, _ id: Int16) {
        bytes.append(Self.code(type))
        bigEndian(id)
    }
    mutating func stop() { bytes.append(0) }
    mutating func listBegin(_ element: ThriftWireType, _ count: Int) {
        bytes.append(Self.code(element))
        bigEndian(Int32(count))
    }
    mutating func bool(_ b: Bool) { bytes.append(b ? 1 : 0) }
    mutating func i32(_ v: Int32) { bigEndian(v) }
    mutating func i64(_ v: Int64) { bigEndian(v) }
    mutating func double(_ d: Double) { bigEndian(d.bitPattern) }
    mutating func binary(_ b: [UInt8]) {
        bigEndian(Int32(b.count))
        bytes += b
    }
}

struct ThriftCompactWriter: ThriftWriter {
    var bytes = [UInt8]()
    private var lastIDs: [Int16] = []
    private var lastID: Int16 = 0
    /// A boolean field's header waits for its value, which the compact protocol folds into it.
    private var pendingBoolField: Int16?

    static func code(_ t: ThriftWireType) -> UInt8 {
        switch t {
        case .bool: return 1
        case .byte: return 3
        case .i16: return 4
        case .i32: return 5
        case .i64: return 6
        case .double: return 7
        case .binary: return 8
        case .list: return 9
        case .set: return 10
        case .map: return 11
        case .structure: return 12
        }
    }

    mutating func varint(_ v: UInt64) { bytes += JaegerWireFixtures.varint(v) }
    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v &<< 1) ^ (v >> 63))) }

    mutating func structBegin() {
        lastIDs.append(lastID)
        lastID = 0
    }

    mutating func header(_ code: UInt8, _ id: Int16) {
        let delta = id - lastID
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | code)
        } else {
            bytes.append(code)
            zigzag(Int64(id))
        }
        lastID = id
    }

    mutating func field(_ type: ThriftWireType, _ id: Int16) {
        if type == .bool { pendingBoolField = id } else { header(Self.code(type), id) }
    }

    mutating func stop() {
        bytes.append(0)
        lastID = lastIDs.popLast() ?? 0
    }

    mutating func listBegin(_ element: ThriftWireType, _ count: Int) {
        if count < 15 {
            bytes.append(UInt8(count) << 4 | Self.code(element))
        } else {
            bytes.append(0xf0 | Self.code(element))
            varint(UInt64(count))
        }
    }

    mutating func bool(_ b: Bool) {
        if let id = pendingBoolField {
            header(b ? 1 : 2, id)
            pendingBoolField = nil
        } else {
            bytes.append(b ? 1 : 2)
        }
    }

    mutating func i32(_ v: Int32) { zigzag(Int64(v)) }
    mutating func i64(_ v: Int64) { zigzag(v) }
    mutating func double(_ d: Double) { withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 } }
    mutating func binary(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes += b
    }
}
