public import AriadneModel
import AriadneWire
internal import CZlib
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a write becomes durable before it is acknowledged.
public enum WALSyncMode: String, Sendable {
    /// fsync after every group of records (default): an acknowledged write survives a crash.
    case always
    /// Hand records to the OS without fsync: faster, but a machine crash (not a process crash)
    /// may lose the last acknowledged writes.
    case never
}

/// An error of the storage engine, with the path it concerns.
public struct EngineError: RetryableError, CustomStringConvertible, Sendable {
    public var message: String
    /// The engine is behind (blocks are written more slowly than spans arrive): try again later.
    public var isRetryable = false
    public init(_ message: String, retryable: Bool = false) {
        self.message = message
        self.isRetryable = retryable
    }
    public var description: String { message }
}

/// The write-ahead log: append-only segment files of checksummed records, written by one
/// thread with group commit — every record waiting when a write starts goes out in the same
/// `write` and the same `fsync`, and each `append` returns only after its record is durable.
///
/// Segment file: a header, then records of `u32 LE payload length | u32 LE CRC-32 of payload | payload`.
/// The header is versioned, as blocks are: `ARDNWAL` and a version byte, then for version 2 a
/// `u32 LE` payload format (1: an OTLP protobuf `ExportTraceServiceRequest` per record, written
/// by 0.7 and earlier; 2: a ``BatchFrame`` per record) and a `u32 LE` of flags (0) — 16 bytes.
/// Version 1 (`ARDNWAL1`, 8 bytes, OTLP protobuf records, written before 0.7) is still replayed. A segment of a version or payload format this build
/// does not know is neither replayed nor truncated: the engine refuses to start and says why, so
/// that downgrading never destroys what a newer version wrote.
///
/// Thread safety: `append` may be called concurrently; rotation and removal are serialized with
/// writes on the log's own queue.
public final class WriteAheadLog: Sendable {
    /// `ARDNWAL`, then the version byte.
    public static let magicPrefix: [UInt8] = Array("ARDNWAL".utf8)
    public static let version: UInt8 = 2
    /// What a segment's records are.
    public enum PayloadFormat: UInt32, Sendable {
        /// OTLP protobuf export requests (segments of version 1, and of version 2 written by 0.7).
        case otlpProtobuf = 1
        /// Span batches as ``BatchFrame`` writes them.
        case batchFrame = 2
    }
    /// The header new segments get.
    public static let header = header(.batchFrame)

    static func header(_ format: PayloadFormat) -> [UInt8] {
        var h = magicPrefix + [UInt8(ascii: "0") + version]
        withUnsafeBytes(of: format.rawValue.littleEndian) { h += $0 }
        h += [0, 0, 0, 0]
        return h
    }
    public static let recordHeaderSize = 8
    /// Largest record accepted on replay; anything larger is a corrupt length.
    public static let maxRecordSize = 512 << 20

    struct Pending {
        var record: [UInt8]
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        var pending: [Pending] = []
        var scheduled = false
        var fd: Int32 = -1
        var segment: Int = 0
        var segmentSize: Int = 0
        var failed: EngineError? = nil
        var records = 0
        var syncs = 0
    }

    public let directory: String
    public let syncMode: WALSyncMode
    public let segmentBytes: Int
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "ariadne.wal")

    /// Opens the log in `directory`, starting a new segment after the existing ones.
    public init(directory: String, syncMode: WALSyncMode = .always, segmentBytes: Int = 128 << 20) throws {
        self.directory = directory
        self.syncMode = syncMode
        self.segmentBytes = segmentBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let next = (try Self.segments(in: directory).last ?? 0) + 1
        try state.withLock { s in try openSegment(next, &s) }
    }

    deinit {
        state.withLock { s in if s.fd >= 0 { close(s.fd) } }
    }

    /// Segment numbers present in `directory`, ascending.
    public static func segments(in directory: String) throws -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasSuffix(".wal") else { return nil }
            return Int(name.dropLast(4))
        }.sorted()
    }

    public static func path(_ directory: String, _ segment: Int) -> String {
        directory + "/" + String(format: "%08d.wal", segment)
    }

    private func openSegment(_ number: Int, _ s: inout State) throws {
        if s.fd >= 0 { close(s.fd) }
        let path = Self.path(directory, number)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError("\(path): cannot create WAL segment: \(String(cString: strerror(errno)))") }
        try Self.writeAll(fd, Self.header, path: path)
        if syncMode == .always {
            fsync(fd)
            Self.syncDirectory(directory)
        }
        s.fd = fd
        s.segment = number
        s.segmentSize = Self.header.count
    }

    /// The segment new records go to.
    public var currentSegment: Int { state.withLock { $0.segment } }

    /// Records appended and group writes (each one `write` and, with `.always`, one fsync) so
    /// far: group commit shows as fewer writes than records.
    public var counts: (records: Int, groupWrites: Int) { state.withLock { ($0.records, $0.syncs) } }

    /// Appends one record; returns when it is durable (per `syncMode`).
    public func append(_ payload: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let schedule: Bool = state.withLock { s in
                if let failed = s.failed {
                    c.resume(throwing: failed)
                    return false
                }
                s.pending.append(Pending(record: payload, continuation: c))
                if s.scheduled { return false }
                s.scheduled = true
                return true
            }
            if schedule { queue.async { self.flushPending() } }
        }
    }

    /// Writes every waiting record with one write and one fsync, then wakes their writers.
    private func flushPending() {
        while true {
            let (batch, fd, path): ([Pending], Int32, String) = state.withLock { s in
                let b = s.pending
                s.pending = []
                if b.isEmpty { s.scheduled = false }
                return (b, s.fd, Self.path(directory, s.segment))
            }
            if batch.isEmpty { return }
            var buffer = [UInt8]()
            buffer.reserveCapacity(batch.reduce(0) { $0 + $1.record.count + Self.recordHeaderSize })
            for p in batch { Self.frame(p.record, into: &buffer) }
            do {
                try Self.writeAll(fd, buffer, path: path)
                if syncMode == .always, fdatasync(fd) != 0 {
                    throw EngineError("\(path): fsync failed: \(String(cString: strerror(errno)))")
                }
                let rotate: Bool = state.withLock { s in
                    s.records += batch.count
                    s.syncs += 1
                    s.segmentSize += buffer.count
                    return s.segmentSize >= segmentBytes
                }
                for p in batch { p.continuation.resume() }
                if rotate { try state.withLock { s in try openSegment(s.segment + 1, &s) } }
            } catch {
                // A log we cannot write is a log we cannot trust: refuse every later write.
                let e = error as? EngineError ?? EngineError("\(error)")
                state.withLock { $0.failed = e }
                for p in batch { p.continuation.resume(throwing: e) }
            }
        }
    }

    /// Starts a new segment and returns its number: every record appended before the call is in
    /// a lower-numbered segment. Waits for queued records to be written first.
    public func rotate() throws -> Int {
        try queue.sync {
            flushPending()
            return try state.withLock { s in
                try openSegment(s.segment + 1, &s)
                return s.segment
            }
        }
    }

    /// Deletes the segments numbered below `segment` (their records are in blocks).
    public func removeSegments(before segment: Int) throws {
        for n in try Self.segments(in: directory) where n < segment {
            try? FileManager.default.removeItem(atPath: Self.path(directory, n))
        }
    }

    static func frame(_ payload: [UInt8], into buffer: inout [UInt8]) {
        let crc = payload.withUnsafeBytes { crc32Of($0) }
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: crc.littleEndian) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: payload)
    }

    static func crc32Of(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return UInt32(crc32(0, base.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngineError("\(path): write failed: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    // MARK: replay

    /// What replay found in one segment.
    public struct ReplayReport: Sendable, Equatable {
        public var segment: Int
        public var records: Int
        /// Bytes cut from the end of the segment because they did not form a whole, valid record.
        public var truncatedBytes: Int
        public var reason: String?
    }

    /// The length of a segment's header and its records' format, nil when there is none (a
    /// segment torn while being created); throws for a version or payload format this build
    /// cannot read.
    static func headerSize(_ buf: UnsafeRawBufferPointer, path: String) throws -> (Int, PayloadFormat)? {
        let prefix = magicPrefix.count
        guard buf.count > prefix, buf.prefix(prefix).elementsEqual(magicPrefix) else { return nil }
        switch buf[prefix] {
        case UInt8(ascii: "1"): return (prefix + 1, .otlpProtobuf)
        case UInt8(ascii: "2"):
            guard buf.count >= header.count else { return nil }
            let raw = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: prefix + 1, as: UInt32.self))
            guard let format = PayloadFormat(rawValue: raw) else {
                throw EngineError("\(path): WAL payload format \(raw) is unknown to this version of Ariadne; left as it is, not replayed")
            }
            return (header.count, format)
        case let v:
            throw EngineError(
                "\(path): WAL segment version \(Character(UnicodeScalar(v))) is newer than this version of Ariadne reads; left as it is, not replayed"
            )
        }
    }

    /// Reads every record of every segment in `directory`, oldest first. A torn or corrupt tail is
    /// cut off the segment (the file is truncated to its last valid record) and reported; records
    /// after a bad one in the same segment cannot be trusted and are dropped with it.
    public static func replay(
        directory: String, _ handle: (_ segment: Int, _ format: PayloadFormat, _ payload: UnsafeRawBufferPointer) throws -> Void
    ) throws -> [ReplayReport] {
        var reports = [ReplayReport]()
        for segment in try segments(in: directory) {
            let path = Self.path(directory, segment)
            let bytes = try readWholeFile(path)
            var report = ReplayReport(segment: segment, records: 0, truncatedBytes: 0, reason: nil)
            var validEnd = 0
            try bytes.withUnsafeBytes { buf in
                guard let (headerSize, format) = try headerSize(buf, path: path) else {
                    report.reason = "missing WAL header"
                    return
                }
                var offset = headerSize
                validEnd = offset
                while offset < buf.count {
                    guard buf.count - offset >= recordHeaderSize else {
                        report.reason = "torn record header"
                        return
                    }
                    let length = Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                    let crc = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                    guard length <= maxRecordSize, length <= buf.count - offset - recordHeaderSize else {
                        report.reason = "torn record (length \(length) past the end)"
                        return
                    }
                    let payload = UnsafeRawBufferPointer(
                        rebasing: buf[offset + recordHeaderSize..<offset + recordHeaderSize + length])
                    guard crc32Of(payload) == crc else {
                        report.reason = "checksum mismatch"
                        return
                    }
                    try handle(segment, format, payload)
                    report.records += 1
                    offset += recordHeaderSize + length
                    validEnd = offset
                }
            }
            if validEnd < bytes.count {
                report.truncatedBytes = bytes.count - validEnd
                if truncate(path, off_t(validEnd)) != 0 {
                    throw EngineError("\(path): cannot truncate torn tail: \(String(cString: strerror(errno)))")
                }
            }
            reports.append(report)
        }
        return reports
    }
}

extension WriteAheadLog {
    /// A record's spans, as `format` holds them.
    static func batch(of payload: UnsafeRawBufferPointer, format: PayloadFormat) throws -> SpanBatch {
        do {
            switch format {
            case .batchFrame: return try BatchFrame.decode(payload)
            case .otlpProtobuf:
                var batch = SpanBatch()
                var rejections = [SpanRejection]()
                try OTLPProtobuf.decodeExportRequest(payload, into: &batch, rejections: &rejections)
                return batch
            }
        } catch {
            throw EngineError("WAL record does not decode: \(error)")
        }
    }
}
