import AriadneModel
import AriadneWire
import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A tamper-evident audit log: one JSON line per trace read, search, export, analysis,
/// comparison, admin action and failed authentication, appended and fsynced before the answer
/// goes out. Each line ends with `prev`, the `hash` of the line before it (the first line's is 64
/// zeros), and `hash`, the SHA-256 (hex) of the line up to and including `prev` (closed with `}`):
/// a changed line no longer matches its hash, a removed or moved one breaks the chain where it
/// was — which ``verify(_:)`` (and `ariadne audit verify FILE`) reports by line number.
public final class AuditLog: Sendable {
    public struct Entry: Sendable {
        public var principal: String
        public var tenant: String
        public var role: String
        public var action: String
        public var target: String
        public var result: String
        public var remote: String
        public var requestID: String

        public init(
            principal: String, tenant: String, role: String, action: String, target: String, result: String, remote: String,
            requestID: String
        ) {
            self.principal = principal
            self.tenant = tenant
            self.role = role
            self.action = action
            self.target = target
            self.result = result
            self.remote = remote
            self.requestID = requestID
        }
    }

    public let path: String
    private let state: Mutex<(fd: Int32, previous: String)>

    static let genesis = String(repeating: "0", count: 64)
    /// `,"hash":"` + 64 hex digits + `"}`.
    static let suffixLength = 9 + 64 + 2

    /// Opens (or creates) the log; appending continues the chain of what is there.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigLoadError(line: 1, message: "audit file \(path) cannot be opened: \(String(cString: strerror(errno)))") }
        var previous = Self.genesis
        if let data = FileManager.default.contents(atPath: path), let last = data.split(separator: UInt8(ascii: "\n")).last,
            let h = (try? JSONValue.parse(Array(last)))?["hash"]?.stringValue
        {
            previous = h
        }
        state = Mutex((fd, previous))
    }

    deinit { state.withLock { s in _ = close(s.fd) } }

    static func hash(_ line: [UInt8]) -> String {
        Hex.string(bytes: SHA256.hash(data: line))
    }

    /// Appends one line and syncs it to disk.
    public func record(_ e: Entry) {
        let time = Self.timestamp(Date())
        state.withLock { s in
            var w = JSONWriter()
            w.object([
                "time": .string(time), "principal": .string(e.principal), "tenant": .string(e.tenant), "role": .string(e.role),
                "action": .string(e.action), "target": .string(e.target), "result": .string(e.result), "remote": .string(e.remote),
                "request_id": .string(e.requestID), "prev": .string(s.previous),
            ])
            let body = w.out
            let h = Self.hash(body)
            s.previous = h
            let bytes = body.dropLast() + Array(",\"hash\":\"\(h)\"}\n".utf8)
            bytes.withUnsafeBytes { buf in
                var off = 0
                while off < buf.count {
                    let n = write(s.fd, buf.baseAddress! + off, buf.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            fsync(s.fd)
        }
    }

    /// The last `limit` lines, newest last.
    public func tail(_ limit: Int) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).suffix(limit).map { String(decoding: $0, as: UTF8.self) }
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    /// Checks the chain: nil when every line follows from the one before, else the first line
    /// (1-based) that was changed, removed or moved, and why.
    public static func verify(_ data: [UInt8]) -> (line: Int, reason: String)? {
        var previous = genesis
        var n = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            n += 1
            if raw.isEmpty { continue }
            let line = Array(raw)
            let value = try? JSONValue.parse(line)
            guard let prev = value?["prev"]?.stringValue, let own = value?["hash"]?.stringValue, line.count > suffixLength else {
                return (n, "not an audit line")
            }
            // The line as it was hashed: without its `,"hash":"…"` member.
            let body = Array(line.prefix(line.count - suffixLength)) + [UInt8(ascii: "}")]
            guard hash(body) == own else { return (n, "changed: its content no longer matches its hash") }
            guard prev == previous else {
                return (n, "out of place: the line before it is not the one it follows (a line was removed or reordered)")
            }
            previous = own
        }
        return nil
    }
}
