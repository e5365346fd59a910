import AriadneModel
import AriadneStorage
import AriadneTesting
import AriadneWorkload
import Foundation
import Testing

@testable import AriadneEngine

/// Block format 4: columnar chunks read back exactly what was written, older blocks stay
/// readable and compaction rewrites them in the new format.
@Suite struct BlockFormatTests {
    /// A trace that uses every corner of the span model: each value type (nested ones too),
    /// events, links, kinds and status codes outside the packed range, a parent outside the
    /// trace, a span id shared by two spans, an end before the start, flags and dropped counts,
    /// parent links in a circle, children before their parents, two resources.
    static func awkwardTrace() -> SpanBatch {
        var b = SpanBatch()
        let r = b.addResource(
            OwnedResource(
                attributes: [KeyValue("service.name", "odd"), KeyValue("weights", .array([.double(0.5), .int(-3), .array([.bool(true)])]))],
                droppedAttributesCount: 2, schemaURL: "https://opentelemetry.io/schemas/1.26.0"))
        let s = b.addScope(OwnedScope(name: "lib", version: "1.2", attributes: [KeyValue("x", .empty)], droppedAttributesCount: 1), resource: r)
        let trace = TraceID(high: 0xABCD, low: 42)
        let values: [AttributeValue] = [
            .empty, .string(""), .string("ü—unicode"), .bool(false), .bool(true), .int(.min), .int(.max), .double(-0.0), .double(.infinity),
            .bytes([0, 255, 7]), .kvlist([KeyValue("k", .kvlist([KeyValue("deep", .bytes([]))])), KeyValue("", .string("v"))]),
        ]
        b.append(
            Span(
                traceID: trace, spanID: SpanID(1), traceState: "a=b", name: "root", kind: SpanKind(rawValue: 9), startTime: 5_000, endTime: 4_000,
                attributes: values.enumerated().map { KeyValue("v\($0.offset % 4)", $0.element) }, droppedAttributesCount: 3,
                events: [
                    Span.Event(time: 4_500, name: "before the start", attributes: [KeyValue("e", .int(1))], droppedAttributesCount: 4),
                    Span.Event(time: 9_000, name: "exception"),
                ], droppedEventsCount: 5,
                links: [
                    Span.Link(
                        traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), traceState: "t=1", attributes: [KeyValue("l", "x")],
                        droppedAttributesCount: 6, flags: 0x301)
                ],
                droppedLinksCount: 7, statusCode: StatusCode(rawValue: 7), statusMessage: "odd status", flags: 0x301), scope: s)
        b.append(Span(traceID: trace, spanID: SpanID(2), parentSpanID: SpanID(99), name: "orphan", startTime: 1, endTime: 2), scope: s)
        b.append(Span(traceID: trace, spanID: SpanID(2), parentSpanID: SpanID(1), name: "same id", startTime: 3, endTime: 2_000_000), scope: s)
        // Scopes taken from parents: children before their parent, parents in another scope
        // (of another resource), and two spans that are each other's parent.
        let other = b.addScope(OwnedScope(name: "db"), resource: b.addResource(OwnedResource(service: "odd-db")))
        b.append(Span(traceID: trace, spanID: SpanID(20), parentSpanID: SpanID(21), name: "query", startTime: 6, endTime: 7), scope: other)
        b.append(Span(traceID: trace, spanID: SpanID(22), parentSpanID: SpanID(21), name: "back in lib", startTime: 6, endTime: 7), scope: s)
        b.append(Span(traceID: trace, spanID: SpanID(21), parentSpanID: SpanID(1), name: "connect", startTime: 5, endTime: 8), scope: other)
        b.append(Span(traceID: trace, spanID: SpanID(30), parentSpanID: SpanID(31), name: "circle a", startTime: 9, endTime: 9), scope: s)
        b.append(Span(traceID: trace, spanID: SpanID(31), parentSpanID: SpanID(30), name: "circle b", startTime: 9, endTime: 9), scope: s)
        return b
    }

    @Test func columnarChunksReadBackEverySpanAsWritten() throws {
        var w = Workload(seed: 11, profile: .realistic)
        let realistic = w.batch(spans: 3000, start: EngineDurability.t0)
        let traces = [Self.awkwardTrace()] + Set(realistic.traceIDs).sorted().map { realistic.spans(ofTrace: $0) }
        var writer = ColumnarChunkWriter()
        var tableWriter = ColumnarChunkWriter()
        for t in traces { _ = writer.add(trace: t, table: &tableWriter) }
        let section = writer.finish(level: 3)
        let table = try ColumnarChunkReader.ScopeTable(tableWriter.finish(level: 3))
        let reader = try ColumnarChunkReader(section, traceIDs: writer.traceIDs, table: table)
        #expect(reader.traceCount == traces.count && reader.spanCount == realistic.count + traces[0].count)
        for (k, t) in traces.enumerated() {
            let read = try reader.trace(k)
            // In the order written, not only as a set.
            #expect((0..<read.count).map { read.span(at: $0) } == (0..<t.count).map { t.span(at: $0) })
        }
        // The ids come from the block's index; a list that does not fit the chunk is refused.
        #expect(throws: EngineError.self) { try ColumnarChunkReader(section, traceIDs: Array(writer.traceIDs.dropLast()), table: table) }
        // Its resources and scopes are in the block's scope table, which it cannot be read without.
        #expect(throws: EngineError.self) { try ColumnarChunkReader(section, traceIDs: writer.traceIDs) }
        // Recompressing changes the bytes, not the spans.
        let recompressed = try ColumnarChunkReader(ColumnarChunk.recompress(section, level: 19), traceIDs: writer.traceIDs, table: table)
        #expect(try recompressed.trace(0).span(at: 0) == traces[0].span(at: 0))
    }

    @Test func damagedColumnsAreRefusedNotTrapped() throws {
        var w = Workload(seed: 12, profile: .realistic)
        let batch = w.batch(spans: 200, start: EngineDurability.t0)
        var writer = ColumnarChunkWriter()
        var tableWriter = ColumnarChunkWriter()
        for id in Set(batch.traceIDs).sorted() { _ = writer.add(trace: batch.spans(ofTrace: id), table: &tableWriter) }
        // Uncompressed, so that a flipped byte reaches the column parsers, not only zstd.
        let section = writer.finish(level: 3)
        let plain = try ColumnarChunk.recompress(section, level: nil)
        let tableSection = try ColumnarChunk.recompress(tableWriter.finish(level: 3), level: nil)
        var rng = SplitMix64(seed: 5)
        var refused = 0
        for round in 0..<400 {
            // Rounds 0 and 1 mod 4 damage the chunk, 2 and 3 the scope table.
            let original = round % 4 < 2 ? plain : tableSection
            var damaged = round % 2 == 0 ? original : Array(original.prefix(Int(rng.next() % UInt64(original.count))))
            if round % 2 == 0 {
                for _ in 0..<(1 + rng.next() % 4) { damaged[Int(rng.next() % UInt64(damaged.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            do {
                let table = try ColumnarChunkReader.ScopeTable(round % 4 < 2 ? tableSection : damaged)
                let r = try ColumnarChunkReader(round % 4 < 2 ? damaged : plain, traceIDs: writer.traceIDs, table: table)
                _ = try r.traces()
            } catch is EngineError {
                refused += 1
            }
        }
        #expect(refused > 100)
    }

    /// Blocks of earlier formats, each of 65 realistic spans written by the engine of its day
    /// (`ariadne-bench store --spans 60 --batch-spans 30 --concurrency 1 --no-compact`): version
    /// 3 (framed OTLP chunks), and version 4 with chunks of layout 1 (trace ids in the chunk,
    /// times as varints, every span's scope written).
    static let fixtures: [(file: String, version: UInt32)] = [("v3-realistic.blk", 3), ("v4-layout1-realistic.blk", 4)]

    @Test(arguments: fixtures)
    func blocksOfEarlierFormatsAreReadAndCompacted(file: String, version: UInt32) async throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + file).path
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/blocks", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: fixture, toPath: dir + "/blocks/" + file)
            let old = try BlockReader(path: dir + "/blocks/" + file)
            #expect(old.version == version && old.meta.spanCount == 65)
            var options = EngineOptions()
            options.recompressAfter = .seconds(0)
            let store = try EngineStore(directory: dir, options: options)
            let before = try await store.traces(Array(old.traceIDs))
            #expect(before.reduce(0) { $0 + $1.count } == 65)
            let services = try await store.services()
            #expect(services.contains("api-gateway"))
            #expect(try await store.compact() == 1)
            let blocks = try FileManager.default.contentsOfDirectory(atPath: dir + "/blocks").filter { $0.hasSuffix(".blk") }
            #expect(blocks.count == 1 && blocks[0] != file)
            #expect(try BlockReader(path: dir + "/blocks/" + blocks[0]).version == BlockFormat.version)
            let after = try await store.traces(Array(old.traceIDs))
            #expect(after.map(\.ownedSpansSortedByID) == before.map(\.ownedSpansSortedByID))
            #expect(try await store.services() == services)
            // A search still finds a trace by one of its high-cardinality values.
            let user = before[0].span(at: 0).attributes.first { $0.key == "user.id" }?.value.displayString
            if let user {
                let found = try await store.findTraceIDs(TraceQuery(filter: .compare(.attribute(.span, "user.id"), .eq, .string(user)), limit: 100))
                #expect(found.contains(before[0].traceIDs[0]))
            }
        }
    }

    /// Blocks answer searches as the in-memory store does, in both orders. A search on the
    /// service or the operation alone is answered from the term index without reading a chunk,
    /// for traces inside the window (traces the window cuts through are read); other searches
    /// read their candidates with only the attributes they look at (span, resource, event).
    @Test func blockSearchesMatchTheMemoryStore() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            let memory = InMemoryStore()
            var w = Workload(seed: 17, profile: .realistic)
            let t0 = EngineDurability.t0
            for k in 0..<4 {
                let batch = w.batch(spans: 2_500, start: t0 + UInt64(k) * 20_000_000_000)
                try await store.write(batch)
                memory.insert(batch)
                try await store.cut()
            }
            let services = try await memory.services()
            let operations = try await memory.operations(service: services[0], kind: nil).map(\.name)
            // Windows whose edges fall inside traces (a batch's traces start ~1 ms apart and
            // last several), as an hour of the UI's does.
            let windows: [(UInt64?, UInt64?)] = [
                (nil, nil), (t0 + 20_100_000_003, nil), (t0 + 20_100_000_003, t0 + 40_120_000_007), (nil, t0 + 60_050_000_000),
            ]
            var queries = [TraceQuery]()
            for (lo, hi) in windows {
                for s in services.prefix(5) {
                    queries.append(TraceQuery(service: s, startMin: lo, startMax: hi, limit: 25))
                    queries.append(TraceQuery(service: s, startMin: lo, startMax: hi, order: .longest, limit: 10))
                }
                for op in operations.prefix(3) { queries.append(TraceQuery(operation: op, startMin: lo, startMax: hi, limit: 1_000)) }
                queries.append(TraceQuery(service: services[1], tags: ["http.response.status_code": "200"], startMin: lo, startMax: hi, limit: 30))
                queries.append(TraceQuery(tags: ["error": "true"], startMin: lo, startMax: hi, limit: 1_000))
                for text in [
                    #"span.http.response.status_code >= 500 && service != "api-gateway""#, #"resource.host.name =~ "orders-.*" && kind = server"#,
                    #"event.exception.type != nil"#, #"span.db.system = "redis" && duration > 300us"#, #".cache.hit = false"#,
                ] {
                    queries.append(TraceQuery(filter: try FilterParser.parse(text).filter, startMin: lo, startMax: hi, order: .longest, limit: 40))
                }
            }
            var answered = 0
            for q in queries {
                let want = try await memory.findTraceIDs(q)
                #expect(try await store.findTraceIDs(q) == want, "\(q)")
                if !want.isEmpty { answered += 1 }
            }
            #expect(answered >= queries.count * 3 / 4, "only \(answered) of \(queries.count) searches found traces")
        }
    }

    /// Values found in one trace only are kept in per-chunk filters, not listed: searches by
    /// them (equality, regular expression, `!=`) still find exactly the traces that hold them.
    @Test func searchesByRareValuesFindExactlyTheirTraces() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 13, profile: .realistic)
            let batch = w.batch(spans: 12_000, start: EngineDurability.t0)
            try await store.write(batch)
            try await store.cut()
            let spans = (0..<batch.count).map { batch.span(at: $0) }
            func tracesWhere(_ key: String, _ test: (String) -> Bool) -> Set<TraceID> {
                Set(spans.filter { $0.attributes.contains { $0.key == key && test($0.value.displayString) } }.map(\.traceID))
            }
            func found(_ filter: SpanFilter) async throws -> Set<TraceID> {
                Set(try await store.findTraceIDs(TraceQuery(filter: filter, limit: 100_000)))
            }
            for k in stride(from: 0, to: spans.count, by: 997) {
                for key in ["request.id", "session.id", "user.id", "db.query.text"] {
                    guard let value = spans[k].attributes.first(where: { $0.key == key })?.value.displayString else { continue }
                    #expect(try await found(.compare(.attribute(.span, key), .eq, .string(value))) == tracesWhere(key) { $0 == value })
                }
            }
            // Rare numbers: equality (also written as a string, as a tag search does) and ranges.
            let sizes = spans.compactMap { s in s.attributes.first { $0.key == "http.response.body.size" }.map { (s.traceID, $0.value) } }
            for (_, size) in sizes.prefix(5) {
                guard case .int(let n) = size else { continue }
                let expected = Set(sizes.filter { $0.1 == size }.map(\.0))
                #expect(try await found(.compare(.attribute(.span, "http.response.body.size"), .eq, .int(n))) == expected)
                #expect(try await found(.compare(.attribute(.span, "http.response.body.size"), .eq, .string(String(n)))) == expected)
                #expect(try await found(.compare(.attribute(.span, "http.response.body.size"), .eq, .double(Double(n)))) == expected)
                let above = Set(sizes.filter { if case .int(let m) = $0.1 { return m > n } else { return false } }.map(\.0))
                #expect(try await found(.compare(.attribute(.span, "http.response.body.size"), .gt, .int(n))) == above)
            }
            // A value no span has finds nothing, whatever the filters' false positives let through.
            #expect(try await found(.compare(.attribute(.span, "request.id"), .eq, .string("0000000000000000"))).isEmpty)
            // Regular expressions match whole values.
            let prefix = spans.lazy.compactMap { $0.attributes.first { $0.key == "request.id" } }.first!.value.displayString.prefix(3)
            #expect(
                try await found(.compare(.attribute(.span, "request.id"), .regex, .string(prefix + ".*")))
                    == tracesWhere("request.id") { $0.hasPrefix(prefix) })
            let session = spans.lazy.compactMap { $0.attributes.first { $0.key == "session.id" } }.first!.value.displayString
            #expect(try await found(.compare(.attribute(.span, "session.id"), .ne, .string(session))) == tracesWhere("session.id") { $0 != session })
            // The index is a small part of the block.
            let breakdown = try store.storageBreakdown()
            let index = breakdown.filter { $0.part == "searchField" }.reduce(0) { $0 + $1.bytes }
            let chunks = breakdown.filter { $0.part == "chunk" }.reduce(0) { $0 + $1.bytes }
            #expect(index * 3 < chunks)
        }
    }
}
