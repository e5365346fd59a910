import AriadneClickHouse
import AriadneModel
import AriadneStorage
import AriadneTesting
import AriadneWorkload
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

/// The same spans in ClickHouse and in the in-memory store answer every search alike: exact
/// translations, widened ones checked by the matcher, and most-recent searches that read only
/// the newest candidates.
@Suite(.serialized) struct ClickHouseAnswersAsTheEngine {
    @Test func realisticSpansAnswerEverySearchAsTheMemoryStore() async throws {
        let store = try await freshStore("differential")
        let memory = InMemoryStore()
        var workload = Workload(seed: 7, profile: .realistic)
        let t0: UInt64 = 1_700_000_000_000_000_000
        var users = Set<String>()
        for k in 0..<6 {
            let batch = workload.batch(spans: 1_500, start: t0 + UInt64(k) * 60_000_000_000)
            for i in 0..<batch.count {
                for a in batch.spanAttributes[batch.attributeRanges[i].indices] where batch.equals(a.key, "user.id") {
                    if case .string(let r) = a.value, users.count < 3 { users.insert(batch.string(r)) }
                }
            }
            try await store.write(batch)
            memory.insert(batch)
        }
        let services = try await memory.services()
        #expect(try await store.services() == services)
        var queries = [TraceQuery]()
        for s in services.prefix(4) {
            queries.append(TraceQuery(service: s, limit: 7))
            queries.append(TraceQuery(service: s, durationMin: 20_000_000, order: .longest, limit: 5))
            queries.append(TraceQuery(service: s, traceDurationMin: 50_000_000, limit: 5))
            #expect(try await store.operations(service: s, kind: nil) == memory.operations(service: s, kind: nil))
        }
        for u in users { queries.append(TraceQuery(tags: ["user.id": u], limit: 50)) }
        queries.append(TraceQuery(tags: ["error": "true"], limit: 10))
        queries.append(TraceQuery(tags: ["http.response.status_code": "500"], limit: 10))
        for text in [
            #"span.http.response.status_code >= 500"#, #"span.db.system = "redis" && duration > 1ms"#,
            #"name =~ "GET.*" && kind = client"#, #"resource.host.name =~ ".*-a.*" || status = error"#,
            #".cache.hit = false"#, #"span.user.id != nil && service != "frontend""#, #"event.exception.type = "UpstreamError""#,
        ] {
            let parsed = try FilterParser.parse(text)
            queries.append(TraceQuery(filter: parsed.filter, limit: 15))
        }
        var answered = 0
        for q in queries {
            let want = try await memory.findTraceIDs(q)
            let got = try await store.findTraceIDs(q)
            #expect(got == want, "\(q)")
            if !want.isEmpty { answered += 1 }
        }
        // The searches are chosen to find something: an empty answer everywhere proves little.
        #expect(answered >= queries.count * 3 / 4, "only \(answered) of \(queries.count) searches found traces")
        let some = try await memory.findTraceIDs(TraceQuery(limit: 30))
        #expect(try await store.summaries(some) == memory.summaries(some))
        let window = t0...(t0 + 400_000_000_000)
        #expect(try await store.dependencies(window: window, step: nil) == memory.dependencies(window: window, step: nil))
    }

    /// Long traces whose matching spans are recent but whose starts are old come first by their
    /// newest match; ranked by start they lose to short recent traces, which the search must
    /// still find by reading past the first candidates.
    @Test func mostRecentBySearchIsByTraceStartNotByNewestMatch() async throws {
        let store = try await freshStore("newest")
        let memory = InMemoryStore()
        let t0: UInt64 = 1_700_000_000_000_000_000
        var batch = SpanBatch()
        for k in 0..<600 {
            let long = k < 300
            var b = TraceBuilder(traceID: TraceID(high: 3, low: UInt64(k + 1)), start: t0 + (long ? 0 : 5_000_000) + UInt64(k))
            let root = b.span("root", service: "svc", at: 0, duration: long ? 20_000_000 : 100)
            b.span("match", service: "svc", parent: root, at: long ? 10_000_000 : 10, duration: 10)
            batch.append(contentsOf: b.batch)
        }
        try await store.write(batch)
        memory.insert(batch)
        let q = TraceQuery(operation: "match", limit: 5)
        let want = try await memory.findTraceIDs(q)
        #expect(want.allSatisfy { $0.low > 300 })
        #expect(try await store.findTraceIDs(q) == want)
    }
}
