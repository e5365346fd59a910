import AriadneModel
public import AriadneStorage

/// A failed expectation in the conformance suite, with what was expected and what was seen.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
}

/// The storage contract as executable checks: every store (in-memory, embedded, ClickHouse) runs
/// all of them, after Jaeger's `StorageIntegration.RunAll`. Each case gets a fresh, empty store.
public enum StorageConformance {
    public struct Case: Sendable, CustomStringConvertible {
        public let name: String
        public let run: @Sendable (any TraceStore) async throws -> Void
        public var description: String { name }
    }

    static let t0: UInt64 = 1_700_000_000_000_000_000

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }

    /// A three-service trace: frontend → backend → database, with an error on the database span.
    static func sampleTrace(_ id: UInt64, start: UInt64, frontendOp: String = "GET /checkout") -> SpanBatch {
        var b = TraceBuilder(traceID: TraceID(high: 0xA, low: id), start: start, firstSpanID: id << 8 | 1)
        let root = b.span(
            frontendOp, service: "frontend", kind: .server, at: 0, duration: 120_000_000,
            attributes: [KeyValue("http.route", "/checkout"), KeyValue("http.response.status_code", 500)],
            resourceAttributes: [KeyValue("deployment.environment", "prod")])
        let call = b.span(
            "POST /pay", service: "backend", kind: .server, parent: root, at: 10_000_000, duration: 80_000_000,
            attributes: [KeyValue("user.id", .string("u-\(id)"))],
            events: [Span.Event(time: start + 20_000_000, name: "retry", attributes: [KeyValue("attempt", 2)])])
        b.span(
            "SELECT payments", service: "database", kind: .client, parent: call, at: 30_000_000, duration: 40_000_000,
            attributes: [KeyValue("db.system", "postgresql")], status: .error, statusMessage: "deadlock")
        return b.batch
    }

    public static let cases: [Case] = [
        Case(name: "trace written is read back whole") { store in
            let batch = sampleTrace(1, start: t0)
            try await store.write(batch)
            let read = try await store.trace(id: batch.traceIDs[0], window: nil)
            try expect(read != nil, "trace not found after write")
            try expect(read!.ownedSpansSortedByID == batch.ownedSpansSortedByID, "trace read back differs from what was written")
        },
        Case(name: "spans of one trace written in separate batches are assembled") { store in
            let batch = sampleTrace(2, start: t0)
            try await store.write(batch.selecting([0]))
            try await store.write(batch.selecting([1, 2]))
            let read = try await store.trace(id: batch.traceIDs[0], window: nil)
            try expect(read?.count == 3, "expected 3 spans, got \(read?.count ?? 0)")
        },
        Case(name: "writes are idempotent for readers") { store in
            let batch = sampleTrace(3, start: t0)
            try await store.write(batch)
            try await store.write(batch)
            let read = try await store.trace(id: batch.traceIDs[0], window: nil)
            try expect(read?.count == 3, "expected each span once, got \(read?.count ?? 0) spans")
        },
        Case(name: "spans that only share a span id are all kept; exact copies once") { store in
            let batch = sampleTrace(30, start: t0)
            var other = batch.span(at: 1)
            other.startTime += 1_000
            var shared = SpanBatch()
            shared.append(other)
            try await store.write(batch)
            try await store.write(shared)
            try await store.write(shared)
            let read = try await store.trace(id: batch.traceIDs[0], window: nil)
            try expect(read?.count == 4, "expected 4 spans (two sharing an id), got \(read?.count ?? 0)")
        },
        Case(name: "several traces are read in one call, in the order asked") { store in
            let a = sampleTrace(31, start: t0)
            let b = sampleTrace(32, start: t0 + 1_000)
            try await store.write(a)
            try await store.write(b)
            let read = try await store.traces([b.traceIDs[0], TraceID(high: 99, low: 99), a.traceIDs[0]])
            try expect(read.map { $0.traceIDs[0] } == [b.traceIDs[0], a.traceIDs[0]], "expected b then a, missing left out")
            try expect(read.map(\.count) == [3, 3], "expected whole traces, got \(read.map(\.count)) spans")
        },
        Case(name: "unknown trace id is nil") { store in
            try await store.write(sampleTrace(4, start: t0))
            let read = try await store.trace(id: TraceID(high: 99, low: 99), window: nil)
            try expect(read == nil, "expected nil for an unknown trace")
        },
        Case(name: "trace lookup honours the time window") { store in
            let batch = sampleTrace(5, start: t0)
            try await store.write(batch)
            let inside = try await store.trace(id: batch.traceIDs[0], window: t0 - 1_000...t0 + 1_000)
            let outside = try await store.trace(id: batch.traceIDs[0], window: t0 + 1_000_000_000_000...t0 + 2_000_000_000_000)
            try expect(inside != nil, "trace not found inside its window")
            try expect(outside == nil, "trace found outside its window")
        },
        Case(name: "every attribute type, event, link and status survives") { store in
            let id = TraceID(high: 0xB, low: 6)
            let span = Span(
                traceID: id, spanID: SpanID(0x60), parentSpanID: SpanID(0x5F), traceState: "vendor=1", name: "all types",
                kind: .producer, startTime: t0, endTime: t0 + 5_000,
                attributes: [
                    KeyValue("s", "text"), KeyValue("b", true), KeyValue("i", -42), KeyValue("d", 2.5),
                    KeyValue("bytes", .bytes([0, 1, 255])), KeyValue("arr", .array(["a", 1, .array([true])])),
                    KeyValue("map", .kvlist([KeyValue("k", "v"), KeyValue("n", .kvlist([KeyValue("x", 1.5)]))])),
                    KeyValue("empty", .empty),
                ],
                droppedAttributesCount: 3,
                events: [Span.Event(time: t0 + 1_000, name: "evt", attributes: [KeyValue("e", 1)], droppedAttributesCount: 1)],
                droppedEventsCount: 2,
                links: [
                    Span.Link(traceID: TraceID(high: 7, low: 7), spanID: SpanID(7), traceState: "a=b", attributes: [KeyValue("l", "x")], flags: 0x301)
                ],
                droppedLinksCount: 4, statusCode: .error, statusMessage: "boom", flags: 0x301,
                resource: OwnedResource(service: "typed", attributes: [KeyValue("r", 1)]),
                scope: OwnedScope(name: "scope", version: "9", attributes: [KeyValue("sa", "sv")]))
            var batch = SpanBatch()
            batch.append(span)
            try await store.write(batch)
            let read = try await store.trace(id: id, window: nil)
            try expect(read?.count == 1, "span not found")
            try expect(read!.span(at: 0) == span, "span read back differs:\n\(read!.span(at: 0))\nvs\n\(span)")
        },
        Case(name: "services and operations are listed with span kinds") { store in
            try await store.write(sampleTrace(7, start: t0))
            try await store.write(sampleTrace(8, start: t0, frontendOp: "GET /home"))
            let services = try await store.services()
            try expect(services == ["backend", "database", "frontend"], "services: \(services)")
            let ops = try await store.operations(service: "frontend", kind: nil)
            try expect(
                ops == [SpanOperation(name: "GET /checkout", kind: .server), SpanOperation(name: "GET /home", kind: .server)],
                "operations: \(ops)")
            let clientOps = try await store.operations(service: "database", kind: .client)
            try expect(clientOps == [SpanOperation(name: "SELECT payments", kind: .client)], "client operations: \(clientOps)")
            let none = try await store.operations(service: "database", kind: .server)
            try expect(none.isEmpty, "server operations of database: \(none)")
        },
        Case(name: "search by service and operation") { store in
            try await store.write(sampleTrace(9, start: t0))
            try await store.write(sampleTrace(10, start: t0 + 1_000, frontendOp: "GET /home"))
            let found = try await store.findTraceIDs(TraceQuery(service: "frontend", operation: "GET /home", limit: 10))
            try expect(found == [TraceID(high: 0xA, low: 10)], "found \(found)")
            let byService = try await store.findTraceIDs(TraceQuery(service: "backend", limit: 10))
            try expect(Set(byService) == [TraceID(high: 0xA, low: 9), TraceID(high: 0xA, low: 10)], "found \(byService)")
            let wrongPair = try await store.findTraceIDs(TraceQuery(service: "backend", operation: "GET /home", limit: 10))
            try expect(wrongPair.isEmpty, "operation of another service matched: \(wrongPair)")
        },
        Case(name: "search by span, resource and event attributes and by error") { store in
            try await store.write(sampleTrace(11, start: t0))
            try await store.write(sampleTrace(12, start: t0 + 1_000))
            func find(_ service: String, _ tags: [String: String]) async throws -> [TraceID] {
                try await store.findTraceIDs(TraceQuery(service: service, tags: tags, limit: 10))
            }
            try expect(try await find("backend", ["user.id": "u-11"]) == [TraceID(high: 0xA, low: 11)], "span attribute")
            try expect(try await find("frontend", ["deployment.environment": "prod"]).count == 2, "resource attribute")
            try expect(try await find("backend", ["attempt": "2"]).count == 2, "event attribute")
            try expect(try await find("frontend", ["http.response.status_code": "500"]).count == 2, "int attribute")
            try expect(try await find("database", ["error": "true"]).count == 2, "error pseudo-tag")
            try expect(try await find("frontend", ["error": "true"]).isEmpty, "error matched a span without error")
            try expect(try await find("backend", ["user.id": "nobody"]).isEmpty, "wrong value matched")
            try expect(
                try await find("frontend", ["deployment.environment": "prod", "http.route": "/nope"]).isEmpty,
                "all tags must match")
        },
        Case(name: "search by span duration and time window") { store in
            try await store.write(sampleTrace(13, start: t0))
            try await store.write(sampleTrace(14, start: t0 + 10_000_000_000))
            let long = try await store.findTraceIDs(TraceQuery(service: "frontend", durationMin: 100_000_000, limit: 10))
            try expect(long.count == 2, "minDuration: \(long)")
            let tooLong = try await store.findTraceIDs(TraceQuery(service: "frontend", durationMin: 200_000_000, limit: 10))
            try expect(tooLong.isEmpty, "minDuration above every span: \(tooLong)")
            let short = try await store.findTraceIDs(TraceQuery(service: "frontend", durationMax: 50_000_000, limit: 10))
            try expect(short.isEmpty, "maxDuration below the frontend span: \(short)")
            let window = try await store.findTraceIDs(
                TraceQuery(service: "frontend", startMin: t0 + 5_000_000_000, startMax: t0 + 20_000_000_000, limit: 10))
            try expect(window == [TraceID(high: 0xA, low: 14)], "window: \(window)")
        },
        Case(name: "search returns the most recent traces first, at most limit") { store in
            for k in 0..<5 { try await store.write(sampleTrace(UInt64(20 + k), start: t0 + UInt64(k) * 1_000_000_000)) }
            let found = try await store.findTraceIDs(TraceQuery(service: "frontend", limit: 3))
            try expect(
                found == [TraceID(high: 0xA, low: 24), TraceID(high: 0xA, low: 23), TraceID(high: 0xA, low: 22)],
                "order or limit: \(found)")
        },
        Case(name: "typed filters on span, resource and event attributes, with and/or") { store in
            try await store.write(sampleTrace(40, start: t0))
            try await store.write(sampleTrace(41, start: t0 + 1_000))
            let both: Set = [TraceID(high: 0xA, low: 40), TraceID(high: 0xA, low: 41)]
            func find(_ text: String) async throws -> Set<TraceID> {
                let parsed = try FilterParser.parse(text)
                return Set(try await store.findTraceIDs(TraceQuery(filter: parsed.filter, limit: 10)))
            }
            func check(_ text: String, _ expected: Set<TraceID>) async throws {
                let found = try await find(text)
                try expect(found == expected, "\(text): expected \(expected.map(\.low).sorted()), got \(found.map(\.low).sorted())")
            }
            try await check("span.http.response.status_code >= 500", both)
            try await check("span.http.response.status_code > 500", [])
            try await check("span.http.response.status_code < 500.5", both)
            try await check("span.user.id =~ \"u-4[0]\"", [TraceID(high: 0xA, low: 40)])
            try await check("span.user.id !~ \"u-40\"", [TraceID(high: 0xA, low: 41)])
            try await check("span.user.id != \"u-40\"", [TraceID(high: 0xA, low: 41)])
            try await check("span.user.id = \"u-40\" || span.user.id = \"u-41\"", both)
            try await check("{ resource.deployment.environment = \"prod\" && service = \"frontend\" }", both)
            // One span must meet every condition: the user id is on the backend span, the
            // environment on the frontend's resource.
            try await check("resource.deployment.environment = \"prod\" && span.user.id = \"u-40\"", [])
            try await check("event.attempt = 2", both)
            try await check("span.attempt = 2", [])
            try await check(".attempt = 2 && name = \"POST /pay\"", both)
            try await check("span.db.system != nil", both)
            try await check("span.db.system = nil && service = \"database\"", [])
            try await check("span.db.system = nil && service = \"backend\"", both)
            try await check("status = error && kind = client", both)
            try await check("status = error && kind = server", [])
            try await check("name =~ \"SELECT.*\" && duration >= 40ms && duration < 41ms", both)
            try await check("duration > 120ms", [])
            try await check("(span.user.id = \"u-41\" || span.http.route = \"/none\") && kind = server", [TraceID(high: 0xA, low: 41)])
        },
        Case(name: "trace duration bounds and longest-first order") { store in
            // Root spans of 1 s, 3 s and 2 s; the last trace's child ends 4.9 s after its root
            // starts, though no span of it is longer than 0.9 s.
            var ids = [TraceID]()
            for (k, seconds) in [1, 3, 2].enumerated() {
                var b = TraceBuilder(traceID: TraceID(high: 0xC, low: UInt64(k)), start: t0 + UInt64(k) * 1_000)
                b.span("work", service: "svc", kind: .server, at: 0, duration: UInt64(seconds) * 1_000_000_000)
                try await store.write(b.batch)
                ids.append(b.traceID)
            }
            var b = TraceBuilder(traceID: TraceID(high: 0xC, low: 9), start: t0 + 5_000)
            let root = b.span("work", service: "svc", kind: .server, at: 0, duration: 100_000_000)
            b.span("late", service: "svc", parent: root, at: 4_000_000_000, duration: 900_000_000)
            try await store.write(b.batch)
            let longest = try await store.findTraceIDs(TraceQuery(service: "svc", order: .longest, limit: 3))
            try expect(longest == [b.traceID, ids[1], ids[2]], "longest first: \(longest.map(\.low))")
            let over = try await store.findTraceIDs(TraceQuery(service: "svc", traceDurationMin: 1_500_000_000, limit: 10))
            try expect(Set(over) == [ids[1], ids[2], b.traceID], "traceDurationMin: \(over.map(\.low))")
            let under = try await store.findTraceIDs(TraceQuery(service: "svc", traceDurationMax: 1_500_000_000, limit: 10))
            try expect(under == [ids[0]], "traceDurationMax: \(under.map(\.low))")
            let spanLong = try await store.findTraceIDs(TraceQuery(service: "svc", durationMin: 4_000_000_000, limit: 10))
            try expect(spanLong.isEmpty, "span duration is not trace duration: \(spanLong.map(\.low))")
            let parsed = try FilterParser.parse("traceDuration > 4s && name = \"late\"")
            let late = try await store.findTraceIDs(
                TraceQuery(filter: parsed.filter, traceDurationMin: parsed.traceDurationMin, limit: 10))
            try expect(late == [b.traceID], "traceDuration in the filter: \(late.map(\.low))")
        },
        Case(name: "trace summaries list root, duration, counts and services") { store in
            try await store.write(sampleTrace(50, start: t0))
            let id = TraceID(high: 0xA, low: 50)
            let summaries = try await store.summaries([TraceID(high: 1, low: 1), id])
            let expected = TraceSummary(
                traceID: id, rootService: "frontend", rootName: "GET /checkout", start: t0, end: t0 + 120_000_000,
                spanCount: 3, errorCount: 1, services: ["backend", "database", "frontend"])
            try expect(summaries == [expected], "summaries: \(summaries)")
        },
        Case(name: "dependencies count calls, errors and latency between services and to leaf nodes") { store in
            try await store.write(sampleTrace(30, start: t0))
            try await store.write(sampleTrace(31, start: t0 + 1_000))
            let deps = try await store.dependencies(window: t0 - 1_000_000_000...t0 + 1_000_000_000)
            // The database client span calls nothing that sends spans: its db.system is a leaf node.
            try expect(
                deps == [
                    DependencyLink(
                        parent: "backend", child: "database", callCount: 2, errorCount: 2, p50Duration: 40_000_000,
                        p95Duration: 40_000_000, p99Duration: 40_000_000),
                    DependencyLink(
                        parent: "database", child: "postgresql", callCount: 2, errorCount: 2, p50Duration: 40_000_000,
                        p95Duration: 40_000_000, p99Duration: 40_000_000, connectionType: "database"),
                    DependencyLink(
                        parent: "frontend", child: "backend", callCount: 2, errorCount: 0, p50Duration: 80_000_000,
                        p95Duration: 80_000_000, p99Duration: 80_000_000),
                ], "dependencies: \(deps)")
            let stepped = try await store.dependencies(window: t0 - 1_000_000_000...t0 + 1_000_000_000, step: 500_000_000)
            try expect(
                stepped.allSatisfy { $0.series.count == 5 && $0.series.reduce(0) { $0 + $1.calls } == $0.callCount }
                    && stepped.allSatisfy { $0.series[2].calls == $0.callCount },
                "per-step counts: \(stepped.map(\.series))")
            let empty = try await store.dependencies(window: 0...1_000)
            try expect(empty.isEmpty, "dependencies outside the window: \(empty)")
        },
    ]
}
