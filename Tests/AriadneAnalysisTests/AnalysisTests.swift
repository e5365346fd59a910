import AriadneAnalysis
import AriadneModel
import AriadneTesting
import Testing

@Suite struct CriticalPathTests {
    let ms: UInt64 = 1_000_000

    /// root 0–100: a 10–40 and b 30–90 overlap; c 50–60 inside b; d 95–120 overflows the root.
    @Test func followsTheLastFinishingChildren() {
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 1), start: 1_000 * ms)
        let root = t.span("root", service: "front", at: 0, duration: 100 * ms)
        t.span("a", service: "front", parent: root, at: 10 * ms, duration: 30 * ms)
        let b = t.span("b", service: "back", parent: root, at: 30 * ms, duration: 60 * ms)
        t.span("c", service: "db", parent: b, at: 50 * ms, duration: 10 * ms)
        t.span("d", service: "late", parent: root, at: 95 * ms, duration: 25 * ms)
        let tree = TraceTree(t.batch)
        let path = CriticalPath.compute(tree).map {
            (tree.trace.string(tree.trace.names[$0.span]), ($0.start - 1_000 * ms) / ms, ($0.end - 1_000 * ms) / ms)
        }
        // d is clipped to 95–100 and finishes last; then b (ends 90): its tail 60–90, c, its head 30–50;
        // a ends at 40, after b started at 30, so the root owns 0–30; the root also owns 90–95.
        let expected: [(String, UInt64, UInt64)] = [
            ("root", 0, 30), ("b", 30, 50), ("c", 50, 60), ("b", 60, 90), ("root", 90, 95), ("d", 95, 100),
        ]
        #expect(path.count == expected.count, "\(path)")
        for (got, want) in zip(path, expected) { #expect(got == want, "\(path)") }
        // The path covers the root's whole duration exactly once.
        #expect(CriticalPath.compute(tree).reduce(0) { $0 + $1.end - $1.start } == 100 * ms)
    }

    @Test func sequentialChildrenAndZeroDurationSpansTerminate() {
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 2), start: 0)
        let root = t.span("root", service: "s", at: 0, duration: 30)
        t.span("one", service: "s", parent: root, at: 0, duration: 10)
        t.span("two", service: "s", parent: root, at: 10, duration: 10)
        t.span("zero", service: "s", parent: root, at: 20, duration: 0)
        t.span("three", service: "s", parent: root, at: 20, duration: 10)
        let tree = TraceTree(t.batch)
        let names = CriticalPath.compute(tree).map { tree.trace.string(tree.trace.names[$0.span]) }
        #expect(names == ["one", "two", "three"])
    }

    @Test func deepChainsAndCyclesDoNotOverflowOrHang() {
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 3), start: 0)
        var parent = t.span("s0", service: "s", at: 0, duration: 100_000)
        for i in 1..<20_000 { parent = t.span("s\(i)", service: "s", parent: parent, at: UInt64(i), duration: 100_000 - UInt64(2 * i)) }
        let tree = TraceTree(t.batch)
        #expect(tree.depthFirst().count == 20_000)
        #expect(CriticalPath.compute(tree).count == 2 * 20_000 - 1)

        // a → b → a: neither has a parent outside the cycle.
        var batch = SpanBatch()
        batch.append(Span(traceID: TraceID(high: 1, low: 4), spanID: SpanID(1), parentSpanID: SpanID(2), name: "a", startTime: 0, endTime: 10))
        batch.append(Span(traceID: TraceID(high: 1, low: 4), spanID: SpanID(2), parentSpanID: SpanID(1), name: "b", startTime: 1, endTime: 5))
        let cyclic = TraceTree(batch)
        #expect(cyclic.roots.count == 1)
        #expect(cyclic.depthFirst().map(\.depth) == [0, 1])
        #expect(!CriticalPath.compute(cyclic).isEmpty)
    }
}

@Suite struct TraceStatisticsTests {
    @Test func selfTimeExcludesTheUnionOfChildren() {
        var t = TraceBuilder(traceID: TraceID(high: 2, low: 1), start: 0)
        let root = t.span("GET /", service: "front", at: 0, duration: 100)
        t.span("q", service: "db", parent: root, at: 10, duration: 30, status: .error)
        t.span("q", service: "db", parent: root, at: 20, duration: 40)  // overlaps: union 10–60
        t.span("q", service: "db", parent: root, at: 90, duration: 20)  // clipped at 100
        let stats = TraceStatistics.compute(TraceTree(t.batch))
        #expect(stats.count == 2)
        let front = stats.first { $0.service == "front" }!
        #expect(front.selfTime == 100 - 50 - 10)
        let db = stats.first { $0.service == "db" }!
        #expect(db.count == 3 && db.errorCount == 1 && db.total == 90 && db.selfTime == 90 && db.min == 20 && db.max == 40)
    }
}

@Suite struct TraceDiffTests {
    @Test func matchesSpansByPathAndReportsChanges() {
        func trace(_ low: UInt64, dbCalls: Int, cacheMs: UInt64, withAuth: Bool, withQueue: Bool) -> TraceTree {
            var t = TraceBuilder(traceID: TraceID(high: 3, low: low), start: 0)
            let root = t.span("GET /", service: "front", at: 0, duration: 1_000)
            if withAuth { t.span("check", service: "auth", parent: root, at: 1, duration: 10) }
            t.span("get", service: "cache", parent: root, at: 20, duration: cacheMs)
            for i in 0..<dbCalls { t.span("SELECT", service: "db", parent: root, at: 100 + UInt64(i), duration: 50) }
            if withQueue { t.span("publish", service: "queue", parent: root, at: 900, duration: 5) }
            return TraceTree(t.batch)
        }
        let a = trace(1, dbCalls: 2, cacheMs: 100, withAuth: true, withQueue: false)
        let b = trace(2, dbCalls: 5, cacheMs: 101, withAuth: false, withQueue: true)
        let diff = TraceDiff.compare(a, b)
        let byName = Dictionary(uniqueKeysWithValues: diff.map { ($0.operation, $0) })
        #expect(diff.map(\.operation) == ["GET /", "check", "get", "SELECT", "publish"])
        #expect(byName["GET /"]?.change == .same)
        #expect(byName["check"]?.change == .removed && byName["check"]?.depth == 1)
        #expect(byName["publish"]?.change == .added)
        #expect(byName["SELECT"]?.change == .changed && byName["SELECT"]?.countA == 2 && byName["SELECT"]?.countB == 5)
        #expect(byName["get"]?.change == .same && byName["get"]?.meanB == 101)
    }
}

@Suite struct TraceInsightsTests {
    let ms: UInt64 = 1_000_000

    @Test func aPlantedSlowDependencyIsTheTopBottleneck() {
        var trees = [TraceTree]()
        for k in 0..<40 {
            var t = TraceBuilder(traceID: TraceID(high: 4, low: UInt64(k + 1)), start: 1_000 * ms)
            let slow = k % 4 == 0  // a quarter of the requests hit the slow pricing path
            let pricing: UInt64 = slow ? 300 * ms : 4 * ms
            let root = t.span("GET /checkout", service: "frontend", kind: .server, at: 0, duration: (40 + pricing / ms) * ms)
            t.span("auth", service: "auth", kind: .client, parent: root, at: 1 * ms, duration: 8 * ms)
            let p = t.span("price", service: "pricing", kind: .server, parent: root, at: 10 * ms, duration: pricing)
            t.span("SELECT", service: "db", kind: .client, parent: p, at: 11 * ms, duration: pricing - 2 * ms)
            t.span("stock", service: "inventory", kind: .client, parent: root, at: 12 * ms + pricing, duration: 20 * ms)
            // Another endpoint in the same traces is not counted.
            trees.append(TraceTree(t.batch))
        }
        let (traces, rows) = TraceInsights.bottlenecks(trees, service: "frontend", operation: "GET /checkout")
        #expect(traces == 40)
        #expect(rows.first?.service == "db" && rows.first?.operation == "SELECT")
        #expect(rows.first?.p95 == 298 * ms)  // the slow quarter is above the 95th percentile's rank
        #expect(rows.first?.p50 == 2 * ms)
        let inventory = rows.first { $0.service == "inventory" }!
        #expect(inventory.p50 == 20 * ms && inventory.traces == 40)
        #expect(abs(rows.reduce(0) { $0 + $1.share } - 1) < 1e-9)
        #expect(TraceInsights.bottlenecks(trees, service: "frontend", operation: "nope").traces == 0)
    }

    @Test func aPlantedFailingDatabaseIsTheErrorOrigin() {
        var trees = [TraceTree]()
        for k in 0..<12 {
            var t = TraceBuilder(traceID: TraceID(high: 5, low: UInt64(k + 1)), start: 0)
            let dbFails = k < 9
            let root = t.span("GET /orders", service: "frontend", kind: .server, at: 0, duration: 100, status: .error)
            let o = t.span("list", service: "orders", kind: .server, parent: root, at: 1, duration: 90, status: .error)
            t.span(
                "SELECT orders", service: "postgres", kind: .client, parent: o, at: 2, duration: 80, status: dbFails ? .error : .unset,
                events: dbFails ? [Span.Event(time: 50, name: "exception", attributes: [KeyValue("exception.type", "QueryTimeout")])] : [])
            if !dbFails {
                t.span(
                    "GET cart", service: "redis", kind: .client, parent: o, at: 85, duration: 2,
                    attributes: [KeyValue("error.type", "ConnectionReset")], status: .error)
            }
            trees.append(TraceTree(t.batch))
        }
        // A healthy trace adds nothing.
        var ok = TraceBuilder(traceID: TraceID(high: 5, low: 99), start: 0)
        ok.span("GET /orders", service: "frontend", at: 0, duration: 10)
        trees.append(TraceTree(ok.batch))
        let origins = TraceInsights.errorOrigins(trees)
        #expect(origins.count == 2)
        #expect(origins[0].service == "postgres" && origins[0].operation == "SELECT orders")
        #expect(origins[0].exceptionType == "QueryTimeout" && origins[0].count == 9)
        #expect(origins[0].exampleTraces.count == 5)
        #expect(origins[1].service == "redis" && origins[1].exceptionType == "ConnectionReset" && origins[1].count == 3)
    }
}
