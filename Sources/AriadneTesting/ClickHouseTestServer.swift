import Foundation

/// A real ClickHouse server on loopback for tests, started once per test process through
/// `scripts/clickhouse-server.sh` (the same configuration the end-to-end tests use) and
/// stopped when the process ends.
public final class ClickHouseTestServer: Sendable {
    public let url: String
    public let httpPort: Int
    public let directory: String

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// The shared server; the first call starts it (a few seconds).
    public static func shared() throws -> ClickHouseTestServer {
        try started.get()
    }

    private static let started: Result<ClickHouseTestServer, Unavailable> = Result { () throws(Unavailable) in try ClickHouseTestServer() }

    init() throws(Unavailable) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/clickhouse-server.sh").path
        let pid = ProcessInfo.processInfo.processIdentifier
        directory = NSTemporaryDirectory() + "ariadne-clickhouse-\(pid)"
        // Ports from the process id, away from the usual ones; a clash shows as a failed start.
        httpPort = 20_000 + Int(pid % 10_000) * 2
        url = "http://127.0.0.1:\(httpPort)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, directory, String(httpPort), String(httpPort + 1)]
        var env = ProcessInfo.processInfo.environment
        env["ARIADNE_WATCH_PID"] = String(pid)
        process.environment = env
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch { throw Unavailable(description: "cannot run \(script): \(error)") }
        for _ in 0..<300 {
            if Self.isListening(httpPort) { return }
            if !process.isRunning {
                throw Unavailable(
                    description: "clickhouse-server did not start (is it installed? scripts/setup.sh --python); see \(directory)/server.err.log")
            }
            usleep(100_000)
        }
        throw Unavailable(description: "clickhouse-server did not answer on \(url) within 30 s")
    }

    /// Whether something accepts connections on the loopback port (ClickHouse opens its HTTP
    /// port once it is ready to answer).
    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
