public import AriadneModel
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where ClickHouse is and how Ariadne uses it.
public struct ClickHouseOptions: Sendable {
    /// HTTP interfaces to try, in order (replicas of one store, or any node of a cluster).
    public var urls: [String] = ["http://127.0.0.1:8123"]
    public var database = "ariadne"
    public var user = "default"
    public var password = ""
    /// With a cluster: DDL runs `ON CLUSTER`, rows live in `*_local` tables on each shard and
    /// are written and read through Distributed tables sharded by trace id.
    public var cluster: String?
    /// Rows gathered before an insert, and how long the first of them may wait.
    public var batchSpans = 10_000
    public var batchInterval: Duration = .seconds(1)
    /// A request to ClickHouse still unanswered after this fails.
    public var timeout: Duration = .seconds(60)

    public init() {}

    /// Checks what the operator gave; the message names the flag.
    public func validate() throws(ClickHouseError) {
        guard !urls.isEmpty else { throw ClickHouseError(message: "--clickhouse-url needs at least one http://host:port") }
        for u in urls {
            guard let url = URL(string: u), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ClickHouseError(message: "--clickhouse-url: \(u) is not an http(s)://host:port address")
            }
        }
        guard SQL.isIdentifier(database) else {
            throw ClickHouseError(message: "--clickhouse-database must be letters, digits and _, got \(database)")
        }
        if let cluster, !SQL.isIdentifier(cluster) {
            throw ClickHouseError(message: "--clickhouse-cluster must be letters, digits and _, got \(cluster)")
        }
        guard batchSpans > 0 else { throw ClickHouseError(message: "ClickHouse batch size must be positive") }
    }
}

/// A failure from ClickHouse or on the way to it. Unreachable servers, timeouts and overload
/// are retryable (receivers answer 503 and senders try again); a refused statement is not.
public struct ClickHouseError: Error, CustomStringConvertible, RetryableError {
    public var message: String
    /// ClickHouse's error code (`Code: N` in its answer), when it answered.
    public var code: Int?
    public var isRetryable: Bool

    public init(message: String, code: Int? = nil, isRetryable: Bool = false) {
        self.message = message
        self.code = code
        self.isRetryable = isRetryable
    }

    public var description: String { "ClickHouse: \(message)" }

    /// Codes that mean "try later": too many parts or queries, memory, timeouts, a replica or
    /// shard down.
    static let retryableCodes: Set<Int> = [3, 159, 160, 164, 202, 209, 210, 241, 252, 279, 285, 319, 999]
}

/// ClickHouse's HTTP interface: statements in, RowBinary out. Tries each URL in turn when one
/// cannot be reached.
public final class ClickHouseClient: Sendable {
    public let options: ClickHouseOptions
    let http: HTTPClient
    let authorization: String

    public init(options: ClickHouseOptions) {
        self.options = options
        http = Self.http
        authorization = "Basic " + Data("\(options.user):\(options.password)".utf8).base64EncodedString()
    }

    /// One client for the process: its pool serves every store and is never shut down, so a
    /// store can be dropped anywhere (a failed start, a test) without leaking or trapping. A
    /// ClickHouse that refuses connections fails the request at once (the next URL is tried,
    /// senders get 503) instead of being retried until the request's deadline.
    static let http: HTTPClient = {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(3))
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }()

    /// Runs a statement that answers nothing (DDL, ALTER).
    public func execute(_ sql: String) async throws(ClickHouseError) {
        _ = try await send(sql: sql, body: nil)
    }

    /// Runs a statement on every URL: on a cluster, what each shard must do itself (its
    /// `_local` tables' DDL, deletions, dropped partitions). Done per node rather than
    /// `ON CLUSTER`, which needs ZooKeeper that a cluster of plain shards does not have.
    public func executeOnEach(_ sql: String) async throws(ClickHouseError) {
        for url in options.urls { _ = try await send(sql: sql, body: nil, urls: [url]) }
    }

    /// Runs a SELECT and returns its rows in RowBinary (the statement must not name a format).
    public func select(_ sql: String) async throws(ClickHouseError) -> [UInt8] {
        try await send(sql: sql + "\nFORMAT RowBinary", body: nil)
    }

    /// A SELECT on each URL in turn (what one node's system tables say), answers in URL order.
    public func selectOnEach(_ sql: String) async throws(ClickHouseError) -> [[UInt8]] {
        var out = [[UInt8]]()
        for url in options.urls { out.append(try await send(sql: sql + "\nFORMAT RowBinary", body: nil, urls: [url])) }
        return out
    }

    /// Inserts RowBinary rows into `table` (`columns` in the order the rows hold them).
    public func insert(_ table: String, columns: [String], rows: [UInt8]) async throws(ClickHouseError) {
        let sql = "INSERT INTO \(options.database).\(table) (\(columns.joined(separator: ", "))) FORMAT RowBinary"
        _ = try await send(sql: sql, body: rows)
    }

    /// Settings of every request: on a cluster, an insert into a Distributed table returns only
    /// once every shard has its rows (not when they are queued on this node's disk).
    var settings: [URLQueryItem] {
        options.cluster == nil ? [] : [URLQueryItem(name: "insert_distributed_sync", value: "1")]
    }

    /// Sends `sql` (in the URL when a body carries rows, else as the body) to the first URL that
    /// answers.
    func send(sql: String, body: [UInt8]?, urls: [String]? = nil) async throws(ClickHouseError) -> [UInt8] {
        var lastError = ClickHouseError(message: "no ClickHouse URL", isRetryable: true)
        for url in urls ?? options.urls {
            var components = URLComponents(string: url)!
            var query = settings
            if body != nil { query.append(URLQueryItem(name: "query", value: sql)) }
            components.queryItems = query.isEmpty ? nil : query
            var request = HTTPClientRequest(url: components.string!)
            request.method = .POST
            request.headers.add(name: "Authorization", value: authorization)
            request.body = .bytes(ByteBuffer(bytes: body ?? Array(sql.utf8)))
            do {
                let response = try await http.execute(request, timeout: .nanoseconds(options.timeout.nanoseconds))
                let data = try await response.body.collect(upTo: 1 << 30)
                let bytes = Array(data.readableBytesView)
                if response.status == .ok { return bytes }
                throw Self.refusal(status: response.status, text: String(decoding: bytes.prefix(2000), as: UTF8.self))
            } catch let e as ClickHouseError {
                // ClickHouse answered: another replica would answer alike, unless it is overloaded.
                if !e.isRetryable { throw e }
                lastError = e
            } catch {
                lastError = ClickHouseError(message: "\(url) cannot be reached: \(error)", isRetryable: true)
            }
        }
        throw lastError
    }

    static func refusal(status: HTTPResponseStatus, text: String) -> ClickHouseError {
        // "Code: 60, e.displayText() = DB::Exception: Table ... doesn't exist, e.what() = DB::Exception"
        var code: Int?
        if text.hasPrefix("Code: "), let comma = text.firstIndex(of: ",") {
            code = Int(text[text.index(text.startIndex, offsetBy: 6)..<comma])
        }
        let message = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let retryable =
            status == .serviceUnavailable || status == .tooManyRequests || code.map { ClickHouseError.retryableCodes.contains($0) } ?? false
        return ClickHouseError(message: message, code: code, isRetryable: retryable)
    }
}
