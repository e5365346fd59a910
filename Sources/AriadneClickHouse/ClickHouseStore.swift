public import AriadneModel
public import AriadneStorage
import AriadneWire
import Foundation

/// Spans in ClickHouse: the store of a cluster, shared by every ingester and query node.
///
/// Writes are gathered into inserts of at least `batchSpans` rows (or what arrived within
/// `batchInterval`), and each write returns only once ClickHouse has answered for the insert
/// that holds it. Reads translate searches to SQL (``SearchSQL``) and rebuild spans from the
/// records kept whole in `traces`.
public final class ClickHouseStore: TraceStore, TraceDeleter {
    public let client: ClickHouseClient
    public let schema: Schema
    let queue: InsertQueue

    public init(options: ClickHouseOptions) throws(ClickHouseError) {
        try options.validate()
        client = ClickHouseClient(options: options)
        schema = Schema(database: options.database, cluster: options.cluster)
        queue = InsertQueue(client: client, maxSpans: options.batchSpans, interval: options.batchInterval)
    }

    /// Creates or brings the schema up to date: migrations not yet recorded are applied in order
    /// and recorded. Safe when several nodes start at once (every statement is idempotent).
    /// Returns the versions applied now.
    @discardableResult
    public func migrate() async throws(ClickHouseError) -> [Int] {
        for statement in schema.migrationsTable { try await ddl(statement) }
        var applied = Set<Int>()
        var r = RowBinaryReader(try await client.select("SELECT DISTINCT version FROM \(schema.database).schema_migrations"))
        do { while !r.isAtEnd { applied.insert(Int(try r.uint32())) } } catch {
            throw ClickHouseError(message: "schema_migrations: \(error)")
        }
        var now = [Int]()
        // On a cluster every migration runs again (each statement is idempotent): a shard added
        // to the list since gets the tables the others have.
        for m in schema.migrations where schema.cluster != nil || !applied.contains(m.version) {
            for statement in m.statements { try await ddl(statement) }
            if applied.contains(m.version) { continue }
            let at = UInt64(Date().timeIntervalSince1970)
            try await ddl(
                "INSERT INTO \(schema.database).schema_migrations (version, description, applied_at) VALUES (\(m.version), \(SQL.string(m.description)), \(at))"
            )
            now.append(m.version)
        }
        return now
    }

    /// Whether ClickHouse answers (a readiness check).
    public func ping() async throws(ClickHouseError) { _ = try await client.select("SELECT 1") }

    /// A statement every node must run on a cluster (see ``ClickHouseClient/executeOnEach(_:)``).
    func ddl(_ sql: String) async throws(ClickHouseError) {
        if schema.cluster == nil { try await client.execute(sql) } else { try await client.executeOnEach(sql) }
    }

    // MARK: Writing

    public func write(_ batch: SpanBatch) async throws {
        guard !batch.isEmpty else { return }
        var rows = SpanRows()
        rows.append(batch)
        try await queue.add(rows)
    }

    // MARK: Reading

    public func services() async throws -> [String] {
        var r = RowBinaryReader(try await client.select("SELECT DISTINCT service FROM \(schema.table("operations")) ORDER BY service"))
        var out = [String]()
        while !r.isAtEnd { out.append(try r.string()) }
        return out
    }

    public func operations(service: String, kind: SpanKind?) async throws -> [SpanOperation] {
        var sql = "SELECT DISTINCT name, kind FROM \(schema.table("operations")) WHERE service = \(SQL.string(service))"
        if let kind { sql += " AND kind = \(kind.rawValue)" }
        var r = RowBinaryReader(try await client.select(sql))
        var out = [SpanOperation]()
        while !r.isAtEnd { out.append(SpanOperation(name: try r.string(), kind: SpanKind(rawValue: Int32(try r.int8())))) }
        return out.sorted()
    }

    public func trace(id: TraceID, window: ClosedRange<UInt64>?) async throws -> SpanBatch? {
        guard let trace = try await traces([id]).first else { return nil }
        if let window, !trace.startTimes.contains(where: window.contains) { return nil }
        return trace
    }

    public func traces(_ ids: [TraceID]) async throws -> [SpanBatch] {
        guard !ids.isEmpty else { return [] }
        var byTrace = [TraceID: SpanBatch]()
        for chunk in Self.chunks(ids) {
            try Task.checkCancellation()
            let sql = """
                SELECT trace_id, span_id, span_hash, parent_span_id, name, kind, start, end, span
                FROM \(schema.table("traces")) WHERE \(Self.traceCondition(chunk))
                """
            var r = RowBinaryReader(try await client.select(sql))
            var seen = Set<SpanKey>()
            var rejections = [SpanRejection]()
            while !r.isAtEnd {
                let traceID = try r.traceID()
                let key = SpanKey(trace: traceID, span: try r.spanID(), hash: try r.uint32())
                let parent = try r.spanID()
                let name = try r.bytes()
                let kind = SpanKind(rawValue: Int32(try r.int8()))
                let start = try r.uint64()
                let end = try r.uint64()
                let record = try r.bytes()
                // A copy not merged away yet (a retried or redelivered write).
                guard seen.insert(key).inserted else { continue }
                var batch = byTrace[traceID] ?? SpanBatch()
                try record.withUnsafeBytes { try OTLPProtobuf.decodeExportRequest($0, into: &batch, rejections: &rejections) }
                // The record left out what the columns hold (it decodes with empty ids): put it back.
                let k = batch.count - 1
                guard k >= 0 else { throw ClickHouseError(message: "a span record in traces decodes to no span") }
                batch.traceIDs[k] = traceID
                batch.spanIDs[k] = key.span
                batch.parentSpanIDs[k] = parent
                batch.names[k] = name.withUnsafeBytes { batch.appendBytes($0) }
                batch.kinds[k] = kind
                batch.startTimes[k] = start
                batch.endTimes[k] = end
                byTrace[traceID] = batch
            }
        }
        return ids.compactMap { byTrace[$0] }
    }

    public func findTraceIDs(matching matcher: SpanMatcher) async throws -> [TraceID] {
        let query = matcher.query
        guard query.limit > 0 else { return [] }
        let search = try SearchSQL(query)
        if search.exact { return try await rankedTraces(search, query, limit: query.limit, offset: 0).map(\.0) }
        // Widened: candidates in rank order, each checked with the matcher, page by page.
        var out = [TraceID]()
        let page = max(100, query.limit * 4)
        var offset = 0
        while out.count < query.limit {
            try Task.checkCancellation()
            let candidates = try await rankedTraces(search, query, limit: page, offset: offset)
            for trace in try await traces(candidates.map(\.0)) where matcher.matchesAny(trace) {
                out.append(trace.traceIDs[0])
                if out.count == query.limit { break }
            }
            if candidates.count < page { break }
            offset += page
        }
        return out
    }

    /// Traces with a span meeting `search`, with their whole bounds (from every span of the
    /// trace), meeting the trace-duration bounds, in the query's order.
    func rankedTraces(_ search: SearchSQL, _ query: TraceQuery, limit: Int, offset: Int) async throws -> [(TraceID, TraceBounds)] {
        if query.order == .mostRecent, offset == 0, let found = try await newestTraces(search, query, limit: limit) { return found }
        // Both tables are sharded by trace key, so on a cluster each shard answers the subquery
        // from its own rows (the `_local` table). A trace sharing its key with a matching one
        // (two ids alike in their low 64 bits) would be listed too: for random ids, never.
        return try await bounds(
            of: "(SELECT trace_key FROM \(schema.local("spans")) WHERE \(search.condition))", query, limit: limit, offset: offset)
    }

    /// The most recent traces without reading every match: the `k` traces with the newest
    /// matching spans are ranked by their start. A trace left out starts no later than its
    /// newest matching span, so no later than the k-th candidate's; when the last trace of the
    /// answer starts after that, the answer is exact. Otherwise `k` grows; nil when it
    /// would outgrow a literal list (the caller then reads every match).
    func newestTraces(_ search: SearchSQL, _ query: TraceQuery, limit: Int) async throws -> [(TraceID, TraceBounds)]? {
        // A search for every match (deletion asks with no limit) reads them all anyway.
        guard limit <= 2048 else { return nil }
        var k = max(limit * 4, 256)
        while k <= 8192 {
            let sql = """
                SELECT trace_key, max(start) AS newest FROM \(schema.table("spans")) WHERE \(search.condition)
                GROUP BY trace_key ORDER BY newest DESC LIMIT \(k)
                """
            var r = RowBinaryReader(try await client.select(sql))
            var keys = [UInt64]()
            var kth: UInt64 = 0
            while !r.isAtEnd {
                keys.append(try r.uint64())
                kth = try r.uint64()
            }
            guard !keys.isEmpty else { return [] }
            let found = try await bounds(of: SQL.list(keys.map { SQL.number($0) }), query, limit: limit, offset: 0)
            if keys.count < k || (found.count == limit && found.last!.1.start > kth) { return found }
            k *= 4
        }
        return nil
    }

    /// Bounds of the traces whose key is in `keys` (a subquery or a literal list), ranked.
    func bounds(of keys: String, _ query: TraceQuery, limit: Int, offset: Int) async throws -> [(TraceID, TraceBounds)] {
        var having = [String]()
        if let m = query.traceDurationMin { having.append("e - s >= \(m)") }
        if let m = query.traceDurationMax { having.append("e - s <= \(m)") }
        let order = query.order == .mostRecent ? "s DESC, trace_id" : "(e - s) DESC, trace_id"
        let sql = """
            SELECT trace_id, min(start) AS s, if(max(end) > min(start), max(end), min(start)) AS e
            FROM \(schema.table("traces"))
            WHERE trace_key IN \(keys)
            GROUP BY trace_id
            \(having.isEmpty ? "" : "HAVING " + having.joined(separator: " AND "))
            ORDER BY \(order)
            LIMIT \(offset), \(limit)
            """
        var r = RowBinaryReader(try await client.select(sql))
        var out = [(TraceID, TraceBounds)]()
        while !r.isAtEnd { out.append((try r.traceID(), TraceBounds(start: try r.uint64(), end: try r.uint64()))) }
        return out
    }

    public func summaries(_ ids: [TraceID]) async throws -> [TraceSummary] {
        guard !ids.isEmpty else { return [] }
        var byTrace = [TraceID: [SummaryRow]]()
        for chunk in Self.chunks(ids) {
            let sql = """
                SELECT trace_id, span_id, span_hash, parent_span_id, service, name, start, end, status
                FROM \(schema.table("traces")) WHERE \(Self.traceCondition(chunk))
                """
            var r = RowBinaryReader(try await client.select(sql))
            var seen = Set<SpanKey>()
            while !r.isAtEnd {
                let traceID = try r.traceID()
                let key = SpanKey(trace: traceID, span: try r.spanID(), hash: try r.uint32())
                let row = SummaryRow(
                    spanID: key.span, parent: try r.spanID(), service: try r.string(), name: try r.string(), start: try r.uint64(),
                    end: try r.uint64(), isError: try r.int8() == Int8(StatusCode.error.rawValue))
                if seen.insert(key).inserted { byTrace[traceID, default: []].append(row) }
            }
        }
        return ids.compactMap { id in byTrace[id].map { SummaryRow.summary(id, $0) } }
    }

    public func dependencies(window: ClosedRange<UInt64>, step: UInt64?) async throws -> [DependencyLink] {
        let sql = """
            SELECT trace_id, span_id, parent_span_id, link_span_id, service, kind, start, if(end > start, end - start, 0), status,
                peer_name, peer_type
            FROM \(schema.table("traces"))
            WHERE day >= \(SearchSQL.date(window.lowerBound)) AND day <= \(SearchSQL.date(window.upperBound))
              AND start >= \(window.lowerBound) AND start <= \(window.upperBound)
            """
        var r = RowBinaryReader(try await client.select(sql))
        var counter = DependencyCounter(window: window, step: step)
        var n = 0
        while !r.isAtEnd {
            n += 1
            if n % 65_536 == 0 { try Task.checkCancellation() }
            let traceID = try r.traceID()
            let spanID = try r.spanID()
            let parent = try r.spanID()
            let linked = try r.spanID()
            let service = try r.string()
            let kind = SpanKind(rawValue: Int32(try r.int8()))
            let start = try r.uint64()
            let duration = try r.uint64()
            let isError = try r.int8() == Int8(StatusCode.error.rawValue)
            let peerName = try r.string()
            let peerType = try r.string()
            counter.add(
                traceID: traceID, spanID: spanID, parent: parent, linked: linked, service: service, kind: kind, start: start,
                duration: duration, isError: isError, peer: peerName.isEmpty ? nil : (peerName, peerType))
        }
        return counter.links()
    }

    // MARK: Deleting and retention

    public func delete(matching query: TraceQuery?, ids: [TraceID]) async throws -> [TraceID] {
        var all = ids
        if var query {
            query.limit = Int.max
            all += try await findTraceIDs(query)
        }
        // Only traces that exist are reported deleted, as the engine reports them.
        let existing = Set(try await summaries(Array(Set(all))).map(\.traceID))
        let deleted = Array(Set(all).intersection(existing)).sorted()
        for chunk in Self.chunks(deleted) {
            // Search rows go by key: a trace sharing the low half of its id (never, for random
            // ids) would lose its search rows with these.
            try await ddl("ALTER TABLE \(schema.local("spans")) DELETE WHERE trace_key IN \(Self.keyList(chunk))")
            try await ddl("ALTER TABLE \(schema.local("traces")) DELETE WHERE \(Self.traceCondition(chunk))")
        }
        if !deleted.isEmpty { try await waitForMutations() }
        return deleted
    }

    /// Returns once ClickHouse has rewritten every part a deletion touches: the rows are then
    /// gone from the active parts (old parts are removed from disk after ClickHouse's
    /// `old_parts_lifetime`).
    func waitForMutations() async throws {
        let sql = "SELECT count() FROM system.mutations WHERE database = \(SQL.string(schema.database)) AND is_done = 0"
        for _ in 0..<6000 {
            var pending: UInt64 = 0
            for answer in try await client.selectOnEach(sql) {
                var r = RowBinaryReader(answer)
                pending += try r.uint64()
            }
            if pending == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClickHouseError(message: "a deletion is still being applied after 5 minutes", isRetryable: true)
    }

    /// Drops every day partition entirely older than `cutoff` (Unix ns) from every table;
    /// returns the days dropped.
    @discardableResult
    public func applyRetention(olderThan cutoff: UInt64) async throws -> [String] {
        let sql = """
            SELECT DISTINCT partition FROM system.parts
            WHERE database = \(SQL.string(schema.database)) AND active AND table IN \(SQL.list(schema.dataTableNames.map(SQL.string)))
            ORDER BY partition
            """
        var r = RowBinaryReader(try await client.select(sql))
        var days = [String]()
        while !r.isAtEnd { days.append(try r.string()) }
        let keep = CivilDate.day(ofNanoseconds: cutoff)
        let old = days.filter { $0 < keep && SearchSQL.isDay($0) }
        for day in old {
            for table in schema.dataTableNames {
                try await ddl("ALTER TABLE \(schema.database).\(table) DROP PARTITION \(SQL.string(day))")
            }
        }
        return old
    }

    // MARK: RED rollups

    /// One window's counts for one key, as a node wrote them.
    public struct RollupRow: Sendable, Equatable {
        public var window: UInt64
        public var service: String
        public var operation: String
        public var kind: SpanKind
        public var status: StatusCode
        public var sumMs: Double
        public var maxMs: Double
        public var buckets: [UInt32]

        public init(
            window: UInt64, service: String, operation: String, kind: SpanKind, status: StatusCode, sumMs: Double, maxMs: Double,
            buckets: [UInt32]
        ) {
            self.window = window
            self.service = service
            self.operation = operation
            self.kind = kind
            self.status = status
            self.sumMs = sumMs
            self.maxMs = maxMs
            self.buckets = buckets
        }
    }

    /// Appends `rows` counted by `node` (an id unique to the process), stamped with the time.
    public func appendRollups(_ rows: [RollupRow], node: String) async throws {
        guard !rows.isEmpty else { return }
        var w = RowBinaryWriter()
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        for r in rows {
            w.day(ofNanoseconds: r.window)
            w.uint64(r.window)
            w.string(r.service)
            w.string(r.operation)
            w.int8(Int8(clamping: r.kind.rawValue))
            w.int8(Int8(clamping: r.status.rawValue))
            w.float64(r.sumMs)
            w.float64(r.maxMs)
            w.varint(r.buckets.count)
            for b in r.buckets { w.uint32(b) }
            w.string(node)
            w.uint64(now)
        }
        let columns = ["day", "window", "service", "operation", "kind", "status", "sum_ms", "max_ms", "buckets", "node", "written_at"]
        try await client.insert("rollups", columns: columns, rows: w.out)
    }

    /// Rows for windows from `oldestWindow` written in `written` (Unix ns, inclusive) by nodes
    /// other than `excluding` (a node's own rows are already in its memory).
    public func rollups(oldestWindow: UInt64, written: ClosedRange<UInt64>, excluding node: String) async throws -> [RollupRow] {
        let sql = """
            SELECT window, service, operation, kind, status, sum_ms, max_ms, buckets FROM \(schema.table("rollups"))
            WHERE window >= \(oldestWindow) AND written_at >= \(written.lowerBound) AND written_at <= \(written.upperBound)
              AND node != \(SQL.string(node))
            """
        var r = RowBinaryReader(try await client.select(sql))
        var out = [RollupRow]()
        while !r.isAtEnd {
            let window = try r.uint64()
            let service = try r.string()
            let operation = try r.string()
            let kind = SpanKind(rawValue: Int32(try r.int8()))
            let status = StatusCode(rawValue: Int32(try r.int8()))
            let sum = Double(bitPattern: try r.uint64())
            let max = Double(bitPattern: try r.uint64())
            var buckets = [UInt32]()
            for _ in 0..<(try r.varint()) { buckets.append(try r.uint32()) }
            out.append(
                RollupRow(
                    window: window, service: service, operation: operation, kind: kind, status: status, sumMs: sum, maxMs: max, buckets: buckets))
        }
        return out
    }

    // MARK: Helpers

    struct SpanKey: Hashable {
        var trace: TraceID
        var span: SpanID
        var hash: UInt32
    }

    static func chunks<T>(_ items: [T], size: Int = 5_000) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }

    /// Rows of these traces in `traces`: by key (the primary index) and then by whole id.
    static func traceCondition(_ ids: ArraySlice<TraceID>) -> String {
        "trace_key IN \(keyList(ids)) AND trace_id IN \(idList(ids))"
    }

    static func keyList(_ ids: ArraySlice<TraceID>) -> String {
        SQL.list(Set(ids.map(\.low)).sorted().map { SQL.number($0) })
    }

    static func idList(_ ids: ArraySlice<TraceID>) -> String {
        var w = RowBinaryWriter()
        return SQL.list(
            ids.map { id in
                w.out.removeAll(keepingCapacity: true)
                w.traceID(id)
                return SQL.bytes(w.out)
            })
    }
}

/// The fields of a span a result list needs.
struct SummaryRow {
    var spanID: SpanID
    var parent: SpanID
    var service: String
    var name: String
    var start: UInt64
    var end: UInt64
    var isError: Bool

    /// As ``TraceSummary/init(of:)`` computes it from spans: the root is the earliest span whose
    /// parent is not in the trace.
    static func summary(_ id: TraceID, _ rows: [SummaryRow]) -> TraceSummary {
        let ids = Set(rows.map(\.spanID))
        var root: SummaryRow?
        for r in rows where !r.parent.isValid || !ids.contains(r.parent) {
            if root.map({ r.start < $0.start }) ?? true { root = r }
        }
        root = root ?? rows.first
        return TraceSummary(
            traceID: id, rootService: root?.service ?? "", rootName: root?.name ?? "", start: rows.map(\.start).min() ?? 0,
            end: rows.map(\.end).max() ?? 0, spanCount: rows.count, errorCount: rows.filter(\.isError).count,
            services: Set(rows.map(\.service)).sorted())
    }
}

extension SearchSQL {
    static func isDay(_ s: String) -> Bool {
        s.utf8.count == 10 && s.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") }
    }
}
