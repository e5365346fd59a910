import AriadneModel
import AriadneStorage
import AriadneTesting
import Testing

@Suite struct InMemoryStoreConformance {
    @Test(arguments: StorageConformance.cases)
    func conformance(_ check: StorageConformance.Case) async throws {
        try await check.run(InMemoryStore())
    }
}

@Suite struct InMemoryStoreRetention {
    @Test func oldestBatchesAreDroppedPastTheSpanLimit() async throws {
        let store = InMemoryStore(maxSpans: 10)
        var ids = [TraceID]()
        for k in 0..<5 {
            var b = TraceBuilder(traceID: TraceID(high: 1, low: UInt64(k + 1)), start: 1_000 + UInt64(k))
            let root = b.span("root", service: "svc", at: 0, duration: 10)
            b.span("child", service: "svc", parent: root, at: 1, duration: 5)
            b.span("child2", service: "svc", parent: root, at: 2, duration: 5)
            ids.append(b.traceID)
            try await store.write(b.batch)
        }
        #expect(store.spanCount <= 10)
        #expect(try await store.trace(id: ids[0], window: nil) == nil)
        #expect(try await store.trace(id: ids[4], window: nil)?.count == 3)
    }
}
