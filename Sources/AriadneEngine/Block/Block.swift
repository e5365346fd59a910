import AriadneModel
import AriadneStorage
import AriadneWire
internal import CZlib
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Immutable block files, format version 4 (versions 2 and 3 are still read, and compaction
/// rewrites them as version 4).
///
/// ```
/// "ARDNBLK1"
/// section*                       (index, bloom, meta, scope tables and chunk 0..n-1, ...)
/// footer                         (binary, below)
/// u32 LE footer length | u32 LE footer CRC-32 | "ARDNBLK1"
/// ```
/// Footer: u32 version, u64 min start, u64 max end, u64 span count, u64 trace count, u32 section
/// count, then per section: u8 kind, u64 offset, u64 length, u32 CRC-32.
///
/// Sections: the index lists every trace id in ascending order with its chunk, its place in the
/// chunk and its time bounds (as byte planes, see ``BlockFormat/indexPlanes(_:)``; blocks of
/// this version written before it hold section `index`: 40 bytes per trace, field by field,
/// every id's high half, then every low half, chunk, place, start, and duration; both
/// zstd-compressed); the bloom filter answers "not here" for most ids
/// without a search; the meta section lists services with their operations and span kinds;
/// each chunk holds ~`chunkSpans` spans of whole traces as columns, each compressed on its own
/// (see ``ColumnarChunk``), its resources and scopes in the scope table before it (one per
/// run of chunks a core wrote: the same pods recur in every chunk); a lookup decodes one
/// chunk's columns and materialises one trace's rows. Then the search data (see ``BlockSearch``): a directory and one section per field of
/// the term index, and trace summaries. Every section has a checksum.
/// Earlier versions: 3 held the index uncompressed, entry by entry (id, chunk, frame offset,
/// start, end), and each chunk as framed traces (u32 LE length, then the trace as an
/// OTLP protobuf request) compressed together with zstd, the index pointing at a frame's
/// offset; 2 had no search data either; 1 held a chunk as one OTLP request.
///
/// A block is written to a temporary name, synced, renamed, and its directory synced.
enum BlockFormat {
    static let magic: [UInt8] = Array("ARDNBLK1".utf8)
    static let version: UInt32 = 4
    static let readableVersions: ClosedRange<UInt32> = 2...4
    static let trailerSize = 16
    static let indexEntrySize = 40

    /// The index entries (in trace id order) as columns of byte planes (see ``BytePlanes``), to be
    /// compressed: `u64 LE first start, then planes of` each id's high half less the previous one's
    /// (ids are sorted, so the top bytes of these are zero), the low halves, chunks, places,
    /// starts less the first start, and durations. Planes whose bytes are all zero vanish under
    /// zstd, and random ones stay as they are instead of muddling the others: 2.5 -> 2.3 bytes
    /// per span beside fields of whole integers (realistic profile).
    static func indexPlanes(_ entries: [BlockIndexEntry]) -> [UInt8] {
        let base = entries.lazy.map(\.minStart).min() ?? 0
        var out = [UInt8]()
        appendLE(base, &out)
        var previous: UInt64 = 0
        out += BytePlanes.encode(
            entries.map { e in
                defer { previous = e.traceID.high }
                return e.traceID.high &- previous
            })
        out += BytePlanes.encode(entries.map(\.traceID.low))
        out += BytePlanes.encode(entries.map { UInt64($0.chunk) })
        out += BytePlanes.encode(entries.map { UInt64($0.offset) })
        out += BytePlanes.encode(entries.map { $0.minStart &- base })
        out += BytePlanes.encode(entries.map { $0.maxEnd &- $0.minStart })
        return out
    }

    /// The entries ``indexPlanes(_:)`` wrote for `count` traces.
    static func indexEntries(planes bytes: [UInt8], count: Int) throws -> [BlockIndexEntry] {
        guard bytes.count >= 8 else { throw EngineError("index too short") }
        let base = bytes.readLE(UInt64.self, at: 0)
        var at = 8
        func column(_ what: String) throws -> BytePlanes {
            guard at < bytes.count || count == 0 else { throw EngineError("index: \(what) missing") }
            let width = count == 0 ? 0 : Int(bytes[at])
            let length = count == 0 ? 0 : 1 + width * count
            guard length <= bytes.count - at else { throw EngineError("index: \(what) truncated") }
            defer { at += length }
            return try BytePlanes(Array(bytes[at..<at + length]), count: count, what: "index " + what)
        }
        let (high, low, chunk, place, start, duration) = (
            try column("ids"), try column("ids"), try column("chunks"), try column("places"), try column("starts"),
            try column("durations")
        )
        guard at == bytes.count else { throw EngineError("index: bytes after its columns") }
        var entries = [BlockIndexEntry]()
        entries.reserveCapacity(count)
        var previous: UInt64 = 0
        for k in 0..<count {
            previous &+= high[k]
            guard chunk[k] <= UInt32.max, place[k] <= UInt32.max else { throw EngineError("index: chunk or place out of range") }
            let minStart = base &+ start[k]
            entries.append(
                BlockIndexEntry(
                    traceID: TraceID(high: previous, low: low[k]), chunk: UInt32(chunk[k]), offset: UInt32(place[k]),
                    minStart: minStart, maxEnd: minStart &+ duration[k]))
        }
        return entries
    }

    enum Section: UInt8 {
        case index = 1
        case bloom = 2
        case meta = 3
        case chunk = 4
        case searchDirectory = 5
        case searchField = 6
        case summaries = 7
        /// Resources and scopes of the chunks after it, up to the next table (chunk layout 3).
        case scopeTable = 8
        /// The index as byte planes (``indexPlanes(_:)``), in place of `index`.
        case indexPlanes = 9
    }
}

/// Per-trace entry of a block's index.
struct BlockIndexEntry: Sendable {
    var traceID: TraceID
    var chunk: UInt32
    /// The trace's position among its chunk's traces (version 4), or where its frame starts in
    /// the decompressed chunk (versions 2 and 3).
    var offset: UInt32
    var minStart: UInt64
    var maxEnd: UInt64
}

/// A bloom filter over trace ids (which are already uniformly random, so their halves serve as
/// the two base hashes of double hashing).
struct TraceBloom {
    static let hashes = 7
    var bits: [UInt64]

    init(capacity: Int) {
        // ~10 bits per id: about 1% false positives.
        bits = [UInt64](repeating: 0, count: max(1, (capacity * 10 + 63) / 64))
    }

    init(words: [UInt64]) { bits = words }

    private func positions(_ id: TraceID) -> [Int] {
        let m = UInt64(bits.count * 64)
        let h1 = id.low ^ (id.high &* 0x9E37_79B9_7F4A_7C15)
        let h2 = (id.high ^ (id.low >> 17)) | 1
        return (0..<Self.hashes).map { Int((h1 &+ UInt64($0) &* h2) % m) }
    }

    mutating func insert(_ id: TraceID) {
        for p in positions(id) { bits[p >> 6] |= 1 << UInt64(p & 63) }
    }

    func mayContain(_ id: TraceID) -> Bool {
        positions(id).allSatisfy { bits[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }
    }
}

/// Writes one block from the spans of several batches.
enum BlockWriter {
    static let chunkSpans = 4096

    /// Writes `batches` as a block at `path`; returns the block's summary, or nil when empty.
    /// `replaces` names the blocks (file names in the same directory) this one supersedes, when
    /// compaction writes it: should the process stop before they are deleted, the next start
    /// deletes them.
    /// `level` is the zstd level of the chunks: cuts write fast, compaction writes small.
    /// `shouldStop` is asked between chunks: when it says so (the server is stopping), the write
    /// is given up with ``Stopped`` before anything reaches the disk.
    static func write(
        _ batches: [SpanBatch], to path: String, level: Int32 = 3, replaces: [String] = [],
        shouldStop: @Sendable () -> Bool = { false }
    ) throws
        -> BlockMeta?
    {
        // Locate every span, grouped by trace, traces in id order.
        var byTrace = [TraceID: [(Int, Int)]]()
        var spanCount = 0
        var meta = BlockMeta()
        meta.replaces = replaces
        meta.level = level
        for (b, batch) in batches.enumerated() {
            meta.add(batch)
            for i in 0..<batch.count { byTrace[batch.traceIDs[i], default: []].append((b, i)) }
            spanCount += batch.count
        }
        guard spanCount > 0 else { return nil }
        let traceIDs = byTrace.keys.sorted()
        // Chunks hold traces in start order, not id order: a search checks its newest candidates
        // first, and these then share a few chunks instead of needing one chunk each.
        let firstStart = traceIDs.map { id in byTrace[id]!.lazy.map { batches[$0.0].startTimes[$0.1] }.min()! }
        let chunkOrder = traceIDs.indices.sorted { firstStart[$0] != firstStart[$1] ? firstStart[$0] < firstStart[$1] : $0 < $1 }

        var file = BlockFile()
        func addSection(_ kind: BlockFormat.Section, _ bytes: [UInt8]) { file.add(kind, bytes) }

        // The traces are encoded, indexed and compressed in runs, one per core, then joined.
        let workers = traceIDs.count >= 256 ? min(2, ProcessInfo.processInfo.activeProcessorCount) : 1
        let runs = Mutex([ChunkRun?](repeating: nil, count: workers))
        let per = (chunkOrder.count + workers - 1) / workers
        let groups = byTrace
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let part = chunkOrder[min(chunkOrder.count, w * per)..<min(chunkOrder.count, (w + 1) * per)]
            let run = ChunkRun(part, traceIDs: traceIDs, byTrace: groups, batches: batches, level: level, shouldStop: shouldStop)
            runs.withLock { $0[w] = run }
        }
        if shouldStop() { throw Stopped() }
        var index = [BlockIndexEntry?](repeating: nil, count: traceIDs.count)
        var bloom = TraceBloom(capacity: traceIDs.count)
        var search = BlockSearch.Builder()
        var chunkBase: UInt32 = 0
        // Each run is let go once it is in the file and the index: the cut's peak memory is
        // then one run's chunks and term table less.
        var parts = runs.withLock { r in
            defer { r = [] }
            return r
        }
        for w in parts.indices {
            guard let run = parts[w].take() else { continue }
            addSection(.scopeTable, run.table)
            for c in run.chunks { addSection(.chunk, c) }
            for (ordinal, var e) in run.entries {
                e.chunk += chunkBase
                index[ordinal] = e
                bloom.insert(e.traceID)
            }
            // The first run's terms are taken as they are, not copied term by term.
            if chunkBase == 0 { search = run.search } else { search.absorb(run.search, chunksBefore: chunkBase) }
            chunkBase += UInt32(run.chunks.count)
        }

        let entries = index.map { $0! }
        addSection(.indexPlanes, Zstd.compress(BlockFormat.indexPlanes(entries), level: level))
        var bloomBytes = [UInt8]()
        for w in bloom.bits { appendLE(w, &bloomBytes) }
        addSection(.bloom, bloomBytes)
        meta.spanCount = spanCount
        meta.traceCount = index.count
        addSection(.meta, meta.encoded())
        let (directory, fields) = search.fieldSections(chunkOf: index.map { $0!.chunk })
        addSection(.searchDirectory, directory)
        for f in fields { addSection(.searchField, Zstd.compress(f)) }
        addSection(.summaries, Zstd.compress(search.summarySection()))

        try writeDurably(file.finish(meta), to: path)
        return meta
    }

    /// A block write given up because the server is stopping; its spans are still in the WAL.
    struct Stopped: Error {}

    /// Rewrites block `b` with its chunks recompressed at `level`: every other section is copied
    /// as it is, so nothing is decoded and memory stays at one chunk.
    static func recompress(_ b: BlockReader, to path: String, level: Int32, replaces: [String]) throws -> BlockMeta {
        guard b.version == BlockFormat.version else { throw EngineError("\(b.path): only a version \(BlockFormat.version) block is recompressed") }
        var meta = b.meta
        meta.level = level
        meta.replaces = replaces
        var file = BlockFile()
        for (kind, location) in b.sections {
            let raw = try b.readRaw(location, what: "section at \(location.offset)")
            switch kind {
            case .chunk, .scopeTable: file.add(kind, try ColumnarChunk.recompress(raw, level: level))
            case .meta: file.add(.meta, meta.encoded())
            default: file.add(kind, raw)
            }
        }
        try writeDurably(file.finish(meta), to: path)
        return meta
    }

    /// Temporary file, fsync, rename, fsync of the directory.
    static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError("\(tmp): cannot create: \(String(cString: strerror(errno)))") }
        do {
            try WriteAheadLog.writeAll(fd, bytes, path: tmp)
            guard fsync(fd) == 0 else { throw EngineError("\(tmp): fsync failed") }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw EngineError("\(path): rename failed: \(String(cString: strerror(errno)))") }
        WriteAheadLog.syncDirectory((path as NSString).deletingLastPathComponent)
    }
}

/// A run of traces, in chunk order, made into compressed chunks, index entries (chunk numbers
/// counted from the run's first chunk) and search data: what one core does of a block.
struct ChunkRun: Sendable {
    /// The resources and scopes of every chunk of the run, stored once.
    var table = [UInt8]()
    var chunks = [[UInt8]]()
    var entries = [(ordinal: Int, entry: BlockIndexEntry)]()
    var search = BlockSearch.Builder()

    init(
        _ ordinals: ArraySlice<Int>, traceIDs: [TraceID], byTrace: [TraceID: [(Int, Int)]], batches: [SpanBatch],
        level: Int32, shouldStop: () -> Bool = { false }
    ) {
        // A chunk holds whole traces as columns (see ``ColumnarChunk``); the index points at
        // each trace by its position in its chunk.
        var chunk = ColumnarChunkWriter()
        var table = ColumnarChunkWriter()
        // A trace whose spans all came in one batch is read there, by rows. One that came in
        // several (or holds a span twice) is copied into `trace`, one batch emptied per trace
        // so that its storage is allocated once.
        var trace = SpanBatch()
        var rows = [Int]()
        // Per source batch: the scope table's number of each of its scopes, once added.
        var scopeIDs = [[UInt32]](repeating: [], count: batches.count)
        var known = [BlockSearch.Builder.BatchTerms?](repeating: nil, count: batches.count)
        // Per source batch of a copied trace: its scopes and resources already copied into it,
        // in maps kept from trace to trace (emptied, not allocated, per trace).
        var mapOfBatch = [Int: Int]()
        var scopeMaps = [[UInt32: UInt32]]()
        var resourceMaps = [[UInt32: UInt32]]()
        var search = BlockSearch.Builder()
        defer { self.search = search }
        // The trace made of rows `rows` of `batch` into the chunk, its terms into the index.
        func write(
            _ batch: SpanBatch, _ rows: [Int], ordinal: Int, scopeIDs: inout [UInt32], known: inout BlockSearch.Builder.BatchTerms
        ) -> ColumnarChunkWriter.Added {
            let added = chunk.add(batch, rows: rows, table: &table, scopeIDs: &scopeIDs)
            table.addScopes(of: batch, rows: rows, to: &scopeIDs)
            chunk.indexTerms(into: &search.terms, ordinal: UInt32(ordinal))
            search.add(
                batch, rows: rows, ordinal: UInt32(ordinal), written: added, known: &known, tableScopes: scopeIDs,
                tableResources: table.resourceOfScope)
            return added
        }
        for ordinal in ordinals {
            let id = traceIDs[ordinal]
            var minStart = UInt64.max
            var maxEnd: UInt64 = 0
            let spans = byTrace[id]!
            for (b, i) in spans {
                minStart = min(minStart, batches[b].startTimes[i])
                maxEnd = max(maxEnd, batches[b].endTimes[i])
            }
            let b = spans[0].0
            let added: ColumnarChunkWriter.Added
            rows.removeAll(keepingCapacity: true)
            for (_, i) in spans { rows.append(i) }
            if spans.allSatisfy({ $0.0 == b }), !Self.repeatsSpanID(batches[b], rows) {
                if scopeIDs[b].isEmpty { scopeIDs[b] = [UInt32](repeating: .max, count: batches[b].scopes.count) }
                if known[b] == nil { known[b] = BlockSearch.Builder.BatchTerms(batches[b]) }
                added = write(batches[b], rows, ordinal: ordinal, scopeIDs: &scopeIDs[b], known: &known[b]!)
            } else {
                trace.removeAll()
                for m in mapOfBatch.values {
                    scopeMaps[m].removeAll(keepingCapacity: true)
                    resourceMaps[m].removeAll(keepingCapacity: true)
                }
                mapOfBatch.removeAll(keepingCapacity: true)
                // Spans of one source batch are copied together.
                var from = 0
                while from < spans.count {
                    let b = spans[from].0
                    var to = from
                    while to < spans.count, spans[to].0 == b { to += 1 }
                    let m = mapOfBatch[b] ?? mapOfBatch.count
                    if m == scopeMaps.count {
                        scopeMaps.append([:])
                        resourceMaps.append([:])
                    }
                    mapOfBatch[b] = m
                    trace.append(
                        from: batches[b], indices: spans[from..<to].lazy.map(\.1), scopeMap: &scopeMaps[m],
                        resourceMap: &resourceMaps[m])
                    from = to
                }
                // A span written twice (a retried export, a WAL record replayed) is kept once;
                // spans that only share an id are all kept.
                trace = trace.removingExactDuplicates()
                var traceScopes = [UInt32](repeating: .max, count: trace.scopes.count)
                var fresh = BlockSearch.Builder.BatchTerms(trace)
                added = write(trace, Array(0..<trace.count), ordinal: ordinal, scopeIDs: &traceScopes, known: &fresh)
            }
            entries.append(
                (
                    ordinal,
                    BlockIndexEntry(traceID: id, chunk: UInt32(chunks.count), offset: added.position, minStart: minStart, maxEnd: maxEnd)
                ))
            if chunk.spanCount >= BlockWriter.chunkSpans {
                chunk.indexChunkTerms(into: &search, chunk: UInt32(chunks.count))
                chunks.append(chunk.finish(level: level))
                chunk = ColumnarChunkWriter()
                if shouldStop() { return }  // the caller sees it too, and gives up the block
            }
        }
        if chunk.traceCount > 0 {
            chunk.indexChunkTerms(into: &search, chunk: UInt32(chunks.count))
            chunks.append(chunk.finish(level: level))
        }
        self.table = table.finish(level: level)
    }

    /// Whether two of rows `rows` of `batch` have the same span id (then the trace may hold a
    /// span twice, and is copied to drop the copy).
    static func repeatsSpanID(_ batch: SpanBatch, _ rows: [Int]) -> Bool {
        if rows.count <= 32 {
            return (1..<max(rows.count, 1)).contains { i in rows[..<i].contains { batch.spanIDs[$0] == batch.spanIDs[rows[i]] } }
        }
        var seen = Set<SpanID>(minimumCapacity: rows.count)
        return rows.contains { !seen.insert(batch.spanIDs[$0]).inserted }
    }
}

/// A block file being assembled: magic, sections, then the footer and trailer.
struct BlockFile {
    var bytes = BlockFormat.magic
    var sections = [(kind: BlockFormat.Section, offset: Int, length: Int, crc: UInt32)]()

    mutating func add(_ kind: BlockFormat.Section, _ section: [UInt8]) {
        let crc = section.withUnsafeBytes { WriteAheadLog.crc32Of($0) }
        sections.append((kind, bytes.count, section.count, crc))
        bytes.append(contentsOf: section)
    }

    func finish(_ meta: BlockMeta) -> [UInt8] {
        var footer = [UInt8]()
        appendLE(BlockFormat.version, &footer)
        appendLE(meta.minStart, &footer)
        appendLE(meta.maxEnd, &footer)
        appendLE(UInt64(meta.spanCount), &footer)
        appendLE(UInt64(meta.traceCount), &footer)
        appendLE(UInt32(sections.count), &footer)
        for (kind, offset, length, crc) in sections {
            footer.append(kind.rawValue)
            appendLE(UInt64(offset), &footer)
            appendLE(UInt64(length), &footer)
            appendLE(crc, &footer)
        }
        var file = bytes
        file.append(contentsOf: footer)
        appendLE(UInt32(footer.count), &file)
        appendLE(footer.withUnsafeBytes { WriteAheadLog.crc32Of($0) }, &file)
        file.append(contentsOf: BlockFormat.magic)
        return file
    }
}

func appendLE<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
    withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
}

/// What a block holds, kept in memory for pruning and for listing services and operations.
struct BlockMeta: Sendable {
    var minStart = UInt64.max
    var maxEnd: UInt64 = 0
    var spanCount = 0
    var traceCount = 0
    var operations: [String: Set<SpanOperation>] = [:]
    /// File names of the blocks this one was compacted from.
    var replaces: [String] = []
    /// zstd level of the chunks.
    var level: Int32 = 3

    mutating func add(_ batch: SpanBatch) {
        for i in 0..<batch.count {
            minStart = min(minStart, batch.startTimes[i])
            maxEnd = max(maxEnd, batch.endTimes[i])
        }
        for (service, ops) in batch.operationsByService() { operations[service, default: []].formUnion(ops) }
    }

    /// `{"services": {"svc": [["op", kind], ...]}, "level": 3, "replaces": ["file.blk", ...]}`.
    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("services")
        w.beginObject()
        for (service, ops) in operations.sorted(by: { $0.key < $1.key }) {
            w.key(service)
            w.beginArray()
            for op in ops.sorted() {
                w.beginArray()
                w.string(op.name)
                w.int(Int64(op.kind.rawValue))
                w.endArray()
            }
            w.endArray()
        }
        w.endObject()
        w.key("level")
        w.int(Int64(level))
        if !replaces.isEmpty {
            w.key("replaces")
            w.beginArray()
            for r in replaces { w.string(r) }
            w.endArray()
        }
        w.endObject()
        return w.out
    }

    mutating func decodeOperations(_ bytes: UnsafeRawBufferPointer) throws {
        let doc = try JSONValue.parse(bytes)
        guard case .object(let services)? = doc["services"] else {
            throw EngineError("meta section has no services")
        }
        if case .number(let l)? = doc["level"], let n = Int32(l) { level = n }
        replaces = (doc["replaces"]?.arrayValue ?? []).compactMap(\.stringValue)
            .filter { !$0.contains("/") && $0.hasSuffix(".blk") }
        for (service, list) in services {
            var set = Set<SpanOperation>()
            for entry in list.arrayValue ?? [] {
                guard let pair = entry.arrayValue, pair.count == 2, let name = pair[0].stringValue,
                    case .number(let k) = pair[1], let kind = Int32(k)
                else { throw EngineError("meta section has a malformed operation") }
                set.insert(SpanOperation(name: name, kind: SpanKind(rawValue: kind)))
            }
            operations[service] = set
        }
    }
}
