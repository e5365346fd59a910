import AriadneModel
import AriadneStorage
import AriadneWire

/// A batch as RowBinary rows for the three tables, in the column order `columns` names.
struct SpanRows {
    var spans = RowBinaryWriter()
    var traces = RowBinaryWriter()
    var operations = RowBinaryWriter()
    var count = 0

    static let spanColumns: [String] = {
        var c = ["day", "service", "name", "start", "trace_key", "kind", "status", "duration", "status_message", "scope_name"]
        for a in Schema.attributeColumns { c += ["\(a).scope", "\(a).key", "\(a).value"] }
        return c
    }()
    static let traceColumns = [
        "day", "trace_key", "trace_id", "span_id", "span_hash", "parent_span_id", "link_span_id", "service", "name", "kind", "status",
        "start", "end", "peer_name", "peer_type", "span",
    ]
    static let operationColumns = ["day", "service", "name", "kind"]

    /// The typed arrays of one span's attributes, reused from span to span.
    struct Attributes {
        var str: [(UInt8, StrRef, StrRef)] = []
        var int: [(UInt8, StrRef, Int64)] = []
        var float: [(UInt8, StrRef, Double)] = []
        var bool: [(UInt8, StrRef, Bool)] = []
        var other: [(UInt8, StrRef, String)] = []

        mutating func removeAll() {
            str.removeAll(keepingCapacity: true)
            int.removeAll(keepingCapacity: true)
            float.removeAll(keepingCapacity: true)
            bool.removeAll(keepingCapacity: true)
            other.removeAll(keepingCapacity: true)
        }

        mutating func add(_ batch: SpanBatch, _ pool: [Attribute], _ range: PoolRange, _ origin: Schema.AttributeOrigin) {
            for a in pool[range.indices] {
                let o = origin.rawValue
                switch a.value {
                case .string(let r): str.append((o, a.key, r))
                case .int(let v): int.append((o, a.key, v))
                case .double(let v): float.append((o, a.key, v))
                case .bool(let v): bool.append((o, a.key, v))
                case .empty, .bytes, .array, .kvlist: other.append((o, a.key, batch.attributeValue(a.value).displayString))
                }
            }
        }
    }

    /// Appends every span of `batch`.
    mutating func append(_ batch: SpanBatch) {
        let services = batch.serviceNamesByScope()
        var attrs = Attributes()
        struct Operation: Hashable {
            var service: String
            var name: StrRef
            var kind: SpanKind
        }
        var seenOperations = Set<Operation>()
        for i in 0..<batch.count {
            let scopeIndex = Int(batch.scopeIndices[i])
            let scope = batch.scopes[scopeIndex]
            let service = services[scopeIndex]
            // The identity lives in columns; the record holds the rest of the span.
            let record = OTLPProtobuf.encodeExportRequest(batch, span: i, withoutIdentity: true)
            let start = batch.startTimes[i]
            let traceID = batch.traceIDs[i]
            let links = batch.links[batch.linkRanges[i].indices]
            let peer = DependencyPeer.of(batch, i)

            traces.day(ofNanoseconds: start)
            traces.uint64(traceID.low)
            traces.traceID(traceID)
            traces.spanID(batch.spanIDs[i])
            traces.uint32(Self.spanHash(batch, i, record))
            traces.spanID(batch.parentSpanIDs[i])
            traces.spanID(DependencyCounter.linkedSpan(batch, i))
            traces.string(service)
            batch.withBytes(batch.names[i]) { traces.bytes($0) }
            traces.int8(Int8(clamping: batch.kinds[i].rawValue))
            traces.int8(Int8(clamping: batch.statusCodes[i].rawValue))
            traces.uint64(start)
            traces.uint64(batch.endTimes[i])
            traces.string(peer?.name ?? "")
            traces.string(peer?.type ?? "")
            traces.bytes(record)

            spans.day(ofNanoseconds: start)
            spans.string(service)
            batch.withBytes(batch.names[i]) { spans.bytes($0) }
            spans.uint64(start)
            spans.uint64(traceID.low)
            spans.int8(Int8(clamping: batch.kinds[i].rawValue))
            spans.int8(Int8(clamping: batch.statusCodes[i].rawValue))
            spans.uint64(batch.duration(ofSpan: i))
            batch.withBytes(batch.statusMessages[i]) { spans.bytes($0) }
            batch.withBytes(scope.name) { spans.bytes($0) }

            attrs.removeAll()
            attrs.add(batch, batch.spanAttributes, batch.attributeRanges[i], .span)
            attrs.add(batch, batch.attributes, batch.resources[Int(scope.resource)].attributes, .resource)
            attrs.add(batch, batch.attributes, scope.attributes, .scope)
            for e in batch.events[batch.eventRanges[i].indices] { attrs.add(batch, batch.attributes, e.attributes, .event) }
            for l in links { attrs.add(batch, batch.attributes, l.attributes, .link) }
            write(attrs.str, batch) { w, v in batch.withBytes(v) { w.bytes($0) } }
            write(attrs.int, batch) { w, v in w.int64(v) }
            write(attrs.float, batch) { w, v in w.float64(v) }
            write(attrs.bool, batch) { w, v in w.uint8(v ? 1 : 0) }
            write(attrs.other, batch) { w, v in w.string(v) }

            // By reference: a name under two references only repeats a row, which merges and DISTINCT remove.
            if seenOperations.insert(Operation(service: service, name: batch.names[i], kind: batch.kinds[i])).inserted {
                operations.day(ofNanoseconds: start)
                operations.string(service)
                batch.withBytes(batch.names[i]) { operations.bytes($0) }
                operations.int8(Int8(clamping: batch.kinds[i].rawValue))
            }
        }
        count += batch.count
    }

    /// One Nested column: its scope, key and value arrays.
    private mutating func write<V>(_ items: [(UInt8, StrRef, V)], _ batch: SpanBatch, _ value: (inout RowBinaryWriter, V) -> Void) {
        spans.varint(items.count)
        for item in items { spans.uint8(item.0) }
        spans.varint(items.count)
        for item in items { batch.withBytes(item.1) { spans.bytes($0) } }
        spans.varint(items.count)
        for item in items { value(&spans, item.2) }
    }

    /// FNV-1a over the whole span (its record and the fields kept beside it), folded to 32 bits:
    /// the same in every process, so that a span written by two nodes gets one key. Only spans
    /// of one trace with one span id are told apart by it.
    static func spanHash(_ batch: SpanBatch, _ i: Int, _ record: [UInt8]) -> UInt32 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) {
            for k in 0..<8 { h = (h ^ ((v >> (8 * UInt64(k))) & 0xFF)) &* 0x100_0000_01b3 }
        }
        for b in record { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        mix(batch.parentSpanIDs[i].value)
        mix(batch.startTimes[i])
        mix(batch.endTimes[i])
        mix(UInt64(bitPattern: Int64(batch.kinds[i].rawValue)))
        batch.withBytes(batch.names[i]) { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }
}
