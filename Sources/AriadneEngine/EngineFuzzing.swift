public import AriadneModel
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
            return true
        } catch {
            return false
        }
    }

    /// Writes `bytes` as a WAL segment and replays it. Returns the number of records replayed.
    @discardableResult
    public static func replayWAL(_ bytes: [UInt8], scratch: String) -> Int {
        let dir = scratch + "/wal"
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: WriteAheadLog.path(dir, 1), contents: Data(bytes)) else { return 0 }
        var records = 0
        _ = try? WriteAheadLog.replay(directory: dir) { _, payload in
            var batch = SpanBatch()
            var rejections = [SpanRejection]()
            try? OTLPProtobuf.decodeExportRequest(payload, into: &batch, rejections: &rejections)
            records += 1
        }
        return records
    }

    /// A valid block and a valid WAL segment holding `batch`, as starting points for mutation.
    public static func seeds(_ batch: SpanBatch, scratch: String) throws -> (block: [UInt8], wal: [UInt8]) {
        let blockPath = scratch + "/seed.blk"
        _ = try BlockWriter.write([batch], to: blockPath)
        var wal = WriteAheadLog.magic
        WriteAheadLog.frame(OTLPProtobuf.encodeExportRequest(batch), into: &wal)
        WriteAheadLog.frame(OTLPProtobuf.encodeExportRequest(batch.selecting([0])), into: &wal)
        return (try readWholeFile(blockPath), wal)
    }
}
