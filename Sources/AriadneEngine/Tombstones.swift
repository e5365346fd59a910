import AriadneModel
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The durable list of deleted trace ids: `tombstones.log`, records of
/// `u32 LE count | u32 LE CRC-32 | count × 16-byte trace id`, appended and fsynced. A torn last
/// record is ignored (and reported): its deletion was never acknowledged.
enum Tombstones {
    static func append(_ ids: [TraceID], to path: String) throws {
        var payload = [UInt8]()
        for id in ids {
            appendBE(id.high, &payload)
            appendBE(id.low, &payload)
        }
        var record = [UInt8]()
        appendLE(UInt32(ids.count), &record)
        appendLE(payload.withUnsafeBytes { WriteAheadLog.crc32Of($0) }, &record)
        record += payload
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try WriteAheadLog.writeAll(fd, record, path: path)
        guard fsync(fd) == 0 else { throw EngineError("\(path): fsync failed") }
    }

    static func load(_ path: String, report: (EngineEvent) -> Void) throws -> Set<TraceID> {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = try readWholeFile(path)
        var ids = Set<TraceID>()
        var offset = 0
        while offset + 8 <= bytes.count {
            let count = Int(bytes.readLE(UInt32.self, at: offset))
            let crc = bytes.readLE(UInt32.self, at: offset + 4)
            let end = offset + 8 + count * 16
            guard count <= 1 << 24, end <= bytes.count else { break }
            let ok = bytes.withUnsafeBytes { WriteAheadLog.crc32Of(UnsafeRawBufferPointer(rebasing: $0[offset + 8..<end])) == crc }
            guard ok else { break }
            for k in 0..<count {
                let at = offset + 8 + k * 16
                ids.insert(TraceID(high: readBE(bytes, at), low: readBE(bytes, at + 8)))
            }
            offset = end
        }
        if offset < bytes.count {
            report(EngineEvent(description: "\(path): ignored \(bytes.count - offset) bytes of a torn tombstone record"))
        }
        return ids
    }

    static func appendBE(_ v: UInt64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    static func readBE(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    }
}
