import AriadneClickHouse
import AriadneModel
import AriadneStorage
import AriadneTesting
import Testing

/// A store in a database of its own on the shared test server, with short insert batching so
/// that tests do not wait a second per write.
func freshStore(_ name: String) async throws -> ClickHouseStore {
    let server = try ClickHouseTestServer.shared()
    var options = ClickHouseOptions()
    options.urls = [server.url]
    options.database = "t_\(name)_\(UInt32.random(in: 0...UInt32.max))"
    options.batchInterval = .milliseconds(5)
    let store = try ClickHouseStore(options: options)
    try await store.migrate()
    return store
}

@Suite(.serialized) struct ClickHouseStoreConformance {
    @Test(arguments: StorageConformance.cases)
    func conformance(_ check: StorageConformance.Case) async throws {
        let store = try await freshStore("conformance")
        try await check.run(store)
        try await store.client.execute("DROP DATABASE \(store.schema.database)")
    }
}

@Suite(.serialized) struct ClickHouseSchema {
    @Test func migrationsAreAppliedOnceAndAreSafeToRepeat() async throws {
        let store = try await freshStore("migrate")
        // The first migrate (in freshStore) applied everything; again, and twice at once, nothing.
        async let a = store.migrate()
        async let b = store.migrate()
        let (first, second) = try await (a, b)
        #expect(first == [] && second == [])
        var r = RowBinaryReader(try await store.client.select("SELECT count() FROM \(store.schema.database).schema_migrations FINAL"))
        #expect(try r.uint64() == UInt64(store.schema.migrations.count))
    }

    @Test func aBatchWrittenTwiceIsReadOnceEvenAfterMerges() async throws {
        let store = try await freshStore("dedup")
        var b = TraceBuilder(traceID: TraceID(high: 7, low: 7), start: 1_700_000_000_000_000_000)
        let root = b.span("GET /", service: "web", kind: .server, at: 0, duration: 1_000)
        b.span("SELECT", service: "db", kind: .client, parent: root, at: 10, duration: 500)
        try await store.write(b.batch)
        try await store.write(b.batch)
        #expect(try await store.trace(id: b.batch.traceIDs[0], window: nil)?.count == 2)
        #expect(try await store.summaries([b.batch.traceIDs[0]]).first?.spanCount == 2)
        for t in ["spans", "traces"] { try await store.client.execute("OPTIMIZE TABLE \(store.schema.database).\(t) FINAL") }
        var r = RowBinaryReader(try await store.client.select("SELECT count() FROM \(store.schema.database).traces"))
        #expect(try r.uint64() == 2)
        #expect(try await store.trace(id: b.batch.traceIDs[0], window: nil)?.count == 2)
    }

    @Test func deletedTracesAreGoneFromEveryTable() async throws {
        let store = try await freshStore("delete")
        var keep = TraceBuilder(traceID: TraceID(high: 1, low: 1), start: 1_700_000_000_000_000_000)
        keep.span("a", service: "svc", at: 0, duration: 10, attributes: [KeyValue("user.id", "u-1")])
        var gone = TraceBuilder(traceID: TraceID(high: 1, low: 2), start: 1_700_000_000_000_000_000)
        gone.span("a", service: "svc", at: 0, duration: 10, attributes: [KeyValue("user.id", "u-2")])
        try await store.write(keep.batch)
        try await store.write(gone.batch)
        let deleted = try await store.delete(matching: TraceQuery(tags: ["user.id": "u-2"]), ids: [TraceID(high: 9, low: 9)])
        #expect(deleted == [gone.batch.traceIDs[0]])
        #expect(try await store.trace(id: gone.batch.traceIDs[0], window: nil) == nil)
        #expect(try await store.trace(id: keep.batch.traceIDs[0], window: nil)?.count == 1)
        for (t, condition) in [("spans", "trace_key = 2"), ("traces", "trace_id = unhex('00000000000000010000000000000002')")] {
            var r = RowBinaryReader(try await store.client.select("SELECT count() FROM \(store.schema.database).\(t) WHERE \(condition)"))
            #expect(try r.uint64() == 0, "rows of the deleted trace left in \(t)")
        }
    }

    @Test func retentionDropsWholeDays() async throws {
        let store = try await freshStore("retention")
        let day: UInt64 = 86_400_000_000_000
        let t0: UInt64 = 1_700_000_000_000_000_000 / day * day
        for (k, start) in [t0, t0 + day, t0 + 2 * day].enumerated() {
            var b = TraceBuilder(traceID: TraceID(high: 2, low: UInt64(k + 1)), start: start + 1_000)
            b.span("op", service: "svc", at: 0, duration: 10)
            try await store.write(b.batch)
        }
        let dropped = try await store.applyRetention(olderThan: t0 + day + 5)
        #expect(dropped == ["2023-11-14"])
        #expect(try await store.trace(id: TraceID(high: 2, low: 1), window: nil) == nil)
        #expect(try await store.trace(id: TraceID(high: 2, low: 2), window: nil) != nil)
    }
}

@Suite struct SQLLiterals {
    static let hostile = [
        "plain", "it's", "back\\slash", "'; DROP TABLE spans; --", "\u{0}nul", "new\nline\ttab\r", "€ multi-byte ✓ 日本",
        "\\'", "''", "\\x41", "emoji 🧵", String(repeating: "'", count: 100),
    ]

    @Test func literalsQuoteEveryByteOutsidePrintableASCII() {
        #expect(SQL.string("it's") == "'it\\'s'")
        #expect(SQL.string("a\\b") == "'a\\\\b'")
        #expect(SQL.string("\u{0}") == "'\\x00'")
        #expect(SQL.string("é") == "'\\xc3\\xa9'")
        for s in Self.hostile { #expect(SQL.string(s).utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }) }
    }

    @Test func clickHouseReadsEachLiteralBackByteForByte() async throws {
        let server = try ClickHouseTestServer.shared()
        var options = ClickHouseOptions()
        options.urls = [server.url]
        let client = ClickHouseClient(options: options)
        for s in Self.hostile {
            var r = RowBinaryReader(try await client.select("SELECT \(SQL.string(s))"))
            #expect(try r.string() == s)
        }
    }

    @Test func operatorNamesAreIdentifiersOnly() {
        #expect(SQL.isIdentifier("ariadne_2"))
        for bad in ["", "1abc", "a-b", "a.b", "a b", "a;DROP", "ä"] { #expect(!SQL.isIdentifier(bad)) }
    }
}
