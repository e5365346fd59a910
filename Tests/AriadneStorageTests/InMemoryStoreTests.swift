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

/// A batch's operations are told apart by service, kind and name, whatever resource (a pod
/// each) or place in the arena a span's strings have.
@Suite struct BatchOperationsTests {
    @Test func operationsAreNumberedByServiceKindAndName() {
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 2), start: 1_000_000_000)
        for pod in 0..<6 {
            let pods = [KeyValue("host.name", .string("web-\(pod)"))]
            t.span("GET /", service: "web", kind: .server, at: 0, duration: 10, resourceAttributes: pods)
            t.span("GET /", service: "web", kind: .client, at: 0, duration: 10, resourceAttributes: pods)
            t.span("GET /", service: "api", kind: .server, at: 0, duration: 10, resourceAttributes: pods)
            t.span(pod % 2 == 0 ? "GET /a" : "GET /b", service: "api", kind: .server, at: 0, duration: 10, resourceAttributes: pods)
            t.span("", service: "", kind: .server, at: 0, duration: 10)
        }
        let batch = t.batch
        let services = batch.serviceNumbers()
        #expect(Set(services.names) == ["web", "api", SpanBatch.unknownService])
        let ops = batch.operationNumbers(services: services.ofScope)
        #expect(ops.firstSpans.count == 6)
        for i in 0..<batch.count {
            let first = ops.firstSpans[Int(ops.ofSpan[i])]
            #expect(batch.serviceName(ofSpan: i) == batch.serviceName(ofSpan: first))
            #expect(batch.string(batch.names[i]) == batch.string(batch.names[first]) && batch.kinds[i] == batch.kinds[first])
        }
        let byService = batch.operationsByService()
        #expect(byService["web"] == [SpanOperation(name: "GET /", kind: .server), SpanOperation(name: "GET /", kind: .client)])
        #expect(
            byService["api"] == [
                SpanOperation(name: "GET /", kind: .server), SpanOperation(name: "GET /a", kind: .server),
                SpanOperation(name: "GET /b", kind: .server),
            ])
    }
}
