import AriadneModel
import AriadneStorage

#if canImport(Glibc)
    import Glibc
#endif

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
        /// Instrumentation scope and link attributes: what Jaeger's tag search also looks at.
        case scope = 4
        case link = 5
    }

    /// An intrinsic field present in blocks that index scope and link attributes: older blocks
    /// lack both, and a tag search cannot narrow them by those scopes.
    static let scopesAndLinksMarker = FieldKey(scope: .intrinsic, key: "indexes.scope+link")

    /// The block's distinct resources, each (an int value: its number) with the traces that have
    /// it. Where a block has this field, a resource attribute's values list resource numbers,
    /// not traces: every pod's host name, pod name, node and version would otherwise each repeat
    /// the same long lists of traces.
    static let resourcesField = FieldKey(scope: .intrinsic, key: "resources")

    /// The key of the intrinsic field of span names.
    static let spanNameKey = FieldKey.intrinsic(.name)!.key

    struct FieldKey: Hashable {
        var scope: Scope
        var key: String

        /// The index field of a span field the index holds without a scope (nil for attributes,
        /// which have one, and for duration, which is not indexed).
        static func intrinsic(_ field: SpanField) -> FieldKey? {
            switch field {
            case .name: return FieldKey(scope: .intrinsic, key: "name")
            case .service: return FieldKey(scope: .intrinsic, key: "service")
            case .status: return FieldKey(scope: .intrinsic, key: "status")
            case .kind: return FieldKey(scope: .intrinsic, key: "kind")
            case .attribute, .duration: return nil
            }
        }
    }

    /// Collects terms and summaries while a block is written, one trace at a time.
    struct Builder: Sendable {
        var terms = TermTable()
        var summaries = Summaries()

        /// Values without a term, in a few traces of their chunk: per field, per chunk of the run
        /// (see ``ColumnarChunkWriter/indexChunkTerms(into:chunk:)``).
        private(set) var chunkRare = [FieldKey: [UInt32: RareTerms.Chunk]]()

        mutating func addRare(_ values: RareTerms.Chunk, field: FieldKey, chunk: UInt32) {
            chunkRare[field, default: [:]][chunk, default: RareTerms.Chunk()].merge(values)
        }

        /// Takes in what another builder collected (of other traces, in the chunks that follow
        /// the `chunksBefore` of this builder's).
        mutating func absorb(_ other: Builder, chunksBefore: UInt32) {
            terms.absorb(other.terms)
            summaries.absorb(other.summaries)
            for (field, chunks) in other.chunkRare {
                for (chunk, values) in chunks { addRare(values, field: field, chunk: chunk + chunksBefore) }
            }
        }

        /// The number of the term `scopesAndLinksMarker`, and of each kind's and status's below
        /// 32 (-1: not interned yet). Valid for `terms` as added to, not after an `absorb`.
        private var markerTerm = -1
        private var kindTerms = [Int](repeating: -1, count: 32)
        private var statusTerms = [Int](repeating: -1, count: 32)
        /// The terms of each resource and scope of the run's scope table, by their number there:
        /// the same pods' resources come in batch after batch.
        private var tableResourceTerms = [[Int]?]()
        private var tableScopeTerms = [[Int]?]()

        /// What a builder keeps of one source batch from trace to trace: each resource's service
        /// among the summaries' strings, found once per batch rather than per trace.
        struct BatchTerms {
            var services: [UInt32?]

            init(_ batch: SpanBatch) { services = Array(repeating: nil, count: batch.resources.count) }
        }

        /// Adds the trace made of rows `rows` of `batch` (the cut reads a trace where it was
        /// received, among other traces' spans), just added to a chunk as `written`: the chunk
        /// writer gave its span names and its spans', events' and links' attributes to `terms`
        /// already (``ColumnarChunkWriter/indexTerms(into:ordinal:)``). `known` is kept by the
        /// caller for `batch`; `tableScopes` gives the scope table's number of each of the batch's
        /// scopes, and `tableResources` the resource of each scope of the table.
        mutating func add(
            _ batch: SpanBatch, rows: some Collection<Int>, ordinal: UInt32, written: ColumnarChunkWriter.Added,
            known: inout BatchTerms, tableScopes: [UInt32], tableResources: [UInt32]
        ) {
            func intrinsic(_ field: SpanField, _ value: String) -> Int {
                terms.begin(FieldKey.intrinsic(field)!.key)
                terms.value(display: value)
                return terms.finish(ordinal)
            }
            func addCached(_ term: inout Int, _ make: () -> Int) {
                if term < 0 { term = make() } else { terms.add(ordinal, toTerm: term) }
            }
            addCached(&markerTerm) {
                terms.begin(BlockSearch.scopesAndLinksMarker.key)
                terms.value(display: "1")
                return terms.finish(ordinal)
            }
            // Made on a resource's or scope's first trace in the run (which they are added to), then
            // added by number.
            func add(_ found: [Int]) { for t in found { terms.add(ordinal, toTerm: t) } }
            func grow(_ cache: inout [[Int]?], toHold n: Int) {
                if n >= cache.count { cache += repeatElement(nil, count: n + 1 - cache.count) }
            }
            let scopes = batch.scopes(of: rows)
            for s in scopes {
                let tableScope = Int(tableScopes[s])
                let tableResource = Int(tableResources[tableScope])
                grow(&tableResourceTerms, toHold: tableResource)
                if let found = tableResourceTerms[tableResource] {
                    add(found)
                } else {
                    tableResourceTerms[tableResource] = resourceTerms(batch, Int(batch.scopes[s].resource), ordinal: ordinal)
                }
                grow(&tableScopeTerms, toHold: tableScope)
                if let found = tableScopeTerms[tableScope] {
                    add(found)
                } else {
                    tableScopeTerms[tableScope] = batch.attributes[batch.scopes[s].attributes.indices].map { attribute(.scope, batch, $0, ordinal) }
                }
            }
            // Kinds and statuses are few: gathered per trace as bits, each interned once.
            for b in 0..<32 where written.kinds & 1 << b != 0 {
                addCached(&kindTerms[b]) { intrinsic(.kind, SpanBatch.kindName(SpanKind(rawValue: Int32(b)))) }
            }
            for b in 0..<32 where written.statuses & 1 << b != 0 {
                addCached(&statusTerms[b]) { intrinsic(.status, SpanBatch.statusName(StatusCode(rawValue: Int32(b)))) }
            }
            if written.wideKindOrStatus {
                for i in rows {
                    if !(0..<32).contains(batch.kinds[i].rawValue) { _ = intrinsic(.kind, SpanBatch.kindName(batch.kinds[i])) }
                    if !(0..<32).contains(batch.statusCodes[i].rawValue) { _ = intrinsic(.status, SpanBatch.statusName(batch.statusCodes[i])) }
                }
            }
            summaries.add(batch, rows: rows, scopes: scopes, ordinal: ordinal, root: written.root, services: &known.services)
        }

        /// Assembles the term of attribute `a` of `batch` (in `scope`) and adds `ordinal` to it,
        /// or (`finish` false) leaves it assembled. Terms are made as bytes straight from the
        /// batch's arena and interned by hash: no string is built per attribute.
        @discardableResult
        private mutating func attribute(_ scope: Scope, _ batch: SpanBatch, _ a: Attribute, _ ordinal: UInt32, finish: Bool = true) -> Int {
            terms.begin(scope, batch, a.key)
            switch a.value {
            case .string(let r): terms.value(string: r, batch)
            case .int(let i): terms.value(type: 2, UInt64(bitPattern: i))
            case .double(let d): terms.value(type: 3, d.bitPattern)
            case .bool(let b): terms.value(type: 4, b ? 1 : 0)
            case .empty, .bytes, .array, .kvlist: terms.value(display: batch.attributeValue(a.value).displayString)
            }
            return finish ? terms.finish(ordinal) : -1
        }

        /// The terms of resource `r` of `batch`, added for `ordinal`: its service, and its
        /// attributes' terms together as one (see ``resourcesField``).
        private mutating func resourceTerms(_ batch: SpanBatch, _ r: Int, ordinal: UInt32) -> [Int] {
            let resource = batch.resources[r]
            terms.begin(FieldKey.intrinsic(.service)!.key)
            if resource.serviceName.count == 0 {
                terms.value(display: SpanBatch.unknownService)
            } else {
                terms.value(string: resource.serviceName, batch)
            }
            let service = terms.finish(ordinal)
            var content = [UInt8]()
            for a in batch.attributes[resource.attributes.indices] {
                attribute(.resource, batch, a, ordinal, finish: false)
                terms.appendTerm(to: &content)
            }
            terms.begin(BlockSearch.resourcesField.key)
            terms.value(bytes: content)
            return [service, terms.finish(ordinal)]
        }

        /// The directory, then each field's section bytes (uncompressed), in directory order.
        /// `chunkOf` gives each trace ordinal's chunk: values found in a few traces only (ids,
        /// SQL text, URLs with ids in them, byte counts) are not listed; they go into a bloom
        /// filter per chunk instead (see ``RareTerms``).
        func fieldSections(chunkOf: [UInt32]) -> (directory: [UInt8], fields: [[UInt8]]) {
            // Every field's values with their lists: term `term` of `terms` (trace ordinals) or,
            // for a resource attribute, of `resourceTerms` (resource numbers). An entry names its
            // term rather than holding its bytes: a block has some 600k terms, and slices of
            // them were 30 MB at the top of the cut's memory.
            typealias Listed = [Entry]
            // Terms are grouped by their field's bytes, which are made into a field once: most
            // terms are of a few keys, and a string per term was a third of this function.
            var byFieldBytes = [ArraySlice<UInt8>: Int]()
            // The group last seen per slot of the field bytes' hash, which mostly spares the
            // dictionary's hashing too.
            var recent = [Int](repeating: -1, count: 256)
            var grouped = [(bytes: ArraySlice<UInt8>, field: FieldKey, values: Listed)]()
            var resources = [(content: ArraySlice<UInt8>, term: Int)]()
            var resourcesFieldNumber = -1
            for t in 0..<terms.count {
                let (fieldRange, valueRange) = terms.parts(t)
                let fieldBytes = terms.arena[fieldRange]
                let value = terms.arena[valueRange]
                let slot = Int(truncatingIfNeeded: fieldBytes.withUnsafeBytes { ByteHash.of($0) } & 255)
                let g: Int
                if recent[slot] >= 0, grouped[recent[slot]].bytes.elementsEqual(fieldBytes) {
                    g = recent[slot]
                } else if let known = byFieldBytes[fieldBytes] {
                    g = known
                } else {
                    g = grouped.count
                    byFieldBytes[fieldBytes] = g
                    let field = TermTable.field(fieldBytes)
                    if field == BlockSearch.resourcesField { resourcesFieldNumber = g }
                    grouped.append((fieldBytes, field, []))
                }
                recent[slot] = g
                if g == resourcesFieldNumber {
                    resources.append((value.dropFirst(), t))
                } else {
                    grouped[g].values.append(Entry(term: Int32(t), source: .terms))
                }
            }
            var fields = [FieldKey: Listed](minimumCapacity: grouped.count)
            for (_, field, values) in grouped where !values.isEmpty { fields[field, default: []] += values }
            for field in chunkRare.keys where fields[field] == nil { fields[field] = [] }
            // Resources are numbered in the order of their contents; their attributes' terms, in a
            // table of their own, list resource numbers.
            var resourceTerms = TermTable()
            for (n, resource) in resources.sorted(by: { $0.content.lexicographicallyPrecedes($1.content) }).enumerated() {
                fields[BlockSearch.resourcesField, default: []].append(Entry(term: Int32(resource.term), source: .resourceNumber, number: UInt32(n)))
                var content = ByteReader(Array(resource.content))
                while !content.atEnd, let length = try? content.count(), length <= content.bytes.count - content.at {
                    resourceTerms.add(term: content.bytes[content.at..<content.at + length], UInt32(n))
                    content.at += length
                }
            }
            for t in 0..<resourceTerms.count {
                let (field, _) = resourceTerms.split(t)
                fields[field, default: []].append(Entry(term: Int32(t), source: .resourceTerms))
            }
            func bytes(_ e: Entry) -> ArraySlice<UInt8> {
                switch e.source {
                case .terms: return terms.arena[terms.parts(Int(e.term)).value]
                case .resourceTerms: return resourceTerms.arena[resourceTerms.parts(Int(e.term)).value]
                case .resourceNumber:
                    var number: [UInt8] = [2]
                    appendLE(UInt64(e.number), &number)
                    return number[...]
                }
            }
            let keys = fields.keys.sorted { ($0.scope.rawValue, $0.key) < ($1.scope.rawValue, $1.key) }
            var directory = [UInt8]()
            appendVarint(UInt64(keys.count), &directory)
            var blobs = [[UInt8]]()
            for k in keys {
                directory.append(k.scope.rawValue)
                appendString(k.key, &directory)
                var listed = [(bytes: ArraySlice<UInt8>, ordinals: [UInt32])]()
                var rare = chunkRare[k] ?? [:]
                for v in fields[k]! {
                    let term = Int(v.term)
                    let ofResources = v.source == .resourceTerms
                    let count = ofResources ? resourceTerms.postingCount(term) : terms.postingCount(term)
                    if count <= RareTerms.maxTraces, k.scope != .intrinsic, k.scope != .resource, let value = RareTerms.Value(bytes(v)) {
                        // Once per chunk (at most `maxTraces` ordinals: no set needed). Resource
                        // attributes are never rare: their values are resource numbers here.
                        func chunk(_ position: Int) -> UInt32 { chunkOf[Int(terms.posting(term, position))] }
                        for position in 0..<count where !(0..<position).contains(where: { chunk($0) == chunk(position) }) {
                            rare[chunk(position), default: RareTerms.Chunk()].add(value)
                        }
                    } else {
                        listed.append((bytes(v), ofResources ? resourceTerms.postings(term) : terms.postings(term)))
                    }
                }
                var blob = [UInt8]()
                appendVarint(UInt64(listed.count), &blob)
                for (value, unsorted) in listed {
                    // The value bytes are already in the on-disk form but for strings' length.
                    blob.append(value.first!)
                    if value.first == 1 { appendVarint(UInt64(value.count - 1), &blob) }
                    blob.append(contentsOf: value.dropFirst())
                    // Traces were added in start order; lists are in ordinal (trace id) order.
                    let ordinals = unsorted.sorted()
                    appendVarint(UInt64(ordinals.count), &blob)
                    var last: UInt32 = 0
                    for o in ordinals {
                        appendVarint(UInt64(o - last), &blob)
                        last = o
                    }
                }
                RareTerms.append(rare, to: &blob)
                blobs.append(blob)
            }
            return (directory, blobs)
        }

        func summarySection() -> [UInt8] { summaries.section() }

        /// A value of a field while its section is written (see ``fieldSections(chunkOf:)``).
        struct Entry {
            enum Source: UInt8 {
                /// Term `term` of the trace terms.
                case terms
                /// Term `term` of the resource attributes' terms.
                case resourceTerms
                /// Resource `number`, whose content is term `term` of the trace terms.
                case resourceNumber
            }
            var term: Int32
            var source: Source
            var number: UInt32 = 0
        }
    }

    /// The traces' summaries while a block is written (``TraceSummary`` as the summaries
    /// section holds it): service and span names are numbered as bytes, once per builder, not
    /// made into strings per trace.
    struct Summaries: Sendable {
        struct Record: Sendable {
            var ordinal: UInt32
            var spans: Int
            var errors: Int
            var rootService: UInt32
            var rootName: UInt32
            /// In `services`.
            var services: Range<Int>
        }
        var strings = ByteInterner()
        /// Traces arrive in chunk (start) order; the section lists them in index order.
        var records = [Record]()
        var services = [UInt32]()

        /// The summary of the trace made of rows `rows` of `batch`, whose scopes are `scopes` and
        /// whose root is row `root` (nil: none found; the first row stands for it). `services`
        /// holds the number in `strings` of the service of each of the batch's resources, once found.
        mutating func add(
            _ batch: SpanBatch, rows: some Collection<Int>, scopes: [Int], ordinal: UInt32, root: Int?, services known: inout [UInt32?]
        ) {
            func service(ofResource r: Int) -> UInt32 {
                if let id = known[r] { return id }
                let ref = batch.resources[r].serviceName
                let id = ref.count == 0 ? strings.intern(SpanBatch.unknownService) : batch.withBytes(ref) { strings.intern($0) }
                known[r] = id
                return id
            }
            let start = services.count
            for r in batch.resources(ofScopes: scopes) {
                let id = service(ofResource: r)
                if !services[start...].contains(id) { services.append(id) }
            }
            let root = root ?? rows.first
            var errors = 0
            for i in rows where batch.statusCodes[i] == .error { errors += 1 }
            records.append(
                Record(
                    ordinal: ordinal, spans: rows.count, errors: errors,
                    rootService: root.map { service(ofResource: Int(batch.scopes[Int(batch.scopeIndices[$0])].resource)) } ?? strings.intern(""),
                    rootName: root.map { r in batch.withBytes(batch.names[r]) { strings.intern($0) } } ?? strings.intern(""),
                    services: start..<services.count))
        }

        /// Takes in the summaries of another builder (of other traces).
        mutating func absorb(_ other: Summaries) {
            let number = (0..<other.strings.count).map { e in
                other.strings.bytes.withUnsafeBytes { strings.intern(UnsafeRawBufferPointer(rebasing: $0[other.strings.range(e)])) }
            }
            for var r in other.records {
                let start = services.count
                for id in other.services[r.services] { services.append(number[Int(id)]) }
                r.rootService = number[Int(r.rootService)]
                r.rootName = number[Int(r.rootName)]
                r.services = start..<services.count
                records.append(r)
            }
        }

        /// The summaries section: the strings, then per trace in ordinal order its span and
        /// error counts, root service, root name and services (sorted by name).
        func section() -> [UInt8] {
            let names = (0..<strings.count).map { String(decoding: strings.bytes[strings.range($0)], as: UTF8.self) }
            var rank = [Int](repeating: 0, count: names.count)
            for (k, e) in names.indices.sorted(by: { names[$0] < names[$1] }).enumerated() { rank[e] = k }
            var out = [UInt8]()
            appendVarint(UInt64(strings.count), &out)
            out += strings.serialized()
            for r in records.sorted(by: { $0.ordinal < $1.ordinal }) {
                appendVarint(UInt64(r.spans), &out)
                appendVarint(UInt64(r.errors), &out)
                appendVarint(UInt64(r.rootService), &out)
                appendVarint(UInt64(r.rootName), &out)
                appendVarint(UInt64(r.services.count), &out)
                for id in services[r.services].sorted(by: { rank[Int($0)] < rank[Int($1)] }) { appendVarint(UInt64(id), &out) }
            }
            return out
        }
    }

    /// Distinct terms (field and value as bytes) with their posting lists, interned through an
    /// open-addressing hash table. A term: u8 scope, varint key length, key, u8 value type, value
    /// (string bytes without a length; 8 bytes LE for int and double; 1 byte for bool).
    struct TermTable: Sendable {
        private(set) var arena = [UInt8]()
        private var ends = [Int]()
        private var hashes = [UInt64]()
        /// Each term's traces: most terms (ids, SQL text, byte counts) are in one trace, so the
        /// first is kept inline and only a term in more has a list (of the rest) in `more` —
        /// no allocation per term, half the memory of a list each.
        private var first = [UInt32]()
        private var last = [UInt32]()
        private var moreOf = [Int32]()
        private var more = [[UInt32]]()
        private var slots = [Int32](repeating: -1, count: 1 << 12)
        private var scratch = [UInt8]()

        var count: Int { ends.count }

        mutating func begin(_ scope: Scope, _ batch: SpanBatch, _ key: StrRef) {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(scope.rawValue)
            appendVarint(UInt64(key.count), &scratch)
            batch.withBytes(key) { scratch.append(contentsOf: $0) }
        }

        /// Starts a term of an attribute key given as bytes.
        mutating func begin(_ scope: Scope, key: UnsafeRawBufferPointer) {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(scope.rawValue)
            appendVarint(UInt64(key.count), &scratch)
            scratch.append(contentsOf: key)
        }

        mutating func begin(_ intrinsic: String) {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(Scope.intrinsic.rawValue)
            appendString(intrinsic, &scratch)
        }

        mutating func value(string: StrRef, _ batch: SpanBatch) {
            scratch.append(1)
            batch.withBytes(string) { scratch.append(contentsOf: $0) }
        }

        mutating func value(string: UnsafeRawBufferPointer) {
            scratch.append(1)
            scratch.append(contentsOf: string)
        }

        /// A value already in the term's form: type byte, then its bytes.
        mutating func value(raw: UnsafeRawBufferPointer) { scratch.append(contentsOf: raw) }

        mutating func value(display: String) {
            scratch.append(1)
            scratch.append(contentsOf: display.utf8)
        }

        /// A string value of raw bytes.
        mutating func value(bytes: [UInt8]) {
            scratch.append(1)
            scratch.append(contentsOf: bytes)
        }

        /// Appends the term assembled since `begin` to `out` (varint length, then the term),
        /// instead of adding it.
        func appendTerm(to out: inout [UInt8]) {
            appendVarint(UInt64(scratch.count), &out)
            out.append(contentsOf: scratch)
        }

        /// Adds the term `bytes` (as ``appendTerm(to:)`` wrote it, without the length) with `ordinal`.
        mutating func add(term bytes: ArraySlice<UInt8>, _ ordinal: UInt32) {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: bytes)
            finish(ordinal)
        }

        mutating func value(type: UInt8, _ bits: UInt64) {
            scratch.append(type)
            if type == 4 { scratch.append(UInt8(bits)) } else { appendLE(bits, &scratch) }
        }

        /// Interns the term assembled since `begin` and adds `ordinal` to its list, once per trace
        /// (every term of a trace is added before the next trace's). Returns the term's number.
        @discardableResult
        mutating func finish(_ ordinal: UInt32) -> Int {
            let (t, new) = intern()
            if new {
                startList(ordinal)
            } else {
                add(ordinal, toTerm: t)
            }
            return t
        }

        /// Adds `ordinal` to the list of term `t` (a number ``finish(_:)`` returned), once per trace.
        mutating func add(_ ordinal: UInt32, toTerm t: Int) {
            if last[t] != ordinal { add(ordinal, to: t) }
        }

        /// The list of the term just interned as new: `ordinal` alone.
        private mutating func startList(_ ordinal: UInt32) {
            first.append(ordinal)
            last.append(ordinal)
            moreOf.append(-1)
        }

        private mutating func add(_ ordinal: UInt32, to t: Int) {
            if moreOf[t] < 0 {
                moreOf[t] = Int32(more.count)
                more.append([ordinal])
            } else {
                more[Int(moreOf[t])].append(ordinal)
            }
            last[t] = ordinal
        }

        /// How many traces term `t` is in.
        func postingCount(_ t: Int) -> Int { moreOf[t] < 0 ? 1 : 1 + more[Int(moreOf[t])].count }

        /// The traces of term `t`, in the order they were added.
        func postings(_ t: Int) -> [UInt32] { moreOf[t] < 0 ? [first[t]] : [first[t]] + more[Int(moreOf[t])] }

        /// Trace `k` (in the order added) of term `t`.
        func posting(_ t: Int, _ k: Int) -> UInt32 { k == 0 ? first[t] : more[Int(moreOf[t])][k - 1] }

        /// The number of the term in `scratch`, and whether it is new (its traces then are for
        /// the caller to add). `known`: the term's hash, when another table has it already.
        private mutating func intern(hash known: UInt64? = nil) -> (Int, Bool) {
            let h = known ?? scratch.withUnsafeBytes { Self.hash($0) }
            let mask = slots.count - 1
            var slot = Int(truncatingIfNeeded: h) & mask
            while true {
                let t = Int(slots[slot])
                if t < 0 { break }
                if hashes[t] == h, equalsScratch(t) { return (t, false) }
                slot = (slot + 1) & mask
            }
            slots[slot] = Int32(ends.count)
            arena.append(contentsOf: scratch)
            ends.append(arena.count)
            hashes.append(h)
            if ends.count * 2 > slots.count { grow() }
            return (ends.count - 1, true)
        }

        /// Adds the terms and lists of a table built from other traces.
        mutating func absorb(_ other: TermTable) {
            for t in 0..<other.count {
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: other.arena[(t == 0 ? 0 : other.ends[t - 1])..<other.ends[t]])
                let (mine, new) = intern(hash: other.hashes[t])
                var k = 0
                if new {
                    startList(other.first[t])
                    k = 1
                }
                while k < other.postingCount(t) {
                    add(other.posting(t, k), to: mine)
                    k += 1
                }
            }
        }

        private func equalsScratch(_ t: Int) -> Bool {
            let start = t == 0 ? 0 : ends[t - 1]
            guard ends[t] - start == scratch.count else { return false }
            return arena.withUnsafeBytes { a in
                scratch.withUnsafeBytes { s in memcmp(a.baseAddress! + start, s.baseAddress!, s.count) == 0 }
            }
        }

        private mutating func grow() {
            slots = [Int32](repeating: -1, count: slots.count * 2)
            let mask = slots.count - 1
            for (t, h) in hashes.enumerated() {
                var slot = Int(truncatingIfNeeded: h) & mask
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(t)
            }
        }

        /// The field of term `t` and its value bytes (type byte first).
        func split(_ t: Int) -> (FieldKey, ArraySlice<UInt8>) {
            let (field, value) = parts(t)
            return (Self.field(arena[field]), arena[value])
        }

        /// Where the field (scope and key) and the value (type byte first) of term `t` are in `arena`.
        func parts(_ t: Int) -> (field: Range<Int>, value: Range<Int>) {
            let start = t == 0 ? 0 : ends[t - 1]
            var at = start + 1
            var length = 0
            var shift = 0
            while true {
                let b = arena[at]
                at += 1
                length |= Int(b & 0x7F) << shift
                if b < 0x80 { break }
                shift += 7
            }
            return (start..<at + length, at + length..<ends[t])
        }

        /// The field of a term's field bytes (scope, varint key length, key).
        static func field(_ bytes: ArraySlice<UInt8>) -> FieldKey {
            var at = bytes.startIndex + 1
            while bytes[at] >= 0x80 { at += 1 }
            return FieldKey(scope: Scope(rawValue: bytes.first!)!, key: String(decoding: bytes[(at + 1)...], as: UTF8.self))
        }

        /// The terms' hash (on disk too, through the rare-value filters' positions).
        static func hash(_ p: UnsafeRawBufferPointer) -> UInt64 { ByteHash.of(p) }
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

    /// The sorted union of the ordinals of every value of a field section that `accept` takes,
    /// and of every trace in the chunks whose rare values `rare` may take (`ordinalsOfChunk`
    /// lists a chunk's traces).
    static func postings(
        _ bytes: [UInt8], traceCount: Int, rare: RareTerms.Probe = .any, ordinalsOfChunk: (UInt32) -> [UInt32]? = { _ in nil },
        accept: (FilterValue) -> Bool
    ) throws -> [UInt32] {
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
                    // Checked before adding: a damaged delta must not overflow.
                    let delta = try r.varint()
                    guard delta < UInt64(traceCount), last + delta < UInt64(traceCount) else {
                        throw EngineError("search field: ordinal out of range")
                    }
                    last += delta
                    list.append(UInt32(last))
                }
                lists.append(list)
            } else {
                for _ in 0..<count { _ = try r.varint() }
            }
        }
        // Version 3 sections end here; version 4 ones go on with the rare values' filters.
        if !r.atEnd {
            for chunk in try RareTerms.chunks(&r, probe: rare) {
                guard let ordinals = ordinalsOfChunk(chunk) else { throw EngineError("search field: chunk out of range") }
                lists.append(ordinals)
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
            if a[i] < b[j] {
                i += 1
            } else if a[i] > b[j] {
                j += 1
            } else {
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

    @inline(__always)
    mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw EngineError("truncated search data") }
        defer { at += 1 }
        return bytes[at]
    }

    @inline(__always)
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
    @inline(__always)
    mutating func count() throws -> Int {
        let v = try varint()
        guard v <= UInt64(bytes.count) else { throw EngineError("count out of range in search data") }
        return Int(v)
    }

    @inline(__always)
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

/// Values seen in a few traces of a block (``maxTraces``): listing each with its traces would
/// make the term index as large as the spans (a request id per span), so a field keeps, per chunk that has
/// such values, a bloom filter of its strings' hashes (9 bits each: about 1.3% false positives
/// with 7 probes; a false positive costs one chunk's columns read) and the range of its numbers.
/// An equality search probes the filter (a number: the range), an ordering compares with the
/// range, and they take every trace of the chunks that may hold a match as candidates
/// (checked span by span, as every candidate is); a search the filters cannot answer (a regular
/// expression, `!=`) takes every chunk that has rare values.
///
/// On disk, after a field's listed values: `varint chunks; per chunk: varint chunk, u8 kinds
/// (1 strings, 2 numbers, 4 numbers not in the filter), varint words, words × u64 LE, then with
/// numbers f64 min, f64 max`.
enum RareTerms {
    static let hashes = 7
    static let bitsPerValue = 9
    /// Values in at most this many traces of a block are rare. A listed value costs its bytes,
    /// a count and a delta per trace (some 12 bytes for a number in three traces); a rare one
    /// 9 bits per chunk it is in, and an equality search then checks at most this many chunks.
    static let maxTraces = 4
    /// Values in at most this many traces of a chunk have no term at all, only the filter: the
    /// chunk writer tells them at once, where a block-wide count needs every value's term first.
    static let maxTracesInChunk: Int32 = 1

    /// A rare value of the term index: a string or a number (integers compare as doubles, as
    /// ``ValuePredicate`` compares them).
    enum Value {
        case string(ArraySlice<UInt8>)
        case number(Double)

        /// From a term's value bytes (type byte first); nil for a bool.
        init?(_ bytes: ArraySlice<UInt8>) {
            guard let type = bytes.first else { return nil }
            let payload = bytes.dropFirst()
            func bits() -> UInt64 { payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } }
            switch type {
            case 1: self = .string(payload)
            case 2 where payload.count == 8: self = .number(Double(Int64(bitPattern: bits())))
            case 3 where payload.count == 8: self = .number(Double(bitPattern: bits()))
            default: return nil
            }
        }

        var hash: UInt64 {
            switch self {
            case .string(let bytes): return RareTerms.hash(string: bytes)
            case .number(let d): return RareTerms.hash(number: d)
            }
        }
    }

    /// One chunk's rare values of a field, while a block is written.
    struct Chunk {
        var hashes = [UInt64]()
        var strings = false
        var numbers: ClosedRange<Double>? = nil

        var isEmpty: Bool { hashes.isEmpty && numbers == nil }

        mutating func merge(_ other: Chunk) {
            hashes += other.hashes
            strings = strings || other.strings
            if let n = other.numbers { widen(to: n) }
        }

        private mutating func widen(to r: ClosedRange<Double>) {
            numbers = numbers.map { min($0.lowerBound, r.lowerBound)...max($0.upperBound, r.upperBound) } ?? r
        }

        mutating func add(_ v: Value) {
            switch v {
            case .string:
                hashes.append(v.hash)
                strings = true
            case .number(let d):
                // Not hashed (format 4 blocks written before kept them, flag 4 unset): rare
                // numbers are byte counts, row counts, random ids, whose equality nobody asks
                // of a whole block, and their hashes were a fifth of the term index; an
                // equality on a number takes the chunks whose range holds it.
                // NaN orders as equal to everything (see ValuePredicate): the range must take it.
                widen(to: d.isNaN ? -Double.infinity...Double.infinity : d...d)
            }
        }
    }

    /// What a search asks of the rare values.
    enum Probe {
        /// Equality with a value whose display form is this string (and, if it has one, whose
        /// number is this).
        case equal(String, Double?)
        /// An ordering against a literal.
        case order(ValuePredicate)
        /// Nothing: the condition never accepts a value.
        case never
        /// Anything: the filters cannot tell.
        case any

        /// The probe for a comparison, following ``ValuePredicate/matches(_:)``: `=` matches a
        /// value of equal number, or whose display form is the literal's.
        init(_ p: ValuePredicate) {
            switch p.op {
            case .eq:
                guard let literal = p.literal else {
                    self = .never
                    return
                }
                self = .equal(literal.displayString, literal.number ?? Double(literal.displayString))
            case .lt, .le, .gt, .ge: self = p.literal == nil ? .never : .order(p)
            case .notExists: self = .never
            case .ne, .regex, .notRegex, .exists: self = .any
            }
        }
    }

    static func hash(string bytes: some Collection<UInt8>) -> UInt64 {
        // The term's form, type byte first, assembled on the stack: the block writer hashes
        // every rare value of a block here.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bytes.count + 1) { key in
            key[0] = 1
            _ = UnsafeMutableBufferPointer(rebasing: key[1...]).initialize(from: bytes)
            return BlockSearch.TermTable.hash(UnsafeRawBufferPointer(key))
        }
    }

    static func hash(number d: Double) -> UInt64 {
        // One hash for 0 and -0, and for every NaN.
        let canonical = d.isNaN ? Double.nan : (d == 0 ? 0 : d)
        var key: [UInt8] = [2]
        appendLE(canonical.bitPattern, &key)
        return key.withUnsafeBytes { BlockSearch.TermTable.hash($0) }
    }

    private static func positions(_ h: UInt64, bits: Int) -> [Int] {
        let h2 = (h >> 32 | h << 32) | 1
        return (0..<hashes).map { Int((h &+ UInt64($0) &* h2) % UInt64(bits)) }
    }

    static func append(_ rare: [UInt32: Chunk], to out: inout [UInt8]) {
        appendVarint(UInt64(rare.count), &out)
        for (chunk, values) in rare.sorted(by: { $0.key < $1.key }) {
            var words = [UInt64](repeating: 0, count: (max(64, values.hashes.count * bitsPerValue) + 63) / 64)
            for h in values.hashes {
                for p in positions(h, bits: words.count * 64) { words[p >> 6] |= 1 << UInt64(p & 63) }
            }
            appendVarint(UInt64(chunk), &out)
            out.append((values.strings ? 1 : 0) | (values.numbers != nil ? 2 | 4 : 0))
            appendVarint(UInt64(words.count), &out)
            for w in words { appendLE(w, &out) }
            if let n = values.numbers {
                appendLE(n.lowerBound.bitPattern, &out)
                appendLE(n.upperBound.bitPattern, &out)
            }
        }
    }

    /// The chunks whose rare values `probe` may match.
    static func chunks(_ r: inout ByteReader, probe: Probe) throws -> [UInt32] {
        let n = try r.count()
        var out = [UInt32]()
        var probes = [UInt64]()
        if case .equal(let s, let d) = probe {
            probes.append(hash(string: s.utf8))
            if let d { probes.append(hash(number: d)) }
        }
        for _ in 0..<n {
            let chunk = try r.varint()
            let kinds = try r.byte()
            let words = try r.count()
            guard chunk <= UInt64(UInt32.max), kinds & ~7 == 0, words > 0, words * 8 <= r.bytes.count - r.at else {
                throw EngineError("search field: bad rare-value filter")
            }
            let start = r.at
            r.at += words * 8
            // A pair, not a range: damaged bounds must not trap.
            let numbers = kinds & 2 != 0 ? (low: Double(bitPattern: try r.u64()), high: Double(bitPattern: try r.u64())) : nil
            let hit: Bool
            switch probe {
            case .never: hit = false
            case .any: hit = true
            case .equal(_, let d):
                func inFilter(_ h: UInt64) -> Bool {
                    positions(h, bits: words * 64).allSatisfy { p in
                        r.bytes.readLE(UInt64.self, at: start + (p >> 6) * 8) & (1 << UInt64(p & 63)) != 0
                    }
                }
                if kinds & 4 != 0 {
                    // Numbers by their range only (see ``Chunk/add(_:)``).
                    let inRange = d.map { d in numbers.map { d.isNaN || ($0.low <= d && d <= $0.high) } ?? false } ?? false
                    hit = inFilter(probes[0]) || inRange
                } else {
                    hit = probes.contains(where: inFilter)
                }
            case .order(let p):
                // Strings are ordered only against a string; numbers against a number, and an
                // ordering holds somewhere in a range if it holds at one of its ends.
                if case .string? = p.literal {
                    hit = kinds & 1 != 0
                } else if let numbers {
                    hit = p.matches(.double(numbers.low)) || p.matches(.double(numbers.high))
                } else {
                    hit = false
                }
            }
            if hit { out.append(UInt32(chunk)) }
        }
        return out
    }
}
