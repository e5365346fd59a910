public import AriadneModel
import AriadneStorage
import AriadneWire
import Foundation

/// Entry points for the fuzz harness (`scripts/fuzz.sh`): feed arbitrary bytes to the block
/// reader and to WAL replay, which must report errors and never crash.
public enum EngineFuzzing {
    /// Writes `bytes` as a block file and reads everything in it. Returns whether it was readable.
    @discardableResult
    public static func readBlock(_ bytes: [UInt8], scratch: String) -> Bool {
        let path = scratch + "/fuzz.blk"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return false }
        do {
            let reader = try BlockReader(path: path)
            for n in reader.chunks.indices { _ = try reader.chunk(n) }
            for id in reader.traceIDs.prefix(8) { _ = try reader.trace(id) }
            _ = try reader.summaries()
            let query = fuzzQuery()
            _ = try reader.search(query, matcher: try SpanMatcher(query), threshold: nil, skip: [])
            return true
        } catch {
            return false
        }
    }

    /// Built per call, not a global: LeakSanitizer does not see through the tagged pointers of a
    /// global's indirect enum boxes and reports them as leaks at exit.
    static func fuzzQuery() -> TraceQuery {
        TraceQuery(
            service: "orders", tags: ["http.route": "/orders"],
            filter: .or([.compare(.attribute(.any, "db.rows_returned"), .gt, .int(10)), .compare(.name, .regex, .string("GET.*"))]))
    }

    /// Parses `bytes` as each kind of search section (checksums keep mutated sections from
    /// reaching these parsers through a block, so they are fuzzed directly). Returns whether any
    /// parse succeeded.
    @discardableResult
    public static func parseSearchData(_ bytes: [UInt8]) -> Bool {
        var ok = false
        if (try? BlockSearch.decodeDirectory(bytes)) != nil { ok = true }
        for probe in [RareTerms.Probe.equal("a", nil), .equal("7", 7), .any, .order(try! ValuePredicate(op: .gt, literal: .int(3)))] {
            let ordinals = { (c: UInt32) -> [UInt32]? in c < 4 ? [c] : nil }
            if (try? BlockSearch.postings(bytes, traceCount: 64, rare: probe, ordinalsOfChunk: ordinals) { _ in true }) != nil { ok = true }
        }
        let entries = (0..<64).map {
            BlockIndexEntry(traceID: TraceID(high: 1, low: UInt64($0)), chunk: 0, offset: 0, minStart: 0, maxEnd: 0)
        }
        for n in [1, 8, 64] where (try? BlockSearch.decodeSummaries(bytes, entries: Array(entries.prefix(n)))) != nil { ok = true }
        return ok
    }

    /// Parses `bytes` as a version 4 scope table and chunk section (`u32 LE table length, table,
    /// chunk`) and materialises every trace in the chunk. Returns whether it was readable.
    @discardableResult
    public static func readChunk(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4 else { return false }
        let length = Int(bytes.readLE(UInt32.self, at: 0))
        guard length <= bytes.count - 4 else { return false }
        let table = try? ColumnarChunkReader.ScopeTable(Array(bytes[4..<4 + length]))
        let section = Array(bytes[(4 + length)...])
        // The ids a block's index would give (any will do; the count must match).
        let traces = (try? ColumnarChunk.Directory(section).traces) ?? 0
        let ids = (0..<traces).map { TraceID(high: 1, low: UInt64($0)) }
        guard let chunk = try? ColumnarChunkReader(section, traceIDs: ids, table: table) else { return false }
        return (try? chunk.traces()) != nil
    }

    /// Inputs of ``readChunk(_:)`` holding the traces of `batch`: one as written, one with every
    /// column stored plain (so that mutations reach the column parsers, not only zstd's checks).
    public static func chunkSeeds(_ batch: SpanBatch) -> [[UInt8]] {
        var writer = ColumnarChunkWriter()
        var table = ColumnarChunkWriter()
        for id in Set(batch.traceIDs).sorted() {
            _ = writer.add(trace: batch.selecting((0..<batch.count).filter { batch.traceIDs[$0] == id }), table: &table)
        }
        func input(_ table: [UInt8], _ chunk: [UInt8]) -> [UInt8] {
            var out = [UInt8]()
            appendLE(UInt32(table.count), &out)
            return out + table + chunk
        }
        let (t, c) = (table.finish(level: 3), writer.finish(level: 3))
        var seeds = [input(t, c)]
        if let plainTable = try? ColumnarChunk.recompress(t, level: nil), let plainChunk = try? ColumnarChunk.recompress(c, level: nil) {
            seeds.append(input(plainTable, plainChunk))
        }
        return seeds
    }

    /// Writes `bytes` as a WAL segment and replays it. Returns the number of records replayed.
    @discardableResult
    public static func replayWAL(_ bytes: [UInt8], scratch: String) -> Int {
        let dir = scratch + "/wal"
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: WriteAheadLog.path(dir, 1), contents: Data(bytes)) else { return 0 }
        var records = 0
        _ = try? WriteAheadLog.replay(directory: dir) { _, format, payload in
            // A record that does not decode is an error for the engine, never a crash.
            if let batch = try? WriteAheadLog.batch(of: payload, format: format) {
                _ = batch.spanIDs.indices.map { batch.span(at: $0) }
            }
            records += 1
        }
        return records
    }

    /// A valid block and a valid WAL segment holding `batch`, as starting points for mutation.
    public static func seeds(_ batch: SpanBatch, scratch: String) throws -> (block: [UInt8], wal: [UInt8], search: [[UInt8]]) {
        let blockPath = scratch + "/seed.blk"
        _ = try BlockWriter.write([batch], to: blockPath)
        let reader = try BlockReader(path: blockPath)
        var search = [[UInt8]]()
        for (kind, location) in reader.sections {
            switch kind {
            case .searchDirectory: search.append(try reader.readRaw(location, what: "directory"))
            case .searchField, .summaries: search.append(try reader.readSection(location, what: "search"))
            default: break
            }
        }
        var wal = WriteAheadLog.header
        WriteAheadLog.frame(BatchFrame.encode(batch), into: &wal)
        WriteAheadLog.frame(BatchFrame.encode(batch.selecting([0])), into: &wal)
        return (try readWholeFile(blockPath), wal, Array(search.prefix(6)))
    }
}
