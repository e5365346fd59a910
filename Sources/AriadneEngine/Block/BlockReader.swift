import AriadneModel
import AriadneStorage
import AriadneWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An open block: its index, bloom filter and meta in memory, chunks read on demand with their
/// checksums verified again. Opening checks the trailer, the footer and every section's
/// checksum, so a damaged block fails at open (and is quarantined) rather than in a query.
final class BlockReader: Sendable {
    let path: String
    let version: UInt32
    let meta: BlockMeta
    /// The traces' ids, ascending: a view of ``entries``, not a copy (a server holds the index of
    /// every block in memory, and a second list of ids was 1.6 B per stored span).
    var traceIDs: LazyMapCollection<[BlockIndexEntry], TraceID> { entries.lazy.map(\.traceID) }
    let entries: [BlockIndexEntry]
    let bloom: TraceBloom
    let chunks: [SectionLocation]
    /// The scope tables, and for each chunk the one before it in the file (none before format
    /// 4's chunk layout 3).
    let scopeTables: [ColumnarChunkReader.ScopeTable]
    let tableOfChunk: [Int?]
    /// The trace ordinals of each chunk, ascending.
    let ordinalsByChunk: [[UInt32]]
    /// Every section, in file order (for rewriting the block).
    let sections: [(kind: BlockFormat.Section, location: SectionLocation)]
    /// The term index's sections by field; nil for a version 2 block, which has no search data.
    let searchFields: [BlockSearch.FieldKey: SectionLocation]?
    let summarySection: SectionLocation?
    /// The latest trace start and the longest trace here: bounds for stopping a search early.
    let latestTraceStart: UInt64
    let longestTrace: UInt64
    let fileSize: Int
    /// Held open for the block's lifetime, so that retention can unlink the file while a query
    /// is still reading it.
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        let file = try readWholeFile(path)
        self.fileSize = file.count
        let t = BlockFormat.trailerSize
        guard file.count >= BlockFormat.magic.count + t, Array(file[0..<8]) == BlockFormat.magic,
            Array(file[(file.count - 8)...]) == BlockFormat.magic
        else { throw EngineError("not a block file (bad magic)") }
        let footerLength = Int(file.readLE(UInt32.self, at: file.count - t))
        let footerCRC = file.readLE(UInt32.self, at: file.count - t + 4)
        guard footerLength <= file.count - t - 8 else { throw EngineError("footer length out of range") }
        let footerStart = file.count - t - footerLength
        let footer = Array(file[footerStart..<(file.count - t)])
        guard footer.withUnsafeBytes({ WriteAheadLog.crc32Of($0) }) == footerCRC else {
            throw EngineError("footer checksum mismatch")
        }
        guard footer.count >= 40, BlockFormat.readableVersions.contains(footer.readLE(UInt32.self, at: 0)) else {
            throw EngineError("unsupported block version")
        }
        self.version = footer.readLE(UInt32.self, at: 0)
        let sectionCount = Int(footer.readLE(UInt32.self, at: 36))
        guard footer.count == 40 + sectionCount * 21 else { throw EngineError("footer size does not match its sections") }
        var sections = [(kind: UInt8, offset: Int, length: Int, crc: UInt32)]()
        for k in 0..<sectionCount {
            let at = 40 + k * 21
            let offset = Int(truncatingIfNeeded: footer.readLE(UInt64.self, at: at + 1))
            let length = Int(truncatingIfNeeded: footer.readLE(UInt64.self, at: at + 9))
            guard offset >= 8, length >= 0, offset <= footerStart, length <= footerStart - offset else {
                throw EngineError("section \(k) out of range")
            }
            sections.append((footer[at], offset, length, footer.readLE(UInt32.self, at: at + 17)))
        }
        func verified(_ s: (kind: UInt8, offset: Int, length: Int, crc: UInt32)) throws -> ArraySlice<UInt8> {
            let bytes = file[s.offset..<s.offset + s.length]
            guard bytes.withUnsafeBytes({ WriteAheadLog.crc32Of($0) }) == s.crc else {
                throw EngineError("section at offset \(s.offset) checksum mismatch")
            }
            return bytes
        }
        let planesSection = sections.first(where: { $0.kind == BlockFormat.Section.indexPlanes.rawValue })
        guard let indexSection = planesSection ?? sections.first(where: { $0.kind == BlockFormat.Section.index.rawValue }),
            let bloomSection = sections.first(where: { $0.kind == BlockFormat.Section.bloom.rawValue }),
            let metaSection = sections.first(where: { $0.kind == BlockFormat.Section.meta.rawValue })
        else { throw EngineError("missing index, bloom or meta section") }

        let stored = Array(try verified(indexSection))
        let index = version >= 4 ? try stored.withUnsafeBytes { buf throws(EngineError) in try Zstd.decompress(buf, limit: 1 << 30) } : stored
        let chunkSections = sections.filter { $0.kind == BlockFormat.Section.chunk.rawValue }
        // The whole file is in memory now: checking every chunk costs little and means a damaged
        // block is found at start, not in the middle of a query.
        for c in chunkSections { _ = try verified(c) }
        let decoded: [BlockIndexEntry]
        if planesSection != nil {
            let traces = footer.readLE(UInt64.self, at: 28)
            // Distinct ids take a byte each at least in the high or the low column: a count beyond
            // the bytes is damage, not a reason to reserve memory.
            guard traces <= UInt64(index.count) else { throw EngineError("index too short for its traces") }
            decoded = try BlockFormat.indexEntries(planes: index, count: Int(traces))
        } else {
            guard index.count % BlockFormat.indexEntrySize == 0 else { throw EngineError("index size is not whole entries") }
            let n = index.count / BlockFormat.indexEntrySize
            let fieldByField = version >= 4
            decoded = (0..<n).map { k in
                if fieldByField {
                    let start = index.readLE(UInt64.self, at: 24 * n + 8 * k)
                    return BlockIndexEntry(
                        traceID: TraceID(high: index.readLE(UInt64.self, at: 8 * k), low: index.readLE(UInt64.self, at: 8 * n + 8 * k)),
                        chunk: index.readLE(UInt32.self, at: 16 * n + 4 * k), offset: index.readLE(UInt32.self, at: 20 * n + 4 * k),
                        minStart: start, maxEnd: start &+ index.readLE(UInt64.self, at: 32 * n + 8 * k))
                }
                let at = k * BlockFormat.indexEntrySize
                return BlockIndexEntry(
                    traceID: TraceID(high: index.readLE(UInt64.self, at: at), low: index.readLE(UInt64.self, at: at + 8)),
                    chunk: index.readLE(UInt32.self, at: at + 16), offset: index.readLE(UInt32.self, at: at + 20),
                    minStart: index.readLE(UInt64.self, at: at + 24),
                    maxEnd: index.readLE(UInt64.self, at: at + 32))
            }
        }
        var entries = [BlockIndexEntry]()
        entries.reserveCapacity(decoded.count)
        for e in decoded {
            guard Int(e.chunk) < chunkSections.count else { throw EngineError("index names a missing chunk") }
            if let last = entries.last, !(last.traceID < e.traceID) { throw EngineError("index is not sorted") }
            entries.append(e)
        }
        let bloomBytes = Array(try verified(bloomSection))
        guard bloomBytes.count % 8 == 0, !bloomBytes.isEmpty else { throw EngineError("bloom filter size") }
        var words = [UInt64]()
        for at in stride(from: 0, to: bloomBytes.count, by: 8) { words.append(bloomBytes.readLE(UInt64.self, at: at)) }
        var meta = BlockMeta()
        meta.minStart = file.readLE(UInt64.self, at: footerStart + 4)
        meta.maxEnd = file.readLE(UInt64.self, at: footerStart + 12)
        meta.spanCount = Int(truncatingIfNeeded: file.readLE(UInt64.self, at: footerStart + 20))
        meta.traceCount = entries.count
        let metaBytes = Array(try verified(metaSection))
        try metaBytes.withUnsafeBytes { try meta.decodeOperations($0) }

        self.meta = meta
        self.entries = entries
        self.bloom = TraceBloom(words: words)
        var byChunk = [[UInt32]](repeating: [], count: chunkSections.count)
        for (o, e) in entries.enumerated() { byChunk[Int(e.chunk)].append(UInt32(o)) }
        self.ordinalsByChunk = byChunk
        self.chunks = chunkSections.map { SectionLocation(offset: $0.offset, length: $0.length, crc: $0.crc) }
        var tables = [ColumnarChunkReader.ScopeTable]()
        var tableOfChunk = [Int?]()
        for s in sections {
            if s.kind == BlockFormat.Section.scopeTable.rawValue {
                do {
                    tables.append(try ColumnarChunkReader.ScopeTable(Array(try verified(s))))
                } catch let e as EngineError {
                    throw EngineError("scope table at offset \(s.offset): \(e.message)")
                }
            } else if s.kind == BlockFormat.Section.chunk.rawValue {
                tableOfChunk.append(tables.isEmpty ? nil : tables.count - 1)
            }
        }
        self.scopeTables = tables
        self.tableOfChunk = tableOfChunk
        self.sections = sections.compactMap { s in
            BlockFormat.Section(rawValue: s.kind).map { ($0, SectionLocation(offset: s.offset, length: s.length, crc: s.crc)) }
        }
        if let d = sections.first(where: { $0.kind == BlockFormat.Section.searchDirectory.rawValue }) {
            let keys = try BlockSearch.decodeDirectory(Array(try verified(d)))
            let fieldSections = sections.filter { $0.kind == BlockFormat.Section.searchField.rawValue }
            guard keys.count == fieldSections.count else { throw EngineError("search directory does not match its fields") }
            var fields = [BlockSearch.FieldKey: SectionLocation]()
            for (k, f) in zip(keys, fieldSections) {
                _ = try verified(f)
                fields[k] = SectionLocation(offset: f.offset, length: f.length, crc: f.crc)
            }
            self.searchFields = fields
        } else {
            self.searchFields = nil
        }
        self.summarySection = try sections.first(where: { $0.kind == BlockFormat.Section.summaries.rawValue }).map {
            _ = try verified($0)
            return SectionLocation(offset: $0.offset, length: $0.length, crc: $0.crc)
        }
        self.latestTraceStart = entries.lazy.map(\.minStart).max() ?? 0
        self.longestTrace = entries.lazy.map { $0.maxEnd >= $0.minStart ? $0.maxEnd - $0.minStart : 0 }.max() ?? 0
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EngineError("cannot open: \(String(cString: strerror(errno)))") }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The index entry of `id`, if the block holds that trace.
    func entry(for id: TraceID) -> BlockIndexEntry? {
        guard bloom.mayContain(id) else { return nil }
        return traceIDs.binarySearchIndex(of: id).map { entries[$0] }
    }

    /// Reads, verifies and opens one chunk; `through` (an index entry's offset) says that only
    /// the traces up to that one will be read, `attributeKeys` that only those attributes will
    /// (for checking search candidates; see ``ColumnarChunkReader/init(_:traceIDs:through:attributeKeys:)``).
    func loadChunk(_ n: Int, through last: UInt32? = nil, attributeKeys: Set<String>? = nil) throws -> LoadedChunk {
        guard version >= 4 else { return .frames(try readSection(chunks[n], what: "chunk \(n)")) }
        do {
            let chunk = try ColumnarChunkReader(
                readRaw(chunks[n], what: "chunk \(n)"), traceIDs: try traceIDs(ofChunk: n), through: last.map(Int.init),
                attributeKeys: attributeKeys, table: tableOfChunk[n].map { scopeTables[$0] })
            return .columns(chunk, ColumnarChunkReader.Traces(chunk))
        } catch let e as EngineError {
            throw EngineError("\(path): chunk \(n): \(e.message)")
        }
    }

    /// The ids of chunk `n`'s traces by their position in it, from the index (a chunk does not
    /// repeat them).
    func traceIDs(ofChunk n: Int) throws -> [TraceID] {
        let ordinals = ordinalsByChunk[n]
        var ids = [TraceID?](repeating: nil, count: ordinals.count)
        for o in ordinals {
            let e = entries[Int(o)]
            guard Int(e.offset) < ids.count, ids[Int(e.offset)] == nil else { throw EngineError("index: chunk \(n) has a trace out of place") }
            ids[Int(e.offset)] = e.traceID
        }
        return ids.map { $0! }
    }

    /// Reads, verifies and decompresses a zstd section.
    func readSection(_ c: SectionLocation, what: String) throws -> [UInt8] {
        let compressed = try readRaw(c, what: what)
        return try compressed.withUnsafeBytes { buf throws(EngineError) in try Zstd.decompress(buf, limit: 1 << 30) }
    }

    /// Reads a section's bytes as stored, checksum verified.
    func readRaw(_ c: SectionLocation, what: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: c.length)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, c.length, off_t(c.offset)) }
        guard got == c.length else { throw EngineError("\(path): short read of \(what)") }
        guard bytes.withUnsafeBytes({ WriteAheadLog.crc32Of($0) }) == c.crc else {
            throw EngineError("\(path): \(what) checksum mismatch")
        }
        return bytes
    }

    /// Trace ordinals whose spans carry a value of field `key` that `accept` takes; nil when the
    /// block has no term index (version 2).
    /// `rare` says which of the values seen in a few traces only (kept in per-chunk filters) the
    /// condition may take.
    func postings(_ key: BlockSearch.FieldKey, rare: RareTerms.Probe, accept: (FilterValue) -> Bool) throws -> [UInt32]? {
        guard let fields = searchFields else { return nil }
        guard let section = fields[key] else { return [] }
        // A resource attribute's values list resources; the resources list traces.
        if key.scope == .resource, let resources = fields[BlockSearch.resourcesField] {
            let table = try readSection(resources, what: "search field \(BlockSearch.resourcesField.key)")
            var r = ByteReader(table)
            let numbers = Set(
                try BlockSearch.postings(readSection(section, what: "search field \(key.key)"), traceCount: try r.count(), accept: accept))
            return try BlockSearch.postings(table, traceCount: entries.count) { v in
                if case .int(let n) = v, let n = UInt32(exactly: n) { return numbers.contains(n) }
                return false
            }
        }
        return try BlockSearch.postings(
            readSection(section, what: "search field \(key.key)"), traceCount: entries.count, rare: rare,
            ordinalsOfChunk: { [ordinalsByChunk] c in Int(c) < ordinalsByChunk.count ? ordinalsByChunk[Int(c)] : nil },
            accept: accept)
    }

    /// Summaries of every trace, in index order; nil for a version 2 block.
    func summaries() throws -> [TraceSummary]? {
        guard let s = summarySection else { return nil }
        return try BlockSearch.decodeSummaries(readSection(s, what: "summaries"), entries: entries)
    }

    /// Every trace of chunk `n`, one batch per trace.
    func chunk(_ n: Int) throws -> [SpanBatch] {
        try loadChunk(n).traces()
    }

    /// The spans of trace `id` in this block.
    func trace(_ id: TraceID) throws -> SpanBatch? {
        guard let e = entry(for: id) else { return nil }
        return try loadChunk(Int(e.chunk), through: e.offset).trace(at: Int(e.offset))
    }
}

/// A chunk as read: framed OTLP traces (block versions 2 and 3) or columns (version 4).
enum LoadedChunk {
    case frames([UInt8])
    /// The chunk, and its traces as a search reads them one by one.
    case columns(ColumnarChunkReader, ColumnarChunkReader.Traces)

    /// The trace an index entry's `offset` points at.
    func trace(at offset: Int) throws -> SpanBatch {
        switch self {
        case .frames(let raw): return try Self.frame(raw, at: offset).0
        case .columns(_, let traces): return try traces.trace(offset)
        }
    }

    func traces() throws -> [SpanBatch] {
        switch self {
        case .columns(let chunk, _): return try chunk.traces()
        case .frames(let raw):
            var traces = [SpanBatch]()
            var offset = 0
            while offset < raw.count {
                let (trace, next) = try Self.frame(raw, at: offset)
                traces.append(trace)
                offset = next
            }
            return traces
        }
    }

    /// Decodes the trace framed at `offset` of a version 3 chunk; returns it and the next offset.
    static func frame(_ raw: [UInt8], at offset: Int) throws -> (SpanBatch, Int) {
        guard offset + 4 <= raw.count else { throw EngineError("frame offset \(offset) out of range") }
        let length = Int(raw.readLE(UInt32.self, at: offset))
        guard length <= raw.count - offset - 4 else { throw EngineError("frame length out of range") }
        var batch = SpanBatch()
        var rejections = [SpanRejection]()
        do {
            try raw.withUnsafeBytes { buf in
                try OTLPProtobuf.decodeExportRequest(
                    UnsafeRawBufferPointer(rebasing: buf[offset + 4..<offset + 4 + length]), into: &batch,
                    rejections: &rejections)
            }
        } catch {
            throw EngineError("trace frame does not decode: \(error)")
        }
        return (batch, offset + 4 + length)
    }
}

extension RandomAccessCollection where Element == TraceID, Index == Int {
    /// The position of `id` in this ascending array.
    func binarySearchIndex(of id: TraceID) -> Int? {
        var lo = startIndex
        var hi = endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if self[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < endIndex && self[lo] == id ? lo : nil
    }
}

struct SectionLocation {
    var offset: Int
    var length: Int
    var crc: UInt32
}

extension Array where Element == UInt8 {
    func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
