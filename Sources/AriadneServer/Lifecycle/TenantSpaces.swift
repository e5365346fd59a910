import AriadneClickHouse
import AriadneEngine
import AriadnePipeline
import AriadneQuery
import AriadneStorage
import Foundation
import Synchronization

/// A tenant as named by credentials and `X-Scope-OrgID`, and as it appears in directory and
/// database names.
enum TenantName {
    /// The tenant of a request that names none (no `auth`, no trusted header): today's store.
    static let `default` = "default"

    /// Why `name` cannot be a tenant (nil: it can): 1 to 64 printable ASCII characters, no spaces.
    static func problem(_ name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else { return "a tenant name has 1 to 64 characters" }
        guard name.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            return "a tenant name has printable ASCII characters only, no spaces"
        }
        return nil
    }

    /// `name` for a path or a database name: lowercase letters and digits kept, every other byte
    /// `_` and two hex digits; different tenants never share one.
    static func encode(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            if (0x61...0x7a).contains(b) || (0x30...0x39).contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "_" + b.twoHexDigits(uppercase: false)
            }
        }
        return out
    }

    /// The tenant an ``encode(_:)`` result names; nil for a name it could not have made.
    static func decode(_ s: String) -> String? {
        var bytes = [UInt8]()
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "_") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        let name = String(decoding: bytes, as: UTF8.self)
        return encode(name) == s ? name : nil
    }
}

extension UInt8 {
    /// Two hex digits, as in names on disk and percent-encoding.
    func twoHexDigits(uppercase: Bool) -> String {
        let digits = String(self, radix: 16, uppercase: uppercase)
        return self < 16 ? "0" + digits : digits
    }
}

/// One tenant's share of a node: its store, RED metrics and alerts, pipeline and query service.
/// Nothing in one is reachable from another's, so that no answer crosses tenants.
final class TenantSpace: Sendable {
    let tenant: String
    let store: any TraceStore
    let engine: EngineStore?
    let clickhouse: ClickHouseStore?
    let analytics: Analytics
    let pipeline: Pipeline
    let queries: TraceQueryService

    init(
        tenant: String, store: any TraceStore, engine: EngineStore?, clickhouse: ClickHouseStore?, analytics: Analytics,
        pipeline: Pipeline, queries: TraceQueryService
    ) {
        self.tenant = tenant
        self.store = store
        self.engine = engine
        self.clickhouse = clickhouse
        self.analytics = analytics
        self.pipeline = pipeline
        self.queries = queries
    }
}

/// The node's tenant spaces, each opened the first time its tenant writes or reads (and, for
/// the engine, at start for every tenant directory on disk), then kept.
final class TenantSpaces: Sendable {
    typealias Opener = @Sendable (String) async throws -> TenantSpace
    private let opener: Opener
    private let opening = Mutex<[String: Task<TenantSpace, any Error>]>([:])
    private let opened = Mutex<(list: [TenantSpace], byName: [String: TenantSpace])>(([], [:]))
    private let added: AsyncStream<TenantSpace>
    private let addedContinuation: AsyncStream<TenantSpace>.Continuation

    init(opener: @escaping Opener) {
        self.opener = opener
        (added, addedContinuation) = AsyncStream.makeStream()
    }

    /// The tenant's space, opened if it is not yet; a failure to open (ClickHouse away) is
    /// thrown and the next call tries again.
    func space(_ tenant: String) async throws -> TenantSpace {
        if let s = opened.withLock({ $0.byName[tenant] }) { return s }
        let task = opening.withLock { tasks in
            if let t = tasks[tenant] { return t }
            let t = Task { [self] in
                let s = try await opener(tenant)
                opened.withLock {
                    $0.list.append(s)
                    $0.byName[tenant] = s
                }
                addedContinuation.yield(s)
                return s
            }
            tasks[tenant] = t
            return t
        }
        do {
            return try await task.value
        } catch {
            opening.withLock { tasks in
                if tasks[tenant] == task { tasks[tenant] = nil }
            }
            throw error
        }
    }

    /// Every space opened so far, the default tenant's first.
    var all: [TenantSpace] { opened.withLock { $0.list } }

    /// Runs each space's processors (tail-sampling timers) as it opens, until cancelled; then
    /// every pipeline decides what it holds.
    func runPipelines() async {
        await withDiscardingTaskGroup { group in
            for await space in added {
                group.addTask { await space.pipeline.run() }
            }
        }
    }
}
