public import AriadneModel

/// A span batch as a WAL record (payload format 2): the batch's own columns, written as they
/// are held in memory, so that a write costs one pass of fixed-width stores and a copy of the
/// arena instead of an OTLP encode (which was 7% of the server's CPU at 100k spans/s).
///
/// Layout, little-endian throughout: nine `u32` counts — arena bytes, resources, scopes,
/// attributes (the pool of resources, scopes, events and links), span attributes, events,
/// links, spans, nested-value bytes — then the arena, then each table in that order with its
/// rows as fixed-width records:
/// - a string or bytes reference is `u32 offset, u32 count` into the arena;
/// - a range is `u32 start, u32 count` into its pool;
/// - a value is a tag byte and 8 bytes: 0 empty, 1 string (reference), 2 bool, 3 int, 4 double
///   (bits), 5 bytes (reference), 6 an array or key-value list (`u32 offset, u32 length` of its
///   self-describing encoding in the nested-value bytes, which end the record);
/// - an attribute is a key reference and a value (17 bytes);
/// - resource: attributes, dropped count, schema URL, service name;
/// - scope: resource number, name, version, attributes, dropped count, schema URL;
/// - event: time, name, attributes, dropped count;
/// - link: trace id (high, low), span id, trace state, attributes, dropped count, flags;
/// - span: trace id, span id, parent id, trace state, name, kind, start, end, flags, status
///   code, status message, attributes, dropped, events, dropped, links, dropped, scope number.
///
/// Decoding checks every reference, range and number against what it points into, so a frame
/// that is not one this code wrote is an error, never a crash.
enum BatchFrame {
    static let countsSize = 9 * 4
    static let resourceSize = 28
    static let scopeSize = 40
    static let attributeSize = 17
    static let eventSize = 28
    static let linkSize = 48
    static let spanSize = 124

    static func encode(_ b: SpanBatch) -> [UInt8] {
        var nested = [UInt8]()
        let size =
            countsSize + b.arena.count + b.resources.count * resourceSize + b.scopes.count * scopeSize
            + (b.attributes.count + b.spanAttributes.count) * attributeSize + b.events.count * eventSize
            + b.links.count * linkSize + b.count * spanSize
        var out = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var w = Writer(base: UnsafeMutableRawPointer(buffer.baseAddress!))
            for n in [
                b.arena.count, b.resources.count, b.scopes.count, b.attributes.count, b.spanAttributes.count, b.events.count,
                b.links.count, b.count,
            ] {
                w.u32(UInt32(n))
            }
            // The nested bytes' count is known only once they are written: filled in below.
            w.u32(0)
            b.arena.withUnsafeBytes { w.bytes($0) }
            for r in b.resources {
                w.range(r.attributes)
                w.u32(r.droppedAttributesCount)
                w.ref(r.schemaURL)
                w.ref(r.serviceName)
            }
            for s in b.scopes {
                w.u32(s.resource)
                w.ref(s.name)
                w.ref(s.version)
                w.range(s.attributes)
                w.u32(s.droppedAttributesCount)
                w.ref(s.schemaURL)
            }
            for pool in [b.attributes, b.spanAttributes] {
                for a in pool {
                    w.ref(a.key)
                    w.value(a.value, b, &nested)
                }
            }
            for e in b.events {
                w.u64(e.time)
                w.ref(e.name)
                w.range(e.attributes)
                w.u32(e.droppedAttributesCount)
            }
            for l in b.links {
                w.u64(l.traceID.high)
                w.u64(l.traceID.low)
                w.u64(l.spanID.value)
                w.ref(l.traceState)
                w.range(l.attributes)
                w.u32(l.droppedAttributesCount)
                w.u32(l.flags)
            }
            for i in 0..<b.count {
                w.u64(b.traceIDs[i].high)
                w.u64(b.traceIDs[i].low)
                w.u64(b.spanIDs[i].value)
                w.u64(b.parentSpanIDs[i].value)
                w.ref(b.traceStates[i])
                w.ref(b.names[i])
                w.u32(UInt32(bitPattern: b.kinds[i].rawValue))
                w.u64(b.startTimes[i])
                w.u64(b.endTimes[i])
                w.u32(b.flags[i])
                w.u32(UInt32(bitPattern: b.statusCodes[i].rawValue))
                w.ref(b.statusMessages[i])
                w.range(b.attributeRanges[i])
                w.u32(b.droppedAttributesCounts[i])
                w.range(b.eventRanges[i])
                w.u32(b.droppedEventsCounts[i])
                w.range(b.linkRanges[i])
                w.u32(b.droppedLinksCounts[i])
                w.u32(b.scopeIndices[i])
            }
            precondition(w.at == size, "batch frame: \(w.at) bytes written, \(size) computed")
            initialized = size
        }
        if !nested.isEmpty {
            out.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(nested.count).littleEndian, toByteOffset: 32, as: UInt32.self) }
            out += nested
        }
        return out
    }

    struct Writer {
        let base: UnsafeMutableRawPointer
        var at = 0

        mutating func u8(_ v: UInt8) {
            base.storeBytes(of: v, toByteOffset: at, as: UInt8.self)
            at += 1
        }
        mutating func u32(_ v: UInt32) {
            base.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self)
            at += 4
        }
        mutating func u64(_ v: UInt64) {
            base.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt64.self)
            at += 8
        }
        mutating func bytes(_ p: UnsafeRawBufferPointer) {
            guard let from = p.baseAddress, p.count > 0 else { return }
            (base + at).copyMemory(from: from, byteCount: p.count)
            at += p.count
        }
        mutating func ref(_ r: StrRef) {
            u32(r.offset)
            u32(r.count)
        }
        mutating func range(_ r: PoolRange) {
            u32(r.start)
            u32(r.count)
        }
        mutating func value(_ v: Value, _ b: SpanBatch, _ nested: inout [UInt8]) {
            switch v {
            case .empty:
                u8(0)
                u64(0)
            case .string(let r):
                u8(1)
                ref(r)
            case .bool(let x):
                u8(2)
                u64(x ? 1 : 0)
            case .int(let x):
                u8(3)
                u64(UInt64(bitPattern: x))
            case .double(let x):
                u8(4)
                u64(x.bitPattern)
            case .bytes(let r):
                u8(5)
                ref(r)
            case .array, .kvlist:
                u8(6)
                let offset = nested.count
                ColumnarChunkWriter.appendGeneric(v, b, &nested)
                u32(UInt32(offset))
                u32(UInt32(nested.count - offset))
            }
        }
    }

    struct Reader {
        let p: UnsafeRawBufferPointer
        var at = 0

        mutating func u8() -> UInt8 {
            defer { at += 1 }
            return p[at]
        }
        mutating func u32() -> UInt32 {
            defer { at += 4 }
            return UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        mutating func u64() -> UInt64 {
            defer { at += 8 }
            return UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self))
        }
    }

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// The batch in `p`, every reference in it checked.
    static func decode(_ p: UnsafeRawBufferPointer) throws -> SpanBatch {
        guard p.count >= countsSize else { throw Invalid(description: "batch frame: \(p.count) bytes, shorter than its counts") }
        var r = Reader(p: p)
        let counts = (0..<9).map { _ in Int(r.u32()) }
        let (arenaBytes, resources, scopes, attributes, spanAttributes, events, links, spans, nestedBytes) = (
            counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6], counts[7], counts[8]
        )
        // Each count is below 2^32 and each row below 2^8 bytes: the sum fits in an Int.
        let size =
            countsSize + arenaBytes + resources * resourceSize + scopes * scopeSize + (attributes + spanAttributes) * attributeSize
            + events * eventSize + links * linkSize + spans * spanSize + nestedBytes
        guard size == p.count else { throw Invalid(description: "batch frame: \(p.count) bytes, its counts say \(size)") }
        var b = SpanBatch()
        b.arena = Array(UnsafeRawBufferPointer(rebasing: p[r.at..<r.at + arenaBytes]))
        r.at += arenaBytes
        let nestedStart = p.count - nestedBytes
        func ref() throws -> StrRef {
            let s = StrRef(offset: r.u32(), count: r.u32())
            guard UInt64(s.offset) + UInt64(s.count) <= UInt64(arenaBytes) else {
                throw Invalid(description: "batch frame: a string past the arena's \(arenaBytes) bytes")
            }
            return s
        }
        func range(_ pool: Int, _ what: String) throws -> PoolRange {
            let g = PoolRange(start: r.u32(), count: r.u32())
            guard UInt64(g.start) + UInt64(g.count) <= UInt64(pool) else {
                throw Invalid(description: "batch frame: a range past the \(pool) \(what)")
            }
            return g
        }
        for _ in 0..<resources {
            b.resources.append(
                .init(attributes: try range(attributes, "attributes"), droppedAttributesCount: r.u32(), schemaURL: try ref(), serviceName: try ref()))
        }
        for _ in 0..<scopes {
            let resource = r.u32()
            guard resource < resources else { throw Invalid(description: "batch frame: scope of resource \(resource) of \(resources)") }
            b.scopes.append(
                .init(
                    resource: resource, name: try ref(), version: try ref(), attributes: try range(attributes, "attributes"),
                    droppedAttributesCount: r.u32(), schemaURL: try ref()))
        }
        // Nested values are stored into the batch's pools (and arena) as they are met.
        var pending = [(pool: Int, index: Int, value: AttributeValue)]()
        for (pool, n) in [attributes, spanAttributes].enumerated() {
            var list = [Attribute]()
            list.reserveCapacity(n)
            for index in 0..<n {
                let key = try ref()
                let tag = r.u8()
                let value: Value
                switch tag {
                case 0:
                    r.at += 8
                    value = .empty
                case 1: value = .string(try ref())
                case 2: value = .bool(r.u64() != 0)
                case 3: value = .int(Int64(bitPattern: r.u64()))
                case 4: value = .double(Double(bitPattern: r.u64()))
                case 5: value = .bytes(try ref())
                case 6:
                    let (offset, length) = (Int(r.u32()), Int(r.u32()))
                    guard offset + length <= nestedBytes else { throw Invalid(description: "batch frame: a nested value past the end") }
                    var nr = ByteReader(Array(UnsafeRawBufferPointer(rebasing: p[nestedStart + offset..<nestedStart + offset + length])))
                    do {
                        try ColumnarChunkReader.skipGeneric(&nr, depth: 0)
                        nr.at = 0
                        pending.append((pool, index, try ColumnarChunkReader.readGeneric(&nr)))
                    } catch {
                        throw Invalid(description: "batch frame: a nested value does not decode: \(error)")
                    }
                    value = .empty
                default: throw Invalid(description: "batch frame: unknown value tag \(tag)")
                }
                list.append(Attribute(key: key, value: value))
            }
            if pool == 0 { b.attributes = list } else { b.spanAttributes = list }
        }
        for (pool, index, value) in pending {
            let stored = b.store(value)
            if pool == 0 { b.attributes[index].value = stored } else { b.spanAttributes[index].value = stored }
        }
        b.events.reserveCapacity(events)
        for _ in 0..<events {
            b.events.append(
                .init(time: r.u64(), name: try ref(), attributes: try range(attributes, "attributes"), droppedAttributesCount: r.u32()))
        }
        b.links.reserveCapacity(links)
        for _ in 0..<links {
            b.links.append(
                .init(
                    traceID: TraceID(high: r.u64(), low: r.u64()), spanID: SpanID(r.u64()), traceState: try ref(),
                    attributes: try range(attributes, "attributes"), droppedAttributesCount: r.u32(), flags: r.u32()))
        }
        b.reserveCapacity(spans: spans)
        for _ in 0..<spans {
            b.traceIDs.append(TraceID(high: r.u64(), low: r.u64()))
            b.spanIDs.append(SpanID(r.u64()))
            b.parentSpanIDs.append(SpanID(r.u64()))
            b.traceStates.append(try ref())
            b.names.append(try ref())
            b.kinds.append(SpanKind(rawValue: Int32(bitPattern: r.u32())))
            b.startTimes.append(r.u64())
            b.endTimes.append(r.u64())
            b.flags.append(r.u32())
            b.statusCodes.append(StatusCode(rawValue: Int32(bitPattern: r.u32())))
            b.statusMessages.append(try ref())
            b.attributeRanges.append(try range(spanAttributes, "span attributes"))
            b.droppedAttributesCounts.append(r.u32())
            b.eventRanges.append(try range(events, "events"))
            b.droppedEventsCounts.append(r.u32())
            b.linkRanges.append(try range(links, "links"))
            b.droppedLinksCounts.append(r.u32())
            let scope = r.u32()
            guard scope < scopes else { throw Invalid(description: "batch frame: span of scope \(scope) of \(scopes)") }
            b.scopeIndices.append(scope)
        }
        return b
    }
}
