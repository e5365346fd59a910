public import AriadneModel

#if canImport(Glibc)
    import Glibc
#endif

/// Block format 4's chunk: the spans of whole traces as columns, each compressed on its own.
///
/// ```
/// u8 layout (2) | varint traces | varint spans | varint columns
/// per column: u8 kind | varint key | u8 codec (0 stored, 1 zstd) | varint plain length | varint stored length
/// the columns' bytes, in directory order
/// ```
///
/// Rows are spans, a trace's spans together, traces in chunk order (the index points at a
/// trace by its position in the chunk). Trace ids are not stored here: the block's index holds
/// each trace's id with its position, and the reader is given them. A parent is the row of
/// its span inside the trace where it resolves; a start time is an offset from its parent's
/// start (from the root row before for a root) and, with durations, stored as byte planes;
/// names, trace states, status messages, scope names and schema URLs come from one dictionary
/// per chunk; resources and scopes are in the block's scope table, which the chunks of a run
/// share (``ColumnarChunkReader/ScopeTable``), and a span in its parent's scope says only so.
/// An owner's attribute keys are one of its owner kind's key sequences (shapes) from a key
/// dictionary, and each (owner kind, key) has its own value columns: a tag per value, then
/// strings (a dictionary of that key's values when they repeat, raw otherwise), zigzag varint
/// integers (as byte planes), doubles, and anything nested. A column of
/// values that hardly vary (a status code, a database system) compresses to a few bytes; a
/// column of random ids costs little more than their entropy.
///
/// Earlier layouts are still read. Layout 1, the first version 4 chunks: trace ids in a column of
/// their own, starts from the row before and durations as zigzag varints, every span's scope
/// number written, every owner's keys listed. Layout 2: trace ids from the index, times as byte
/// planes but starts from the row before, resources and scopes in every chunk, keys listed.
enum ColumnarChunk {
    /// The layout written; 1 and 2 are still read.
    static let layout: UInt8 = 3
    static let readableLayouts: ClosedRange<UInt8> = 1...3

    /// Columns not tied to an attribute key.
    enum Column: UInt8, CaseIterable {
        case traceIDs = 1, traceSpans, spanIDs, parents, parentIDs, starts, durations, kindStatus, wideKindStatus
        case flags, names, traceStates, statusMessages, scopes, dropped, dictionary, keys
        case eventCounts, eventTimes, eventNames, eventDropped
        case linkCounts, linkTraceIDs, linkSpanIDs, linkTraceStates, linkDropped, linkFlags
        case resources, scopeTable
    }

    /// Who owns an attribute list; each has its own attribute columns.
    enum Owner: UInt8, CaseIterable {
        case span = 0, resource, scope, event, link
        /// Kind of the column of list lengths, and of the keys column.
        var countsKind: UInt8 { 32 + rawValue }
        var keysKind: UInt8 { 40 + rawValue }
        func valueKind(_ sub: ValueColumn) -> UInt8 { 64 + rawValue * 8 + sub.rawValue }
    }

    /// The value columns of one (owner, key).
    enum ValueColumn: UInt8 {
        case tags = 0, strings, stringDictionary, ints, doubles, nested
    }

    /// Value tags.
    enum Tag: UInt8 {
        case empty = 0, string, falseBool, trueBool, int, double, bytes, array, kvlist
    }

    /// A column's name for a breakdown of bytes: `starts`, `span.user.id/strings`, ...
    static func describe(kind: UInt8, key: UInt32, keys: ColumnarChunkReader.Strings) -> String {
        if let c = Column(rawValue: kind) { return "\(c)" }
        func keyName() -> String {
            guard let r = try? keys.range(key) else { return "#\(key)" }
            return String(decoding: keys.bytes[r], as: UTF8.self)
        }
        if kind >= 64, let owner = Owner(rawValue: (kind - 64) / 8), let sub = ValueColumn(rawValue: (kind - 64) % 8) {
            return "\(owner).\(keyName())/\(sub)"
        }
        if kind >= 40, let owner = Owner(rawValue: kind - 40) { return "\(owner) attribute keys" }
        if kind >= 32, let owner = Owner(rawValue: kind - 32) { return "\(owner) attribute counts" }
        return "kind \(kind)"
    }

    /// Which rows of a trace store their start as an offset from their parent's (layout 3): a
    /// child starts a little after its parent, much closer than after the row before. A row
    /// whose parents go round in a circle stores it from the row before, as a root does.
    static func startsFromParent(count: Int, parentRow: (Int) -> Int?) -> [Bool] {
        (0..<count).map { i in
            guard parentRow(i) != nil else { return false }
            var row = i
            for _ in 0...count {
                guard let p = parentRow(row) else { return true }
                row = p
            }
            return false
        }
    }

    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    static func columnKey(_ kind: UInt8, _ key: UInt32) -> UInt64 { UInt64(kind) << 32 | UInt64(key) }

    /// Recompresses every column of a chunk section at `level` (nil: stores them plain, for
    /// tests that damage columns), decoding no span.
    static func recompress(_ section: [UInt8], level: Int32?) throws -> [UInt8] {
        let parsed = try Directory(section)
        var plain = [(kind: UInt8, key: UInt32, bytes: [UInt8])]()
        for (k, entry) in parsed.entries.enumerated() { plain.append((entry.kind, entry.key, try parsed.column(k))) }
        return assemble(layout: parsed.layout, traces: parsed.traces, spans: parsed.spans, plain, level: level)
    }

    /// Lays out a chunk section from its plain columns.
    static func assemble(
        layout: UInt8 = layout, traces: Int, spans: Int, _ columns: [(kind: UInt8, key: UInt32, bytes: [UInt8])], level: Int32?
    ) -> [UInt8] {
        var out: [UInt8] = [layout]
        appendVarint(UInt64(traces), &out)
        appendVarint(UInt64(spans), &out)
        appendVarint(UInt64(columns.count), &out)
        var stored = [[UInt8]]()
        for c in columns {
            // Tiny columns are not worth a zstd frame's header.
            let z = c.bytes.count >= 64 ? level.map { Zstd.compress(c.bytes, level: $0) } ?? c.bytes : c.bytes
            let compressed = z.count < c.bytes.count
            out.append(c.kind)
            appendVarint(UInt64(c.key), &out)
            out.append(compressed ? 1 : 0)
            appendVarint(UInt64(c.bytes.count), &out)
            appendVarint(UInt64(compressed ? z.count : c.bytes.count), &out)
            stored.append(compressed ? z : c.bytes)
        }
        for s in stored { out.append(contentsOf: s) }
        return out
    }

    /// A chunk section's directory, with its columns still as stored.
    struct Directory {
        struct Entry {
            var kind: UInt8
            var key: UInt32
            var compressed: Bool
            var plainLength: Int
            var range: Range<Int>
        }
        let bytes: [UInt8]
        var layout: UInt8 = 0
        var traces = 0
        var spans = 0
        var entries = [Entry]()

        init(_ bytes: [UInt8]) throws {
            self.bytes = bytes
            var r = ByteReader(bytes)
            layout = try r.byte()
            guard ColumnarChunk.readableLayouts.contains(layout) else { throw EngineError("chunk: unknown column layout") }
            // Not bounded by the section's size: columns of small ids compress below a byte per span.
            let (t, s) = (try r.varint(), try r.varint())
            guard t <= 1 << 26, s <= 1 << 26 else { throw EngineError("chunk: implausible trace or span count") }
            (traces, spans) = (Int(t), Int(s))
            let n = try r.count()
            var pending = [(UInt8, UInt32, Bool, Int, Int)]()
            for _ in 0..<n {
                let kind = try r.byte()
                let key = try r.varint()
                let codec = try r.byte()
                let plain = try r.varint()
                let stored = try r.count()
                guard key <= UInt64(UInt32.max), codec <= 1, plain <= 1 << 30 else { throw EngineError("chunk: bad column entry") }
                pending.append((kind, UInt32(key), codec == 1, Int(plain), stored))
            }
            var at = r.at
            for (kind, key, compressed, plain, stored) in pending {
                guard stored <= bytes.count - at else { throw EngineError("chunk: column past the end") }
                guard compressed || plain == stored else { throw EngineError("chunk: stored column length mismatch") }
                entries.append(Entry(kind: kind, key: key, compressed: compressed, plainLength: plain, range: at..<at + stored))
                at += stored
            }
            guard at == bytes.count else { throw EngineError("chunk: trailing bytes") }
        }

        /// Column `k`'s plain bytes.
        func column(_ k: Int) throws -> [UInt8] {
            let e = entries[k]
            guard e.compressed else { return Array(bytes[e.range]) }
            let plain = try bytes.withUnsafeBytes { buf throws(EngineError) in
                try Zstd.decompress(UnsafeRawBufferPointer(rebasing: buf[e.range]), limit: 1 << 30)
            }
            guard plain.count == e.plainLength else { throw EngineError("chunk: column length mismatch") }
            return plain
        }
    }
}

/// A column of integers as byte planes: u8 width, then the lowest byte of every value, then
/// the next byte of every value, ... up to `width` planes. Durations, time deltas and integer
/// attributes (layout 3) compress
/// smaller so than as varints (realistic durations 3.46 -> 3.27 bytes per span): their high
/// bytes vary little and their low bytes are noise, and planes keep the two apart for zstd.
struct BytePlanes {
    let bytes: [UInt8]
    let count: Int
    let width: Int

    static func encode(_ values: [UInt64]) -> [UInt8] {
        guard !values.isEmpty else { return [] }
        let width = (64 - values.reduce(0, |).leadingZeroBitCount + 7) / 8
        var out = [UInt8](repeating: 0, count: 1 + width * values.count)
        out[0] = UInt8(width)
        for (i, v) in values.enumerated() {
            for b in 0..<width { out[1 + b * values.count + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * b)) }
        }
        return out
    }

    init(_ bytes: [UInt8], count: Int, what: String) throws {
        (self.bytes, self.count) = (bytes, count)
        width = bytes.first.map(Int.init) ?? 0
        guard width <= 8, bytes.count == (count == 0 ? 0 : 1 + width * count) else { throw EngineError("chunk: \(what) column size") }
    }

    subscript(i: Int) -> UInt64 {
        var v: UInt64 = 0
        for b in 0..<width { v |= UInt64(bytes[1 + b * count + i]) << UInt64(8 * b) }
        return v
    }
}

/// Byte strings numbered in order of first sight: the dictionaries of a chunk.
struct ByteInterner {
    private(set) var bytes = [UInt8]()
    private(set) var ends = [Int]()
    private var table = [Int32](repeating: -1, count: 64)

    var count: Int { ends.count }

    func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

    mutating func intern(_ p: UnsafeRawBufferPointer) -> UInt32 {
        if ends.count * 2 >= table.count { grow() }
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: BlockSearch.TermTable.hash(p)) & mask
        while table[slot] >= 0 {
            let e = Int(table[slot])
            let r = range(e)
            if r.count == p.count, r.isEmpty || bytes.withUnsafeBytes({ memcmp($0.baseAddress! + r.lowerBound, p.baseAddress!, r.count) == 0 }) {
                return UInt32(e)
            }
            slot = (slot + 1) & mask
        }
        table[slot] = Int32(ends.count)
        bytes.append(contentsOf: p)
        ends.append(bytes.count)
        return UInt32(ends.count - 1)
    }

    mutating func intern(_ s: String) -> UInt32 {
        var s = s
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    private mutating func grow() {
        table = [Int32](repeating: -1, count: table.count * 2)
        let mask = table.count - 1
        for e in ends.indices {
            let r = range(e)
            var slot = bytes.withUnsafeBytes { Int(truncatingIfNeeded: BlockSearch.TermTable.hash(UnsafeRawBufferPointer(rebasing: $0[r]))) } & mask
            while table[slot] >= 0 { slot = (slot + 1) & mask }
            table[slot] = Int32(e)
        }
    }

    /// Every entry, each as a varint length and its bytes.
    func serialized() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + count)
        for e in ends.indices {
            let r = range(e)
            appendVarint(UInt64(r.count), &out)
            out.append(contentsOf: bytes[r])
        }
        return out
    }
}

/// Builds one chunk from whole traces.
struct ColumnarChunkWriter {
    private(set) var traceCount = 0
    private(set) var spanCount = 0
    /// The traces' ids in chunk order: kept by the block's index, not in the chunk.
    private(set) var traceIDs = [TraceID]()
    private var base = [[UInt8]](repeating: [], count: 64)
    private var dictionary = ByteInterner()
    private var keys = ByteInterner()
    /// Per owner kind: the shape of each owner's attributes (a number in `shapes`).
    private var lists = [[UInt8]](repeating: [], count: ColumnarChunk.Owner.allCases.count)
    /// Per owner kind, the key sequences its owners' attributes come in: spans of one operation
    /// mostly carry the same keys in the same order, so a span says which sequence it has.
    private var shapes = [ByteInterner](repeating: ByteInterner(), count: ColumnarChunk.Owner.allCases.count)
    private var shape = [UInt8]()
    private var values = [Values]()
    /// Per owner kind, the number in `values` of each key's column (-1: none yet), by key number.
    private var columnOf = [[Int32]](repeating: [], count: ColumnarChunk.Owner.allCases.count)
    private var valueKeys = [(owner: ColumnarChunk.Owner, key: UInt32)]()
    /// Resources and scopes by their encoded contents: the same ones recur in most traces.
    private var resourceIDs = ByteInterner()
    private var scopeIDs = ByteInterner()
    /// The resource (number in `resourceIDs`) of each scope of `scopeIDs`.
    private(set) var resourceOfScope = [UInt32]()
    private var key = [UInt8]()
    private var termValue = [UInt8]()
    private var lastStart: UInt64 = 0
    private var startDeltas = [UInt64]()
    private var durations = [UInt64]()
    /// The values the trace being added carries, each once, for the block's term index (see
    /// ``indexTerms(into:ordinal:)``): a column of `values` and a value's number in it (a string's
    /// in `interner`, another type's with `otherValue` set, in `others`), or a span name's number
    /// in `dictionary` (column `nameColumn`).
    private var touched = [(column: Int32, value: UInt32)]()
    /// The attribute values of the chunk's traces, each once per trace with the trace's ordinal:
    /// indexed when the chunk is done (``indexChunkTerms(into:chunk:)``), when it is known which
    /// are in one trace of the chunk only.
    private var deferred = [(column: Int32, value: UInt32, ordinal: UInt32)]()
    /// The run's term of each `dictionary` entry that is a span name (-1: none yet).
    private var nameTerms = [Int32]()
    private static let nameColumn: Int32 = -1
    private static let otherValue: UInt32 = 1 << 31

    /// How a chunk uses one value of a column, for the term index.
    struct ValueUse {
        /// The run's term of the value (-1: none yet).
        var term: Int32 = -1
        /// The last trace (position) that has it, and how many do.
        var lastTrace: Int32 = -1
        var traces: Int32 = 0
    }

    /// The values of one (owner, key), as written.
    struct Values {
        var tags = [UInt8]()
        var strings = [UInt32]()
        var interner = ByteInterner()
        var ints = [UInt64]()  // zigzag
        var doubles = [UInt8]()
        var nested = [UInt8]()
        /// Values of other types than string as the term index writes them (type byte first).
        var others = ByteInterner()
        /// The uses of each value in `interner` and in `others`.
        var stringUses = [ValueUse]()
        var otherUses = [ValueUse]()
    }

    /// What ``add(_:rows:table:scopeIDs:)`` saw of a trace besides its position in the chunk.
    struct Added {
        var position: UInt32
        /// The root's row in the batch: a row whose parent is none of the trace's rows, the
        /// earliest of them (the first of equals); nil for an empty trace.
        var root: Int?
        /// The kinds and statuses (raw values below 32) of the trace's spans, one bit each.
        var kinds: UInt32 = 0
        var statuses: UInt32 = 0
        /// Whether some span has a kind or status outside those bits.
        var wideKindOrStatus = false
    }

    typealias Column = ColumnarChunk.Column
    typealias Owner = ColumnarChunk.Owner

    private mutating func varint(_ c: Column, _ v: UInt64) { appendVarint(v, &base[Int(c.rawValue)]) }
    private mutating func word(_ c: Column, _ v: UInt64) { appendLE(v, &base[Int(c.rawValue)]) }
    @discardableResult
    private mutating func string(_ c: Column, _ batch: SpanBatch, _ ref: StrRef) -> UInt32 {
        let id = batch.withBytes(ref) { dictionary.intern($0) }
        varint(c, UInt64(id))
        return id
    }

    /// Adds one trace (every span of `trace` has the same trace id). Its resources and scopes go
    /// to `table`, the block's scope table, which many chunks share.
    mutating func add(trace: SpanBatch, table: inout ColumnarChunkWriter) -> Added {
        var scopeIDs = [UInt32](repeating: .max, count: trace.scopes.count)
        return add(trace, rows: Array(0..<trace.count), table: &table, scopeIDs: &scopeIDs)
    }

    /// Adds the table's number of each scope of rows `rows` of `batch` to `scopeIDs` where it
    /// is not there yet (a trace's rows name each of their scopes, but a damaged one may not).
    mutating func addScopes(of batch: SpanBatch, rows: [Int], to scopeIDs: inout [UInt32]) {
        for r in rows {
            let s = Int(batch.scopeIndices[r])
            if scopeIDs[s] == .max { scopeIDs[s] = scopeID(batch, s) }
        }
    }

    /// Adds the trace made of rows `rows` of `batch`, in that order. `scopeIDs` holds the
    /// table's number of each of the batch's scopes (`.max`: not added yet) and is kept by the
    /// caller from trace to trace of the batch, for the same `table`.
    mutating func add(_ batch: SpanBatch, rows: [Int], table: inout ColumnarChunkWriter, scopeIDs: inout [UInt32]) -> Added {
        var added = Added(position: UInt32(traceCount))
        let n = rows.count
        traceCount += 1
        spanCount += n
        touched.removeAll(keepingCapacity: true)
        guard n > 0 else {
            traceIDs.append(.zero)
            varint(.traceSpans, 0)
            return added
        }
        traceIDs.append(batch.traceIDs[rows[0]])
        varint(.traceSpans, UInt64(n))
        // Parents as positions among the trace's rows: looked for among them, up to a size where
        // a table costs less than the search (hashing each id was most of this for 6-14 spans).
        var rowOf = [SpanID: Int]()
        if n > 48 {
            for i in (0..<n).reversed() { rowOf[batch.spanIDs[rows[i]]] = i }
        }
        let parentRows = (0..<n).map { i -> Int? in
            let parent = batch.parentSpanIDs[rows[i]]
            return parent == .zero ? nil : n > 48 ? rowOf[parent] : rows.firstIndex { batch.spanIDs[$0] == parent }
        }
        let fromParent = ColumnarChunk.startsFromParent(count: n) { parentRows[$0] }
        var root: Int?
        for i in 0..<n {
            let r = rows[i]
            if parentRows[i] == nil, root.map({ batch.startTimes[r] < batch.startTimes[$0] }) ?? true { root = r }
            word(.spanIDs, batch.spanIDs[r].value)
            // 0: a root; 1: a parent outside this trace's rows (kept in full); 2 + row otherwise.
            let parent = batch.parentSpanIDs[r]
            if parent == .zero {
                varint(.parents, 0)
            } else if let row = parentRows[i] {
                varint(.parents, UInt64(row) + 2)
            } else {
                varint(.parents, 1)
                word(.parentIDs, parent.value)
            }
            let start = batch.startTimes[r]
            if fromParent[i], let p = parentRows[i] {
                startDeltas.append(ColumnarChunk.zigzag(Int64(bitPattern: start &- batch.startTimes[rows[p]])))
            } else {
                startDeltas.append(ColumnarChunk.zigzag(Int64(bitPattern: start &- lastStart)))
                lastStart = start
            }
            durations.append(ColumnarChunk.zigzag(Int64(bitPattern: batch.endTimes[r] &- start)))
            let kind = batch.kinds[r].rawValue
            let status = batch.statusCodes[r].rawValue
            if (0..<32).contains(kind) { added.kinds |= 1 << kind } else { added.wideKindOrStatus = true }
            if (0..<32).contains(status) { added.statuses |= 1 << status } else { added.wideKindOrStatus = true }
            if (0...7).contains(kind), (0...3).contains(status) {
                base[Int(Column.kindStatus.rawValue)].append(UInt8(kind) | UInt8(status) << 3)
            } else {
                base[Int(Column.kindStatus.rawValue)].append(0xFF)
                varint(.wideKindStatus, UInt64(UInt32(bitPattern: kind)))
                varint(.wideKindStatus, UInt64(UInt32(bitPattern: status)))
            }
            varint(.flags, UInt64(batch.flags[r]))
            touched.append((Self.nameColumn, string(.names, batch, batch.names[r])))
            string(.traceStates, batch, batch.traceStates[r])
            string(.statusMessages, batch, batch.statusMessages[r])
            // 0: the scope of the parent's row (a span mostly runs in its parent's service;
            // SDKs send children first, so the parent's row may come later); 1 + the chunk's
            // scope number otherwise.
            let s = Int(batch.scopeIndices[r])
            if Self.inheritsScope(i, count: n, scope: { batch.scopeIndices[rows[$0]] }, parentRow: { parentRows[$0] }) {
                varint(.scopes, 0)
            } else {
                if scopeIDs[s] == .max { scopeIDs[s] = table.scopeID(batch, s) }
                varint(.scopes, UInt64(scopeIDs[s]) + 1)
            }
            varint(.dropped, UInt64(batch.droppedAttributesCounts[r]))
            varint(.dropped, UInt64(batch.droppedEventsCounts[r]))
            varint(.dropped, UInt64(batch.droppedLinksCounts[r]))
            attributes(.span, batch, batch.spanAttributes, batch.attributeRanges[r])
            let events = batch.eventRanges[r]
            varint(.eventCounts, UInt64(events.count))
            for e in batch.events[events.indices] {
                varint(.eventTimes, ColumnarChunk.zigzag(Int64(bitPattern: e.time &- start)))
                string(.eventNames, batch, e.name)
                varint(.eventDropped, UInt64(e.droppedAttributesCount))
                attributes(.event, batch, batch.attributes, e.attributes)
            }
            let links = batch.linkRanges[r]
            varint(.linkCounts, UInt64(links.count))
            for l in batch.links[links.indices] {
                word(.linkTraceIDs, l.traceID.high)
                word(.linkTraceIDs, l.traceID.low)
                word(.linkSpanIDs, l.spanID.value)
                string(.linkTraceStates, batch, l.traceState)
                varint(.linkDropped, UInt64(l.droppedAttributesCount))
                varint(.linkFlags, UInt64(l.flags))
                attributes(.link, batch, batch.attributes, l.attributes)
            }
        }
        added.root = root
        return added
    }

    /// Adds the span names of the trace just added to `terms`, as the trace's of `ordinal`, and
    /// keeps its spans', events' and links' attribute values for ``indexChunkTerms(into:chunk:)``.
    /// The trace's values were numbered by the chunk's dictionaries already: each is made into a
    /// term (bytes, hashed) once per chunk, and its next traces only find its term by number.
    mutating func indexTerms(into terms: inout BlockSearch.TermTable, ordinal: UInt32) {
        for (column, value) in touched {
            guard column == Self.nameColumn else {
                deferred.append((column, value, ordinal))
                continue
            }
            let v = Int(value)
            if v >= nameTerms.count { nameTerms += repeatElement(-1, count: v + 1 - nameTerms.count) }
            if nameTerms[v] < 0 {
                terms.begin(BlockSearch.spanNameKey)
                dictionary.bytes.withUnsafeBytes { terms.value(string: UnsafeRawBufferPointer(rebasing: $0[dictionary.range(v)])) }
                nameTerms[v] = Int32(terms.finish(ordinal))
            } else {
                terms.add(ordinal, toTerm: Int(nameTerms[v]))
            }
        }
    }

    /// Indexes the attribute values of the chunk's traces (kept by ``indexTerms(into:ordinal:)``),
    /// the chunk being number `chunk` of `search`'s run. A value in one trace of the chunk (an
    /// id, a URL or SQL text with one in it, a byte count) gets no term: it goes into the chunk's
    /// filter of rare values (``RareTerms``), and a search by it checks the chunk's traces. Such
    /// values are most of a block's distinct ones, and each term cost a hash table entry, a copy
    /// of its bytes and a list until the block was written.
    mutating func indexChunkTerms(into search: inout BlockSearch.Builder, chunk: UInt32) {
        var rare = [RareTerms.Chunk](repeating: RareTerms.Chunk(), count: values.count)
        for (column, value, ordinal) in deferred {
            let c = Int(column)
            let other = value & Self.otherValue != 0
            let v = Int(value & ~Self.otherValue)
            let use = other ? values[c].otherUses[v] : values[c].stringUses[v]
            if use.term >= 0 {
                search.terms.add(ordinal, toTerm: Int(use.term))
                continue
            }
            if use.traces <= RareTerms.maxTracesInChunk, addRare(column: c, value: v, other: other, to: &rare[c]) { continue }
            let (owner, key) = valueKeys[c]
            keys.bytes.withUnsafeBytes { search.terms.begin(Self.scope(owner), key: UnsafeRawBufferPointer(rebasing: $0[keys.range(Int(key))])) }
            if other {
                let o = values[c].others
                o.bytes.withUnsafeBytes { search.terms.value(raw: UnsafeRawBufferPointer(rebasing: $0[o.range(v)])) }
                values[c].otherUses[v].term = Int32(search.terms.finish(ordinal))
            } else {
                let i = values[c].interner
                i.bytes.withUnsafeBytes { search.terms.value(string: UnsafeRawBufferPointer(rebasing: $0[i.range(v)])) }
                values[c].stringUses[v].term = Int32(search.terms.finish(ordinal))
            }
        }
        deferred.removeAll()
        for (c, values) in rare.enumerated() {
            guard !values.isEmpty else { continue }
            let (owner, key) = valueKeys[c]
            let field = BlockSearch.FieldKey(scope: Self.scope(owner), key: String(decoding: keys.bytes[keys.range(Int(key))], as: UTF8.self))
            search.addRare(values, field: field, chunk: chunk)
        }
    }

    private static func scope(_ owner: Owner) -> BlockSearch.Scope { owner == .event ? .event : owner == .link ? .link : .span }

    /// Adds value `v` of column `c` to the column's rare values `rare`; false for a value that
    /// the filters do not take (a bool).
    private mutating func addRare(column c: Int, value v: Int, other: Bool, to rare: inout RareTerms.Chunk) -> Bool {
        if other {
            let o = values[c].others
            guard let value = RareTerms.Value(o.bytes[o.range(v)]) else { return false }
            rare.add(value)
        } else {
            rare.add(.string(values[c].interner.bytes[values[c].interner.range(v)]))
        }
        return true
    }

    /// Whether row `i` (of `count`) is written as taking its parent's scope: the parent's row
    /// has the same scope, and following such rows up ends at one whose scope is written (parent
    /// links that go round in a circle would otherwise leave every row of the circle without one).
    static func inheritsScope(_ i: Int, count: Int, scope: (Int) -> UInt32, parentRow: (Int) -> Int?) -> Bool {
        var row = i
        for _ in 0..<count {
            guard let p = parentRow(row), scope(p) == scope(row) else { return row != i }
            row = p
        }
        return false
    }

    /// The chunk's number for scope `s` of `trace` (with its resource), adding it when new.
    mutating func scopeID(_ trace: SpanBatch, _ s: Int) -> UInt32 {
        let scope = trace.scopes[s]
        let resource = trace.resources[Int(scope.resource)]
        key.removeAll(keepingCapacity: true)
        Self.appendGeneric(list: trace.attributes, resource.attributes, trace, &key)
        appendVarint(UInt64(resource.droppedAttributesCount), &key)
        trace.withBytes(resource.schemaURL) { key.append(contentsOf: $0) }
        let known = resourceIDs.count
        let r = key.withUnsafeBytes { resourceIDs.intern($0) }
        if r == known {
            varint(.resources, UInt64(resource.droppedAttributesCount))
            string(.resources, trace, resource.schemaURL)
            attributes(.resource, trace, trace.attributes, resource.attributes)
        }
        key.removeAll(keepingCapacity: true)
        appendVarint(UInt64(r), &key)
        for ref in [scope.name, scope.version, scope.schemaURL] {
            appendVarint(UInt64(ref.count), &key)
            trace.withBytes(ref) { key.append(contentsOf: $0) }
        }
        appendVarint(UInt64(scope.droppedAttributesCount), &key)
        Self.appendGeneric(list: trace.attributes, scope.attributes, trace, &key)
        let count = scopeIDs.count
        let id = key.withUnsafeBytes { scopeIDs.intern($0) }
        if id < count { return id }
        resourceOfScope.append(r)
        varint(.scopeTable, UInt64(r))
        string(.scopeTable, trace, scope.name)
        string(.scopeTable, trace, scope.version)
        string(.scopeTable, trace, scope.schemaURL)
        varint(.scopeTable, UInt64(scope.droppedAttributesCount))
        attributes(.scope, trace, trace.attributes, scope.attributes)
        return id
    }

    private mutating func attributes(_ owner: Owner, _ batch: SpanBatch, _ pool: [Attribute], _ range: PoolRange) {
        let o = Int(owner.rawValue)
        // Resources and scopes are indexed per resource and scope by the block's search builder.
        let indexed = owner == .span || owner == .event || owner == .link
        shape.removeAll(keepingCapacity: true)
        defer { appendVarint(UInt64(shape.withUnsafeBytes { shapes[o].intern($0) }), &lists[o]) }
        for a in pool[range.indices] {
            let key = batch.withBytes(a.key) { keys.intern($0) }
            appendVarint(UInt64(key), &shape)
            let k = Int(key)
            if k >= columnOf[o].count { columnOf[o] += repeatElement(-1, count: k + 1 - columnOf[o].count) }
            var c = Int(columnOf[o][k])
            if c < 0 {
                c = values.count
                columnOf[o][k] = Int32(c)
                values.append(Values())
                valueKeys.append((owner, key))
            }
            switch a.value {
            case .string: break  // below, by its number in the column's dictionary
            default: if indexed { touch(column: c, other: true, other(a.value, batch, column: c)) }
            }
            switch a.value {
            case .empty: values[c].tags.append(ColumnarChunk.Tag.empty.rawValue)
            case .string(let r):
                values[c].tags.append(ColumnarChunk.Tag.string.rawValue)
                let id = batch.withBytes(r) { values[c].interner.intern($0) }
                values[c].strings.append(id)
                if indexed {
                    if id == values[c].stringUses.count { values[c].stringUses.append(ValueUse()) }
                    touch(column: c, other: false, id)
                }
            case .bool(let b): values[c].tags.append((b ? ColumnarChunk.Tag.trueBool : .falseBool).rawValue)
            case .int(let i):
                values[c].tags.append(ColumnarChunk.Tag.int.rawValue)
                values[c].ints.append(ColumnarChunk.zigzag(i))
            case .double(let d):
                values[c].tags.append(ColumnarChunk.Tag.double.rawValue)
                appendLE(d.bitPattern, &values[c].doubles)
            case .bytes, .array, .kvlist:
                let tag: ColumnarChunk.Tag =
                    switch a.value {
                    case .bytes: .bytes
                    case .array: .array
                    default: .kvlist
                    }
                values[c].tags.append(tag.rawValue)
                Self.appendGeneric(a.value, batch, &values[c].nested)
            }
        }
    }

    /// The number in column `c`'s `others` of a value that is not a string, as the term index
    /// writes it: int (2) and double (3) as 8 bytes LE, bool (4) as a byte, the rest (1) as
    /// their display string.
    private mutating func other(_ value: Value, _ batch: SpanBatch, column c: Int) -> UInt32 {
        termValue.removeAll(keepingCapacity: true)
        switch value {
        case .int(let i):
            termValue.append(2)
            appendLE(UInt64(bitPattern: i), &termValue)
        case .double(let d):
            termValue.append(3)
            appendLE(d.bitPattern, &termValue)
        case .bool(let b): termValue += [4, b ? 1 : 0]
        default:
            termValue.append(1)
            termValue += batch.attributeValue(value).displayString.utf8
        }
        let id = termValue.withUnsafeBytes { values[c].others.intern($0) }
        if id == values[c].otherUses.count { values[c].otherUses.append(ValueUse()) }
        return id
    }

    /// Notes that the trace being added has value `v` of column `c`, once per trace.
    private mutating func touch(column c: Int, other: Bool, _ v: UInt32) {
        let position = Int32(traceCount - 1)  // of the trace being added
        func use(_ u: inout ValueUse) -> Bool {
            guard u.lastTrace != position else { return false }
            u.lastTrace = position
            u.traces += 1
            return true
        }
        let first = other ? use(&values[c].otherUses[Int(v)]) : use(&values[c].stringUses[Int(v)])
        if first { touched.append((Int32(c), other ? v | Self.otherValue : v)) }
    }

    /// A self-describing encoding of a value: tag, then the payload (strings and bytes with a
    /// varint length, arrays and lists with a varint count).
    static func appendGeneric(_ value: Value, _ batch: SpanBatch, _ out: inout [UInt8]) {
        typealias Tag = ColumnarChunk.Tag
        func bytes(_ r: StrRef) {
            appendVarint(UInt64(r.count), &out)
            batch.withBytes(r) { out.append(contentsOf: $0) }
        }
        switch value {
        case .empty: out.append(Tag.empty.rawValue)
        case .string(let r):
            out.append(Tag.string.rawValue)
            bytes(r)
        case .bool(let b): out.append((b ? Tag.trueBool : .falseBool).rawValue)
        case .int(let i):
            out.append(Tag.int.rawValue)
            appendVarint(ColumnarChunk.zigzag(i), &out)
        case .double(let d):
            out.append(Tag.double.rawValue)
            appendLE(d.bitPattern, &out)
        case .bytes(let r):
            out.append(Tag.bytes.rawValue)
            bytes(r)
        case .array(let range):
            out.append(Tag.array.rawValue)
            appendVarint(UInt64(range.count), &out)
            for v in batch.arrayValues[range.indices] { appendGeneric(v, batch, &out) }
        case .kvlist(let range):
            out.append(Tag.kvlist.rawValue)
            appendGeneric(list: batch.kvlistEntries, range, batch, &out)
        }
    }

    static func appendGeneric(list pool: [Attribute], _ range: PoolRange, _ batch: SpanBatch, _ out: inout [UInt8]) {
        appendVarint(UInt64(range.count), &out)
        for a in pool[range.indices] {
            appendVarint(UInt64(a.key.count), &out)
            batch.withBytes(a.key) { out.append(contentsOf: $0) }
            appendGeneric(a.value, batch, &out)
        }
    }

    /// The chunk section, every column compressed at `level`.
    func finish(level: Int32) -> [UInt8] {
        var columns = [(kind: UInt8, key: UInt32, bytes: [UInt8])]()
        func add(_ kind: UInt8, _ key: UInt32, _ bytes: [UInt8]) {
            if !bytes.isEmpty { columns.append((kind, key, bytes)) }
        }
        func add(_ kind: UInt8, _ bytes: [UInt8]) { add(kind, 0, bytes) }
        for c in Column.allCases {
            switch c {
            case .dictionary: add(c.rawValue, dictionary.serialized())
            case .keys: add(c.rawValue, keys.serialized())
            case .starts: add(c.rawValue, BytePlanes.encode(startDeltas))
            case .durations: add(c.rawValue, BytePlanes.encode(durations))
            default: add(c.rawValue, base[Int(c.rawValue)])
            }
        }
        for owner in Owner.allCases {
            add(owner.countsKind, lists[Int(owner.rawValue)])
            add(owner.keysKind, shapes[Int(owner.rawValue)].serialized())
        }
        for (v, (owner, key)) in zip(values, valueKeys) {
            add(owner.valueKind(.tags), key, v.tags)
            if !v.strings.isEmpty {
                // A dictionary pays when values repeat; random ids are stored as they are.
                var strings = [UInt8]()
                if v.interner.count * 2 <= v.strings.count {
                    add(owner.valueKind(.stringDictionary), key, v.interner.serialized())
                    strings.append(1)
                    for id in v.strings { appendVarint(UInt64(id), &strings) }
                } else {
                    strings.append(0)
                    for id in v.strings {
                        let r = v.interner.range(Int(id))
                        appendVarint(UInt64(r.count), &strings)
                        strings.append(contentsOf: v.interner.bytes[r])
                    }
                }
                add(owner.valueKind(.strings), key, strings)
            }
            add(owner.valueKind(.ints), key, BytePlanes.encode(v.ints))
            add(owner.valueKind(.doubles), key, v.doubles)
            add(owner.valueKind(.nested), key, v.nested)
        }
        return ColumnarChunk.assemble(traces: traceCount, spans: spanCount, columns, level: level)
    }
}

/// An opened chunk: every column decompressed and parsed into arrays, so that any trace's rows
/// can be materialised without touching the others'.
struct ColumnarChunkReader {
    typealias Column = ColumnarChunk.Column
    typealias Owner = ColumnarChunk.Owner
    typealias Tag = ColumnarChunk.Tag

    let traceCount: Int
    let spanCount: Int
    /// The traces parsed (all of them unless opened `through` one).
    private(set) var parsedTraces = 0
    private var traceIDs = [TraceID]()
    private var traceRows = [Int]()  // traceCount + 1 row boundaries
    private var spanIDs = [SpanID]()
    private var parents = [SpanID]()
    private var starts = [UInt64]()
    private var ends = [UInt64]()
    private var kinds = [SpanKind]()
    private var statuses = [StatusCode]()
    private var flags = [UInt32]()
    private var names = [UInt32]()
    private var traceStates = [UInt32]()
    private var statusMessages = [UInt32]()
    private var scopes = [UInt32]()
    private var dropped = [UInt32]()  // three per span
    private var dictionary = Strings()
    private var keys = Strings()
    private var eventRows = [Int]()
    private var eventTimes = [UInt64]()
    private var eventNames = [UInt32]()
    private var eventDropped = [UInt32]()
    private var linkRows = [Int]()
    private var linkTraceIDs = [TraceID]()
    private var linkSpanIDs = [SpanID]()
    private var linkTraceStates = [UInt32]()
    private var linkDropped = [UInt32]()
    private var linkFlags = [UInt32]()
    private var resources = [(dropped: UInt32, schema: UInt32)]()
    private var scopeTable = [(resource: UInt32, name: UInt32, version: UInt32, schema: UInt32, dropped: UInt32)]()
    /// Per owner: where each owner's attributes start among its occurrences (owners + 1 bounds).
    private var attributeRows = [[Int]](repeating: [], count: Owner.allCases.count)
    private var occurrences = [[Occurrence]](repeating: [], count: Owner.allCases.count)
    /// The (owner, key) of each value column, in order of first use, with its tags; the values
    /// themselves are parsed when a trace that has them is materialised.
    private var valueColumns = [(owner: Owner, key: UInt32, tags: [UInt8])]()
    private var plain = [UInt64: [UInt8]]()
    /// Value columns parsed so far, by column number: a search reads many traces of one chunk.
    private let parsed = ParsedCache()
    /// The block's scope table, where a layout 3 chunk's resources and scopes are.
    let table: ScopeTable?
    let layout: UInt8

    /// A block's resources and scopes (a chunk section with no rows), read once when the block
    /// is opened and shared by every reader of its chunks: every value column is parsed then,
    /// so that nothing in it changes afterwards.
    final class ScopeTable: @unchecked Sendable {
        let reader: ColumnarChunkReader

        init(_ section: [UInt8]) throws {
            reader = try ColumnarChunkReader(section, traceIDs: [])
            guard reader.traceCount == 0, reader.spanCount == 0 else { throw EngineError("scope table: holds spans") }
            reader.parsed.values = try reader.valueColumns.map { try reader.parseValues($0.owner, $0.key) }
        }
    }

    final class ParsedCache {
        var values = [ParsedValues?]()
    }

    /// Strings parsed from a column of varint-length-prefixed entries.
    struct Strings {
        var bytes = [UInt8]()
        var ranges = [Range<Int>]()

        init() {}

        /// The entries of `bytes` from offset `from` on.
        init(_ bytes: [UInt8], from: Int = 0) throws {
            self.bytes = bytes
            var r = ByteReader(bytes)
            r.at = from
            while !r.atEnd {
                let n = try r.count()
                guard n <= bytes.count - r.at else { throw EngineError("chunk: string past the end") }
                ranges.append(r.at..<r.at + n)
                r.at += n
            }
        }

        func range(_ id: UInt32) throws -> Range<Int> {
            guard Int(id) < ranges.count else { throw EngineError("chunk: string \(id) out of range") }
            return ranges[Int(id)]
        }
    }

    /// One attribute: its key and where its value is.
    struct Occurrence {
        var key: UInt32
        var column: UInt32
        var tag: UInt8
        /// Index among the column's values of the tag's type.
        var index: UInt32
    }

    /// A class: materialising reads it once per attribute, and a struct of seven arrays would be
    /// copied (seven retains) each time.
    final class ParsedValues {
        var tags = [UInt8]()
        var strings = [Range<Int>]()
        var stringBytes = [UInt8]()
        var ints = [Int64]()
        var doubles = [Double]()
        var nested = [Range<Int>]()
        var nestedBytes = [UInt8]()
    }

    /// Opens a chunk section whose traces have the ids `traceIDs`, in chunk order (from the
    /// block's index; a layout 1 chunk has its own and is not given them). With `last`, only the
    /// traces up to that one are parsed: a lookup of one trace reads, on average, half the rows.
    ///
    /// With `attributeKeys`, only attributes of those keys are read (their value columns alone
    /// decompressed): enough for a search to check its candidates, at a fraction of the cost.
    /// Traces read so hold no other attributes, and must not be returned.
    init(
        _ section: [UInt8], traceIDs ids: [TraceID]?, through last: Int? = nil, attributeKeys: Set<String>? = nil,
        table: ScopeTable? = nil
    ) throws {
        let directory = try ColumnarChunk.Directory(section)
        traceCount = directory.traces
        spanCount = directory.spans
        self.table = table
        layout = directory.layout
        if directory.layout >= 3, directory.traces > 0, table == nil { throw EngineError("chunk: its block has no scope table") }
        var seen = Set<UInt64>()
        for e in directory.entries {
            guard seen.insert(ColumnarChunk.columnKey(e.kind, e.key)).inserted else { throw EngineError("chunk: column \(e.kind)/\(e.key) twice") }
        }
        if let k = directory.entries.firstIndex(where: { $0.kind == Column.keys.rawValue && $0.key == 0 }) {
            keys = try Strings(directory.column(k))
        }
        // By key id: whether its attributes are read.
        let wanted = attributeKeys.map { names in
            keys.ranges.map { r in names.contains(String(decoding: keys.bytes[r], as: UTF8.self)) }
        }
        for (k, e) in directory.entries.enumerated() where e.kind != Column.keys.rawValue {
            if let wanted, e.kind >= 64, Int(e.key) >= wanted.count || !wanted[Int(e.key)] { continue }
            plain[ColumnarChunk.columnKey(e.kind, e.key)] = try directory.column(k)
        }
        func reader(_ kind: UInt8, _ key: UInt32 = 0) -> ByteReader { ByteReader(plain[ColumnarChunk.columnKey(kind, key)] ?? []) }
        func reader(_ c: Column) -> ByteReader { reader(c.rawValue) }
        func u32(_ r: inout ByteReader) throws -> UInt32 {
            let v = try r.varint()
            guard v <= UInt64(UInt32.max) else { throw EngineError("chunk: value out of range") }
            return UInt32(v)
        }
        // A count of things in other columns: bounded, not by this column's size.
        func number(_ r: inout ByteReader) throws -> Int {
            let v = try r.varint()
            guard v <= 1 << 26 else { throw EngineError("chunk: count out of range") }
            return Int(v)
        }
        func traceID(_ r: inout ByteReader) throws -> TraceID { TraceID(high: try r.u64(), low: try r.u64()) }
        func finished(_ r: ByteReader, _ what: String) throws {
            guard r.atEnd else { throw EngineError("chunk: trailing bytes in \(what)") }
        }
        let traces = traceCount
        let spans = spanCount
        dictionary = try Strings(plain[ColumnarChunk.columnKey(Column.dictionary.rawValue, 0)] ?? [])

        // Traces and their rows.
        var r = reader(.traceIDs)
        if directory.layout >= 2 {
            guard let ids, ids.count == traces else { throw EngineError("chunk: the index lists other traces than the chunk holds") }
            traceIDs = ids
        }
        var counts = reader(.traceSpans)
        traceRows.append(0)
        for _ in 0..<traces {
            if directory.layout < 2 { traceIDs.append(try traceID(&r)) }
            let n = try number(&counts)
            guard n <= spans - traceRows.last! else { throw EngineError("chunk: more rows than spans") }
            traceRows.append(traceRows.last! + n)
        }
        guard traceRows.last! == spans else { throw EngineError("chunk: rows do not add up to the spans") }
        try finished(r, "trace ids")
        try finished(counts, "trace rows")
        parsedTraces = min(traces, (last ?? traces - 1) + 1)
        let rowsParsed = traceRows[parsedTraces]
        let partial = rowsParsed < spans
        // The span ids fix the number of rows, so that the arrays can be sized before parsing.
        guard (plain[ColumnarChunk.columnKey(Column.spanIDs.rawValue, 0)]?.count ?? 0) == spans * 8 else {
            throw EngineError("chunk: span ids do not match the span count")
        }
        do {
            let n = rowsParsed
            parents.reserveCapacity(n)
            starts.reserveCapacity(n)
            ends.reserveCapacity(n)
            kinds.reserveCapacity(n)
            statuses.reserveCapacity(n)
            flags.reserveCapacity(n)
            names.reserveCapacity(n)
            traceStates.reserveCapacity(n)
            statusMessages.reserveCapacity(n)
            scopes.reserveCapacity(n)
            dropped.reserveCapacity(3 * n)
            eventRows.reserveCapacity(n + 1)
            linkRows.reserveCapacity(n + 1)
        }

        // Per span.
        var ids = reader(.spanIDs)
        var parentCodes = reader(.parents)
        var parentIDs = reader(.parentIDs)
        // Layout 1 wrote times as varints, layout 2 as byte planes.
        var startDeltas = reader(.starts)
        var durations = reader(.durations)
        let planes = directory.layout >= 2
        let startPlanes = planes ? try BytePlanes(startDeltas.bytes, count: spans, what: "starts") : nil
        let durationPlanes = planes ? try BytePlanes(durations.bytes, count: spans, what: "durations") : nil
        if planes { (startDeltas, durations) = (ByteReader([]), ByteReader([])) }
        var kindStatus = reader(.kindStatus)
        var wide = reader(.wideKindStatus)
        var flagsReader = reader(.flags)
        var namesReader = reader(.names)
        var statesReader = reader(.traceStates)
        var messagesReader = reader(.statusMessages)
        var scopesReader = reader(.scopes)
        var droppedReader = reader(.dropped)
        var eventCounts = reader(.eventCounts)
        var linkCounts = reader(.linkCounts)
        spanIDs.reserveCapacity(spans)
        for _ in 0..<spans { spanIDs.append(SpanID(try ids.u64())) }
        var start: UInt64 = 0
        eventRows.append(0)
        linkRows.append(0)
        var parentRows = [Int?]()  // this trace's, by row
        for t in 0..<parsedTraces {
            let rows = traceRows[t]..<traceRows[t + 1]
            for _ in rows {
                let code = try parentCodes.varint()
                var parentRow: Int? = nil
                switch code {
                case 0: parents.append(.zero)
                case 1: parents.append(SpanID(try parentIDs.u64()))
                default:
                    guard code - 2 < UInt64(rows.count) else { throw EngineError("chunk: parent row out of range") }
                    parentRow = rows.lowerBound + Int(code - 2)
                    parents.append(spanIDs[parentRow!])
                }
                let row = starts.count
                let delta = UInt64(bitPattern: ColumnarChunk.unzigzag(try startPlanes?[row] ?? startDeltas.varint()))
                let duration = UInt64(bitPattern: ColumnarChunk.unzigzag(try durationPlanes?[row] ?? durations.varint()))
                if directory.layout >= 3 {
                    // Resolved below, once the trace's parents are known.
                    starts.append(delta)
                    ends.append(duration)
                } else {
                    start = start &+ delta
                    starts.append(start)
                    ends.append(start &+ duration)
                }
                let ks = try kindStatus.byte()
                if ks == 0xFF {
                    kinds.append(SpanKind(rawValue: Int32(bitPattern: try u32(&wide))))
                    statuses.append(StatusCode(rawValue: Int32(bitPattern: try u32(&wide))))
                } else {
                    kinds.append(SpanKind(rawValue: Int32(ks & 7)))
                    statuses.append(StatusCode(rawValue: Int32(ks >> 3)))
                }
                flags.append(try u32(&flagsReader))
                names.append(try u32(&namesReader))
                traceStates.append(try u32(&statesReader))
                statusMessages.append(try u32(&messagesReader))
                // Layout 2: resolved below, once every row of the trace is read.
                let scope = try u32(&scopesReader)
                scopes.append(directory.layout < 2 ? scope : scope &- 1)
                parentRows.append(parentRow)
                for _ in 0..<3 { dropped.append(try u32(&droppedReader)) }
                eventRows.append(eventRows.last! + (try number(&eventCounts)))
                linkRows.append(linkRows.last! + (try number(&linkCounts)))
            }
            if directory.layout >= 2 {
                for row in rows where scopes[row] == .max {
                    var p = row
                    for _ in rows where scopes[p] == .max {
                        guard let up = parentRows[p - rows.lowerBound] else { break }
                        p = up
                    }
                    guard scopes[p] != .max else { throw EngineError("chunk: a span's scope is its parent's, which has none") }
                    scopes[row] = scopes[p]
                }
            }
            if directory.layout >= 3 {
                let base = rows.lowerBound
                let fromParent = ColumnarChunk.startsFromParent(count: rows.count) { parentRows[$0].map { $0 - base } }
                for row in rows where !fromParent[row - base] {
                    start = start &+ starts[row]
                    starts[row] = start
                }
                // A parent's start is resolved before its children's: walk up to the first
                // resolved row, then down (the rows' parents reach a root, as checked above).
                var resolved = fromParent.map { !$0 }
                var path = [Int]()
                for row in rows where !resolved[row - base] {
                    var r = row
                    while !resolved[r - base] {
                        path.append(r)
                        r = parentRows[r - base]!
                    }
                    for child in path.reversed() {
                        starts[child] = starts[parentRows[child - base]!] &+ starts[child]
                        resolved[child - base] = true
                    }
                    path.removeAll(keepingCapacity: true)
                }
                for row in rows { ends[row] = starts[row] &+ ends[row] }
            }
            parentRows.removeAll(keepingCapacity: true)
        }
        for (reader, what) in [
            (ids, "span ids"), (parentCodes, "parents"), (parentIDs, "parent ids"), (startDeltas, "starts"),
            (durations, "durations"), (kindStatus, "kinds"), (wide, "wide kinds"), (flagsReader, "flags"),
            (namesReader, "names"), (statesReader, "trace states"), (messagesReader, "status messages"),
            (scopesReader, "scopes"), (droppedReader, "dropped counts"), (eventCounts, "event counts"),
            (linkCounts, "link counts"),
        ] where !partial {
            try finished(reader, what)
        }

        // Events, links, resources and scopes.
        var times = reader(.eventTimes)
        var eventNamesReader = reader(.eventNames)
        var eventDroppedReader = reader(.eventDropped)
        for s in 0..<rowsParsed {
            for _ in eventRows[s]..<eventRows[s + 1] {
                eventTimes.append(starts[s] &+ UInt64(bitPattern: ColumnarChunk.unzigzag(try times.varint())))
                eventNames.append(try u32(&eventNamesReader))
                eventDropped.append(try u32(&eventDroppedReader))
            }
        }
        var linkIDs = reader(.linkTraceIDs)
        var linkSpans = reader(.linkSpanIDs)
        var linkStates = reader(.linkTraceStates)
        var linkDroppedReader = reader(.linkDropped)
        var linkFlagsReader = reader(.linkFlags)
        for _ in 0..<linkRows.last! {
            linkTraceIDs.append(try traceID(&linkIDs))
            linkSpanIDs.append(SpanID(try linkSpans.u64()))
            linkTraceStates.append(try u32(&linkStates))
            linkDropped.append(try u32(&linkDroppedReader))
            linkFlags.append(try u32(&linkFlagsReader))
        }
        var resourceReader = reader(.resources)
        while !resourceReader.atEnd { resources.append((try u32(&resourceReader), try u32(&resourceReader))) }
        var scopeReader = reader(.scopeTable)
        while !scopeReader.atEnd {
            let entry = (
                resource: try u32(&scopeReader), name: try u32(&scopeReader), version: try u32(&scopeReader),
                schema: try u32(&scopeReader), dropped: try u32(&scopeReader)
            )
            guard Int(entry.resource) < resources.count else { throw EngineError("chunk: scope names a missing resource") }
            scopeTable.append(entry)
        }
        for (reader, what) in [
            (times, "event times"), (eventNamesReader, "event names"), (eventDroppedReader, "event dropped counts"),
            (linkIDs, "link trace ids"), (linkSpans, "link span ids"), (linkStates, "link trace states"),
            (linkDroppedReader, "link dropped counts"), (linkFlagsReader, "link flags"),
        ] where !partial {
            try finished(reader, what)
        }
        let scopeCount = directory.layout >= 3 ? table?.reader.scopeTable.count ?? 0 : scopeTable.count
        guard scopes.allSatisfy({ Int($0) < scopeCount }) else { throw EngineError("chunk: span names a missing scope") }

        // Attributes: each occurrence located in its value column.
        var cursors = [(tag: Int, string: Int, int: Int, double: Int, nested: Int)]()
        let owners: [(Owner, Int)] = [
            (.span, rowsParsed), (.resource, resources.count), (.scope, scopeTable.count), (.event, eventRows.last!),
            (.link, linkRows.last!),
        ]
        for (owner, ownerCount) in owners {
            var lengths = reader(owner.countsKind)
            var keyReader = reader(owner.keysKind)
            // By key id: the value column, once it has been parsed.
            var columnOf = [Int32](repeating: -1, count: keys.ranges.count)
            var rows = [0]
            rows.reserveCapacity(ownerCount + 1)
            var found = [Occurrence]()
            // Layout 3: an owner's keys are one of the owner kind's shapes; before, listed.
            let shaped = directory.layout >= 3
            var shapes = [[UInt32]]()
            if shaped {
                let dictionary = try Strings(keyReader.bytes)
                for r in dictionary.ranges {
                    var shape = ByteReader(Array(dictionary.bytes[r]))
                    var keys = [UInt32]()
                    while !shape.atEnd { keys.append(try u32(&shape)) }
                    shapes.append(keys)
                }
            }
            var ownerKeys = [UInt32]()
            for _ in 0..<ownerCount {
                if shaped {
                    let id = try number(&lengths)
                    guard id < shapes.count else { throw EngineError("chunk: attribute shape out of range") }
                    ownerKeys = shapes[id]
                } else {
                    ownerKeys.removeAll(keepingCapacity: true)
                    for _ in 0..<(try number(&lengths)) { ownerKeys.append(try u32(&keyReader)) }
                }
                for key in ownerKeys {
                    guard Int(key) < columnOf.count else { throw EngineError("chunk: attribute key out of range") }
                    if let wanted, !wanted[Int(key)] { continue }
                    if columnOf[Int(key)] < 0 {
                        columnOf[Int(key)] = Int32(valueColumns.count)
                        valueColumns.append((owner, key, plain[ColumnarChunk.columnKey(owner.valueKind(.tags), key)] ?? []))
                        cursors.append((0, 0, 0, 0, 0))
                    }
                    let c = Int(columnOf[Int(key)])
                    let t = cursors[c].tag
                    guard t < valueColumns[c].tags.count, let tag = Tag(rawValue: valueColumns[c].tags[t]) else {
                        throw EngineError("chunk: attribute value missing or of an unknown type")
                    }
                    cursors[c].tag = t + 1
                    var index = 0
                    switch tag {
                    // Checked against the values when they are parsed.
                    case .string:
                        index = cursors[c].string
                        cursors[c].string += 1
                    case .int:
                        index = cursors[c].int
                        cursors[c].int += 1
                    case .double:
                        index = cursors[c].double
                        cursors[c].double += 1
                    case .bytes, .array, .kvlist:
                        index = cursors[c].nested
                        cursors[c].nested += 1
                    case .empty, .falseBool, .trueBool: break
                    }
                    found.append(Occurrence(key: key, column: UInt32(c), tag: tag.rawValue, index: UInt32(index)))
                }
                rows.append(found.count)
            }
            if !partial {
                try finished(lengths, "attribute counts")
                if !shaped { try finished(keyReader, "attribute keys") }
            }
            attributeRows[Int(owner.rawValue)] = rows
            occurrences[Int(owner.rawValue)] = found
        }
    }

    fileprivate func parseValues(_ owner: Owner, _ key: UInt32) throws -> ParsedValues {
        func column(_ sub: ColumnarChunk.ValueColumn) -> [UInt8] { plain[ColumnarChunk.columnKey(owner.valueKind(sub), key)] ?? [] }
        let v = ParsedValues()
        v.tags = column(.tags)
        let strings = column(.strings)
        if let mode = strings.first {
            var r = ByteReader(strings)
            r.at = 1
            if mode == 1 {
                let dictionary = try Strings(column(.stringDictionary))
                v.stringBytes = dictionary.bytes
                while !r.atEnd {
                    let id = try r.varint()
                    guard id < UInt64(dictionary.ranges.count) else { throw EngineError("chunk: string value out of range") }
                    v.strings.append(dictionary.ranges[Int(id)])
                }
            } else {
                guard mode == 0 else { throw EngineError("chunk: unknown string column mode") }
                let parsed = try Strings(strings, from: 1)
                v.stringBytes = parsed.bytes
                v.strings = parsed.ranges
            }
        }
        if layout >= 3 {
            // Byte planes, as many values as int tags.
            let planes = try BytePlanes(column(.ints), count: v.tags.lazy.filter { $0 == Tag.int.rawValue }.count, what: "integers")
            v.ints = (0..<planes.count).map { ColumnarChunk.unzigzag(planes[$0]) }
        } else {
            var ints = ByteReader(column(.ints))
            while !ints.atEnd { v.ints.append(ColumnarChunk.unzigzag(try ints.varint())) }
        }
        var doubles = ByteReader(column(.doubles))
        while !doubles.atEnd { v.doubles.append(Double(bitPattern: try doubles.u64())) }
        v.nestedBytes = column(.nested)
        var nested = ByteReader(v.nestedBytes)
        while !nested.atEnd {
            let from = nested.at
            try Self.skipGeneric(&nested, depth: 0)
            v.nested.append(from..<nested.at)
        }
        return v
    }

    /// Nested values deeper than this are refused (a damaged chunk must not exhaust the stack).
    static let maxDepth = 64

    static func skipGeneric(_ r: inout ByteReader, depth: Int) throws {
        guard depth < maxDepth else { throw EngineError("chunk: value nested too deep") }
        guard let tag = Tag(rawValue: try r.byte()) else { throw EngineError("chunk: unknown value type") }
        switch tag {
        case .empty, .falseBool, .trueBool: break
        case .string, .bytes:
            let n = try r.count()
            guard n <= r.bytes.count - r.at else { throw EngineError("chunk: value past the end") }
            r.at += n
        case .int: _ = try r.varint()
        case .double: _ = try r.u64()
        case .array:
            for _ in 0..<(try r.count()) { try skipGeneric(&r, depth: depth + 1) }
        case .kvlist:
            for _ in 0..<(try r.count()) {
                let n = try r.count()
                guard n <= r.bytes.count - r.at else { throw EngineError("chunk: key past the end") }
                r.at += n
                try skipGeneric(&r, depth: depth + 1)
            }
        }
    }

    /// Decodes a value written by ``ColumnarChunkWriter/appendGeneric(_:_:_:)`` (already checked
    /// by ``skipGeneric(_:depth:)``).
    static func readGeneric(_ r: inout ByteReader) throws -> AttributeValue {
        guard let tag = Tag(rawValue: try r.byte()) else { throw EngineError("chunk: unknown value type") }
        func bytes() throws -> ArraySlice<UInt8> {
            let n = try r.count()
            guard n <= r.bytes.count - r.at else { throw EngineError("chunk: value past the end") }
            defer { r.at += n }
            return r.bytes[r.at..<r.at + n]
        }
        switch tag {
        case .empty: return .empty
        case .string: return .string(String(decoding: try bytes(), as: UTF8.self))
        case .falseBool: return .bool(false)
        case .trueBool: return .bool(true)
        case .int: return .int(ColumnarChunk.unzigzag(try r.varint()))
        case .double: return .double(Double(bitPattern: try r.u64()))
        case .bytes: return .bytes(Array(try bytes()))
        case .array: return .array(try (0..<r.count()).map { _ in try readGeneric(&r) })
        case .kvlist:
            return .kvlist(
                try (0..<r.count()).map { _ in
                    let key = String(decoding: try bytes(), as: UTF8.self)
                    return KeyValue(key, try readGeneric(&r))
                })
        }
    }

    /// Trace `t` of the chunk as a batch of its own.
    func trace(_ t: Int) throws -> SpanBatch {
        try Traces(self).trace(t)
    }

    /// Materialises traces of one chunk one after another, as a search reads its candidates:
    /// what a materialiser sets up (a slot per string of the chunk and of the block's scope
    /// table) is made once, not once per trace — per trace, that cost more than the rows.
    final class Traces {
        private var materialiser: Materialiser
        private let parsedTraces: Int

        init(_ reader: ColumnarChunkReader) {
            materialiser = Materialiser(reader)
            parsedTraces = reader.parsedTraces
        }

        func trace(_ t: Int) throws -> SpanBatch {
            guard t >= 0, t < parsedTraces else { throw EngineError("chunk: trace \(t) out of range") }
            return try materialiser.trace(t)
        }
    }

    /// Every trace of the chunk, one batch per trace (each value column parsed once).
    func traces() throws -> [SpanBatch] {
        var out = Materialiser(self)
        return try (0..<parsedTraces).map { try out.trace($0) }
    }

    /// Rows copied out into a batch, each string written to its arena once.
    private struct Materialiser {
        /// A reader whose strings and attributes the batch takes: the chunk, or the block's
        /// scope table (resources and scopes). What the batch already holds, by that reader's
        /// numbers: entries count only when they carry the current trace's generation, so
        /// nothing is cleared between traces. A class: the batch is written while one is in use.
        final class Source {
            let reader: ColumnarChunkReader
            /// Value columns parsed so far, by column number.
            var values: [ParsedValues?]
            var dictionaryRefs: [(generation: UInt32, ref: StrRef)]
            var keyRefs: [(generation: UInt32, ref: StrRef)]

            init(_ reader: ColumnarChunkReader) {
                self.reader = reader
                values =
                    reader.parsed.values.count == reader.valueColumns.count
                    ? reader.parsed.values : [ParsedValues?](repeating: nil, count: reader.valueColumns.count)
                dictionaryRefs = Array(repeating: (0, .empty), count: reader.dictionary.ranges.count)
                keyRefs = Array(repeating: (0, .empty), count: reader.keys.ranges.count)
            }
        }
        enum Side { case chunk, table }

        let chunk: ColumnarChunkReader
        var batch = SpanBatch()
        let own: Source
        /// The block's scope table, when the chunk's scopes are there (layout 3); else the chunk.
        let shared: Source?
        var generation: UInt32 = 0
        var scopeMap: [(generation: UInt32, index: UInt32)]
        var resourceMap: [(generation: UInt32, index: UInt32)]
        var scratch = [Attribute]()

        init(_ chunk: ColumnarChunkReader) {
            self.chunk = chunk
            own = Source(chunk)
            shared = chunk.table.map { Source($0.reader) }
            let scopes = chunk.table?.reader ?? chunk
            scopeMap = Array(repeating: (0, 0), count: scopes.scopeTable.count)
            resourceMap = Array(repeating: (0, 0), count: scopes.resources.count)
        }

        /// Materialises trace `t`, then starts afresh for the next (keeping the parsed values;
        /// the table's, shared by every reader of the block, are all parsed when it is opened).
        mutating func trace(_ t: Int) throws -> SpanBatch {
            generation += 1
            batch = SpanBatch()
            try add(trace: t)
            chunk.parsed.values = own.values
            return batch
        }

        func source(_ side: Side) -> Source { side == .table ? shared ?? own : own }

        mutating func string(_ id: UInt32, _ side: Side = .chunk) throws -> StrRef {
            let source = source(side)
            let r = try source.reader.dictionary.range(id)
            if source.dictionaryRefs[Int(id)].generation == generation { return source.dictionaryRefs[Int(id)].ref }
            let ref = source.reader.dictionary.bytes.withUnsafeBytes { batch.appendBytes(UnsafeRawBufferPointer(rebasing: $0[r])) }
            source.dictionaryRefs[Int(id)] = (generation, ref)
            return ref
        }

        mutating func key(_ id: UInt32, _ source: Source) throws -> StrRef {
            if source.keyRefs[Int(id)].generation == generation { return source.keyRefs[Int(id)].ref }
            let r = try source.reader.keys.range(id)
            let ref = source.reader.keys.bytes.withUnsafeBytes { batch.appendBytes(UnsafeRawBufferPointer(rebasing: $0[r])) }
            source.keyRefs[Int(id)] = (generation, ref)
            return ref
        }

        enum Pool { case span, shared }

        /// The attributes of owner `n`, appended to the span attributes or the shared pool.
        mutating func attributes(_ owner: Owner, _ n: Int, into pool: Pool, from side: Side = .chunk) throws -> PoolRange {
            let source = source(side)
            let reader = source.reader
            let o = Int(owner.rawValue)
            guard n + 1 < reader.attributeRows[o].count else { throw EngineError("chunk: attributes of a missing owner") }
            let occurrences = reader.attributeRows[o][n]..<reader.attributeRows[o][n + 1]
            scratch.removeAll(keepingCapacity: true)
            for k in occurrences {
                let occ = reader.occurrences[o][k]
                let c = Int(occ.column)
                let v: ParsedValues
                if let parsed = source.values[c] {
                    v = parsed
                } else {
                    let column = reader.valueColumns[c]
                    v = try reader.parseValues(column.owner, column.key)
                    source.values[c] = v
                }
                let i = Int(occ.index)
                let value: Value
                switch Tag(rawValue: occ.tag)! {
                case .empty: value = .empty
                case .falseBool: value = .bool(false)
                case .trueBool: value = .bool(true)
                case .int:
                    guard i < v.ints.count else { throw EngineError("chunk: integer value missing") }
                    value = .int(v.ints[i])
                case .double:
                    guard i < v.doubles.count else { throw EngineError("chunk: double value missing") }
                    value = .double(v.doubles[i])
                case .string:
                    guard i < v.strings.count else { throw EngineError("chunk: string value missing") }
                    let r = v.strings[i]
                    value = .string(v.stringBytes.withUnsafeBytes { batch.appendBytes(UnsafeRawBufferPointer(rebasing: $0[r])) })
                case .bytes, .array, .kvlist:
                    guard i < v.nested.count else { throw EngineError("chunk: nested value missing") }
                    var reader = ByteReader(Array(v.nestedBytes[v.nested[i]]))
                    value = batch.store(try ColumnarChunkReader.readGeneric(&reader))
                }
                scratch.append(Attribute(key: try key(occ.key, source), value: value))
            }
            // Appended only now: a nested value may have added to the batch's other pools.
            switch pool {
            case .span:
                batch.spanAttributes.append(contentsOf: scratch)
                return PoolRange(start: UInt32(batch.spanAttributes.count - scratch.count), count: UInt32(scratch.count))
            case .shared:
                batch.attributes.append(contentsOf: scratch)
                return PoolRange(start: UInt32(batch.attributes.count - scratch.count), count: UInt32(scratch.count))
            }
        }

        mutating func scope(_ s: UInt32) throws -> UInt32 {
            if scopeMap[Int(s)].generation == generation { return scopeMap[Int(s)].index }
            let table = chunk.table?.reader ?? chunk
            let entry = table.scopeTable[Int(s)]
            let resource: UInt32
            if resourceMap[Int(entry.resource)].generation == generation {
                resource = resourceMap[Int(entry.resource)].index
            } else {
                let res = table.resources[Int(entry.resource)]
                let range = try attributes(.resource, Int(entry.resource), into: .shared, from: .table)
                resource = batch.appendResource(attributes: range, droppedAttributesCount: res.dropped, schemaURL: try string(res.schema, .table))
                resourceMap[Int(entry.resource)] = (generation, resource)
            }
            let range = try attributes(.scope, Int(s), into: .shared, from: .table)
            batch.scopes.append(
                SpanBatch.Scope(
                    resource: resource, name: try string(entry.name, .table), version: try string(entry.version, .table),
                    attributes: range, droppedAttributesCount: entry.dropped, schemaURL: try string(entry.schema, .table)))
            let id = UInt32(batch.scopes.count - 1)
            scopeMap[Int(s)] = (generation, id)
            return id
        }

        mutating func add(trace t: Int) throws {
            let traceID = chunk.traceIDs[t]
            let rows = chunk.traceRows[t]..<chunk.traceRows[t + 1]
            // Sized once: growing some twenty arrays from empty cost more than filling them.
            let n = rows.count
            batch.traceIDs.reserveCapacity(n)
            batch.spanIDs.reserveCapacity(n)
            batch.parentSpanIDs.reserveCapacity(n)
            batch.traceStates.reserveCapacity(n)
            batch.names.reserveCapacity(n)
            batch.kinds.reserveCapacity(n)
            batch.startTimes.reserveCapacity(n)
            batch.endTimes.reserveCapacity(n)
            batch.flags.reserveCapacity(n)
            batch.statusCodes.reserveCapacity(n)
            batch.statusMessages.reserveCapacity(n)
            batch.attributeRanges.reserveCapacity(n)
            batch.droppedAttributesCounts.reserveCapacity(n)
            batch.eventRanges.reserveCapacity(n)
            batch.droppedEventsCounts.reserveCapacity(n)
            batch.linkRanges.reserveCapacity(n)
            batch.droppedLinksCounts.reserveCapacity(n)
            batch.scopeIndices.reserveCapacity(n)
            let spanRows = chunk.attributeRows[Int(Owner.span.rawValue)]
            batch.spanAttributes.reserveCapacity(spanRows[rows.upperBound] - spanRows[rows.lowerBound])
            for r in rows {
                let scope = try scope(chunk.scopes[r])
                batch.traceIDs.append(traceID)
                batch.spanIDs.append(chunk.spanIDs[r])
                batch.parentSpanIDs.append(chunk.parents[r])
                batch.traceStates.append(try string(chunk.traceStates[r]))
                batch.names.append(try string(chunk.names[r]))
                batch.kinds.append(chunk.kinds[r])
                batch.startTimes.append(chunk.starts[r])
                batch.endTimes.append(chunk.ends[r])
                batch.flags.append(chunk.flags[r])
                batch.statusCodes.append(chunk.statuses[r])
                batch.statusMessages.append(try string(chunk.statusMessages[r]))
                batch.attributeRanges.append(try attributes(.span, r, into: .span))
                batch.droppedAttributesCounts.append(chunk.dropped[3 * r])
                let eventStart = batch.events.count
                for e in chunk.eventRows[r]..<chunk.eventRows[r + 1] {
                    let range = try attributes(.event, e, into: .shared)
                    batch.events.append(
                        SpanBatch.Event(
                            time: chunk.eventTimes[e], name: try string(chunk.eventNames[e]), attributes: range,
                            droppedAttributesCount: chunk.eventDropped[e]))
                }
                batch.eventRanges.append(PoolRange(start: UInt32(eventStart), count: UInt32(batch.events.count - eventStart)))
                batch.droppedEventsCounts.append(chunk.dropped[3 * r + 1])
                let linkStart = batch.links.count
                for l in chunk.linkRows[r]..<chunk.linkRows[r + 1] {
                    let range = try attributes(.link, l, into: .shared)
                    batch.links.append(
                        SpanBatch.Link(
                            traceID: chunk.linkTraceIDs[l], spanID: chunk.linkSpanIDs[l],
                            traceState: try string(chunk.linkTraceStates[l]), attributes: range,
                            droppedAttributesCount: chunk.linkDropped[l], flags: chunk.linkFlags[l]))
                }
                batch.linkRanges.append(PoolRange(start: UInt32(linkStart), count: UInt32(batch.links.count - linkStart)))
                batch.droppedLinksCounts.append(chunk.dropped[3 * r + 2])
                batch.scopeIndices.append(scope)
            }
        }
    }
}

/// For `ariadne-bench chunk`: the cost of each step of a chunk's life, on one core.
public enum ChunkTiming {
    /// Seconds per chunk of each step, over `rounds` rounds, for a chunk of `batch`'s traces.
    public static func measure(_ batch: SpanBatch, rounds: Int) throws -> [(step: String, seconds: Double)] {
        let ids = Set(batch.traceIDs).sorted()
        let traces = ids.map { id in batch.selecting((0..<batch.count).filter { batch.traceIDs[$0] == id }) }
        let clock = ContinuousClock()
        func time(_ body: () throws -> Void) rethrows -> Double {
            let start = clock.now
            for _ in 0..<rounds { try body() }
            return (clock.now - start).inSeconds / Double(rounds)
        }
        var section = [UInt8]()
        var tableSection = [UInt8]()
        var written = [TraceID]()
        let encode = time {
            var writer = ColumnarChunkWriter()
            var table = ColumnarChunkWriter()
            for t in traces { _ = writer.add(trace: t, table: &table) }
            section = writer.finish(level: 3)
            tableSection = table.finish(level: 3)
            written = writer.traceIDs
        }
        let directory = try ColumnarChunk.Directory(section)
        let decompress = try time { for k in directory.entries.indices { _ = try directory.column(k) } }
        // Opened once per block, not per chunk: not in the times below.
        let table = try ColumnarChunkReader.ScopeTable(tableSection)
        func reader(through: Int? = nil) throws -> ColumnarChunkReader {
            try ColumnarChunkReader(section, traceIDs: written, through: through, table: table)
        }
        let open = try time { _ = try reader() }
        let openHalf = try time { _ = try reader(through: traces.count / 2) }
        let lookup = try time { _ = try reader(through: traces.count / 2).trace(traces.count / 2) }
        let all = try time { _ = try reader().traces() }
        return [
            ("encode", encode), ("decompress columns", decompress), ("open", open), ("open through the middle trace", openHalf),
            ("look up the middle trace", lookup), ("materialise every trace", all),
        ]
    }
}
