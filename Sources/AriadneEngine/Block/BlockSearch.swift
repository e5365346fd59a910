import AriadneModel
import AriadneStorage

/// The search data of a block (format v3): a term index and per-trace summaries.
///
/// Term index: for every field — an intrinsic (`service`, `name`, `kind`, `status`) or an
/// attribute key in one scope (span, resource, event) — the distinct values seen in the block,
/// each with the ascending list of trace ordinals (positions in the block's id-sorted index)
/// whose spans carry it. A search reads only the fields its conditions name, picks the values
/// its comparisons accept (so `=~`, `<`, `!=` run once per distinct value, not per span), and
/// turns the union/intersection of their lists into candidate traces. Candidates are then
/// checked span by span, so the index only has to be a superset of the answer.
///
/// On disk: a directory section (field scope and key, in the order of the field sections) and
/// one zstd-compressed field section per field:
/// `varint values; per value: u8 type, payload, varint n, n varint deltas of ordinals`.
/// Value types: 1 string (varint length, bytes), 2 int (8 bytes LE), 3 double (8 bytes LE bits),
/// 4 bool (1 byte). Bytes, arrays and maps are indexed by their display string.
///
/// Summaries: one zstd-compressed section: `varint strings, each (varint length, bytes)`, then per
/// trace in index order `varint spans, varint errors, varint root service, varint root name,
/// varint services, each a string number`.
enum BlockSearch {
    /// Field scopes on disk; attribute scopes follow ``AttributeScope`` minus `any`.
    enum Scope: UInt8 {
        case intrinsic = 0
        case span = 1
        case resource = 2
        case event = 3
    }

    struct FieldKey: Hashable {
        var scope: Scope
        var key: String
    }

    /// Collects terms and summaries while a block is written, one trace at a time.
    struct Builder {
        var fields = [FieldKey: [FilterValue: [UInt32]]]()
        var summaries = [UInt8]()
        var summaryStrings = [String: Int]()
        var summaryStringList = [String]()
        private var seen = Set<Term>()

        struct Term: Hashable {
            var field: FieldKey
            var value: FilterValue
        }

        mutating func add(trace: SpanBatch, ordinal: UInt32) {
            seen.removeAll(keepingCapacity: true)
            func term(_ scope: Scope, _ key: String, _ value: FilterValue) {
                let t = Term(field: FieldKey(scope: scope, key: key), value: value)
                guard seen.insert(t).inserted else { return }
                fields[t.field, default: [:]][value, default: []].append(ordinal)
            }
            func attributes(_ scope: Scope, _ pool: [Attribute], _ range: PoolRange) {
                for a in pool[range.indices] {
                    let v = trace.filterValue(a.value) ?? .string(trace.attributeValue(a.value).displayString)
                    term(scope, trace.string(a.key), v)
                }
            }
            let services = trace.resources.indices.map { trace.serviceName(ofResource: $0) }
            for (r, resource) in trace.resources.enumerated() {
                term(.intrinsic, "service", .string(services[r]))
                attributes(.resource, trace.attributes, resource.attributes)
            }
            var errors = 0
            var root: Int? = nil
            let ids = Set(trace.spanIDs)
            for i in 0..<trace.count {
                term(.intrinsic, "name", .string(trace.string(trace.names[i])))
                term(.intrinsic, "kind", .string(SpanBatch.kindName(trace.kinds[i])))
                term(.intrinsic, "status", .string(SpanBatch.statusName(trace.statusCodes[i])))
                attributes(.span, trace.spanAttributes, trace.attributeRanges[i])
                for e in trace.events[trace.eventRanges[i].indices] { attributes(.event, trace.attributes, e.attributes) }
                if trace.statusCodes[i] == .error { errors += 1 }
                // The root: a span without a parent here, the earliest if several (a broken trace).
                let isRoot = !trace.parentSpanIDs[i].isValid || !ids.contains(trace.parentSpanIDs[i])
                if isRoot, root.map({ trace.startTimes[i] < trace.startTimes[$0] }) ?? true { root = i }
            }
            let r = root ?? 0
            let rootService = services[Int(trace.scopes[Int(trace.scopeIndices[r])].resource)]
            appendVarint(UInt64(trace.count), &summaries)
            appendVarint(UInt64(errors), &summaries)
            appendVarint(UInt64(stringNumber(rootService)), &summaries)
            appendVarint(UInt64(stringNumber(trace.string(trace.names[r]))), &summaries)
            let distinct = Array(Set(services)).sorted()
            appendVarint(UInt64(distinct.count), &summaries)
            for s in distinct { appendVarint(UInt64(stringNumber(s)), &summaries) }
        }

        private mutating func stringNumber(_ s: String) -> Int {
            if let n = summaryStrings[s] { return n }
            summaryStrings[s] = summaryStringList.count
            summaryStringList.append(s)
            return summaryStringList.count - 1
        }

        /// The directory, then each field's section bytes (uncompressed), in directory order.
        func fieldSections() -> (directory: [UInt8], fields: [[UInt8]]) {
            let keys = fields.keys.sorted { ($0.scope.rawValue, $0.key) < ($1.scope.rawValue, $1.key) }
            var directory = [UInt8]()
            appendVarint(UInt64(keys.count), &directory)
            var blobs = [[UInt8]]()
            for k in keys {
                directory.append(k.scope.rawValue)
                appendString(k.key, &directory)
                var blob = [UInt8]()
                let values = fields[k]!
                appendVarint(UInt64(values.count), &blob)
                for (value, ordinals) in values {
                    switch value {
                    case .string(let s):
                        blob.append(1)
                        appendString(s, &blob)
                    case .int(let i):
                        blob.append(2)
                        appendLE(UInt64(bitPattern: i), &blob)
                    case .double(let d):
                        blob.append(3)
                        appendLE(d.bitPattern, &blob)
                    case .bool(let b):
                        blob.append(4)
                        blob.append(b ? 1 : 0)
                    }
                    appendVarint(UInt64(ordinals.count), &blob)
                    var last: UInt32 = 0
                    for o in ordinals {
                        appendVarint(UInt64(o - last), &blob)
                        last = o
                    }
                }
                blobs.append(blob)
            }
            return (directory, blobs)
        }

        func summarySection() -> [UInt8] {
            var out = [UInt8]()
            appendVarint(UInt64(summaryStringList.count), &out)
            for s in summaryStringList { appendString(s, &out) }
            out.append(contentsOf: summaries)
            return out
        }
    }

    // MARK: reading

    /// Decodes a directory section into field keys, in field-section order.
    static func decodeDirectory(_ bytes: [UInt8]) throws -> [FieldKey] {
        var r = ByteReader(bytes)
        let n = try r.count()
        var keys = [FieldKey]()
        for _ in 0..<n {
            guard let scope = Scope(rawValue: try r.byte()) else { throw EngineError("search directory: unknown scope") }
            keys.append(FieldKey(scope: scope, key: try r.string()))
        }
        guard r.atEnd else { throw EngineError("search directory: trailing bytes") }
        return keys
    }

    /// The sorted union of the ordinals of every value of a field section that `accept` takes.
    static func postings(_ bytes: [UInt8], traceCount: Int, accept: (FilterValue) -> Bool) throws -> [UInt32] {
        var r = ByteReader(bytes)
        let n = try r.count()
        var lists = [[UInt32]]()
        for _ in 0..<n {
            let value: FilterValue
            switch try r.byte() {
            case 1: value = .string(try r.string())
            case 2: value = .int(Int64(bitPattern: try r.u64()))
            case 3: value = .double(Double(bitPattern: try r.u64()))
            case 4: value = .bool(try r.byte() != 0)
            default: throw EngineError("search field: unknown value type")
            }
            let count = try r.count()
            if accept(value) {
                var list = [UInt32]()
                list.reserveCapacity(count)
                var last: UInt64 = 0
                for _ in 0..<count {
                    last += try r.varint()
                    guard last < UInt64(traceCount) else { throw EngineError("search field: ordinal out of range") }
                    list.append(UInt32(last))
                }
                lists.append(list)
            } else {
                for _ in 0..<count { _ = try r.varint() }
            }
        }
        guard r.atEnd else { throw EngineError("search field: trailing bytes") }
        return union(lists)
    }

    static func union(_ lists: [[UInt32]]) -> [UInt32] {
        if lists.count == 1 { return lists[0] }
        return Array(Set(lists.joined())).sorted()
    }

    static func intersect(_ a: [UInt32], _ b: [UInt32]) -> [UInt32] {
        var out = [UInt32]()
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] { i += 1 } else if a[i] > b[j] { j += 1 } else {
                out.append(a[i])
                i += 1
                j += 1
            }
        }
        return out
    }

    static func decodeSummaries(_ bytes: [UInt8], entries: [BlockIndexEntry]) throws -> [TraceSummary] {
        var r = ByteReader(bytes)
        let n = try r.count()
        var strings = [String]()
        for _ in 0..<n { strings.append(try r.string()) }
        func str() throws -> String {
            let k = try r.count()
            guard k < strings.count else { throw EngineError("summaries: string number out of range") }
            return strings[k]
        }
        var out = [TraceSummary]()
        out.reserveCapacity(entries.count)
        for e in entries {
            let spans = Int(clamping: try r.varint())
            let errors = Int(clamping: try r.varint())
            let rootService = try str()
            let rootName = try str()
            var services = [String]()
            for _ in 0..<(try r.count()) { services.append(try str()) }
            out.append(
                TraceSummary(
                    traceID: e.traceID, rootService: rootService, rootName: rootName, start: e.minStart,
                    end: e.maxEnd, spanCount: spans, errorCount: errors, services: services))
        }
        guard r.atEnd else { throw EngineError("summaries: trailing bytes") }
        return out
    }
}

func appendVarint(_ v: UInt64, _ out: inout [UInt8]) {
    var v = v
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

func appendString(_ s: String, _ out: inout [UInt8]) {
    appendVarint(UInt64(s.utf8.count), &out)
    out.append(contentsOf: s.utf8)
}

/// Bounds-checked reads of engine-written bytes: damaged input throws, never traps.
struct ByteReader {
    let bytes: [UInt8]
    var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }

    mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw EngineError("truncated search data") }
        defer { at += 1 }
        return bytes[at]
    }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw EngineError("varint too long in search data") }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }

    /// A varint that counts things still ahead in the data (so it cannot exceed the bytes left).
    mutating func count() throws -> Int {
        let v = try varint()
        guard v <= UInt64(bytes.count) else { throw EngineError("count out of range in search data") }
        return Int(v)
    }

    mutating func u64() throws -> UInt64 {
        guard at + 8 <= bytes.count else { throw EngineError("truncated search data") }
        defer { at += 8 }
        return bytes.readLE(UInt64.self, at: at)
    }

    mutating func string() throws -> String {
        let n = try count()
        guard at + n <= bytes.count else { throw EngineError("truncated string in search data") }
        defer { at += n }
        return String(decoding: bytes[at..<at + n], as: UTF8.self)
    }
}
