import AriadneModel
import AriadneQuery
import AriadneStorage
import AriadneTesting
import Testing

@Suite struct QueryServiceTests {
    static func store(_ batches: SpanBatch...) -> InMemoryStore {
        let s = InMemoryStore()
        for b in batches { s.insert(b) }
        return s
    }

    static func trace(_ id: UInt64, spans: Int = 2) -> TraceBuilder {
        var b = TraceBuilder(traceID: TraceID(high: 0, low: id), start: 1_700_000_000_000_000_000)
        let root = b.span("GET /", service: "frontend", kind: .server, at: 0, duration: 10_000_000)
        for k in 1..<spans { b.span("work \(k)", service: "backend", parent: root, at: UInt64(k) * 1000, duration: 1000) }
        return b
    }

    @Test func exactCopiesShowOnceAndSpansThatOnlyShareAnIdAllShow() async throws {
        let t = Self.trace(1, spans: 3)
        var shared = t.batch
        // The same span id, later start: another span.
        var other = t.spans[1]
        other.startTime += 5
        shared.append(other)
        let service = TraceQueryService(reader: Self.store(t.batch, t.batch, shared))
        let got = try await service.trace(TraceID(high: 0, low: 1))
        #expect(got.count == 4)
        #expect(Set(got.ownedSpansSortedByID) == Set(t.spans + [other]))
    }

    @Test func errorsAreTyped() async throws {
        let service = TraceQueryService(reader: Self.store(Self.trace(1).batch))
        await #expect(throws: QueryError.self) { _ = try await service.trace(TraceID(high: 9, low: 9)) }
        do {
            _ = try await service.trace(TraceID(high: 9, low: 9))
        } catch {
            #expect(error.code == .notFound)
        }
        let bad = TraceQuery(filter: .compare(.name, .regex, .string("(")))
        do {
            _ = try await service.findTraces(bad)
            Issue.record("an invalid regular expression must be refused")
        } catch {
            #expect(error.code == .badRequest)
            #expect(error.message.contains("regular expression"))
        }
        do {
            _ = try await service.delete(matching: nil, ids: [])
            Issue.record("the memory store cannot delete")
        } catch {
            #expect(error.code == .permanent)
        }
    }

    @Test func searchesFetchTracesInOneCallAndInOrder() async throws {
        let service = TraceQueryService(reader: Self.store(Self.trace(1).batch, Self.trace(2).batch, Self.trace(3).batch))
        let found = try await service.findTraces(TraceQuery(service: "backend", limit: 10))
        #expect(found.count == 3)
        let byID = try await service.traces([TraceID(high: 0, low: 3), TraceID(high: 0, low: 7), TraceID(high: 0, low: 3), TraceID(high: 0, low: 1)])
        #expect(byID.map { $0.traceIDs[0].low } == [3, 1])
    }

    /// A store that never answers until cancelled, and counts how many queries are inside it.
    final class StallingStore: TraceReader, @unchecked Sendable {
        func services() async throws -> [String] {
            try await Task.sleep(for: .seconds(3600))
            return []
        }
        func operations(service: String, kind: SpanKind?) async throws -> [SpanOperation] { [] }
        func trace(id: TraceID, window: ClosedRange<UInt64>?) async throws -> SpanBatch? { nil }
        func findTraceIDs(matching matcher: SpanMatcher) async throws -> [TraceID] { [] }
        func dependencies(window: ClosedRange<UInt64>, step: UInt64?) async throws -> [DependencyLink] { [] }
    }

    @Test func aQueryPastItsDeadlineIsCancelledAndAnsweredUnavailable() async throws {
        let service = TraceQueryService(reader: StallingStore(), limits: QueryLimits(timeout: .milliseconds(200)))
        do {
            _ = try await service.services()
            Issue.record("a stalled query must end at its deadline")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.isRetryable)
        }
        // Its turn was given back: the next query runs (and also ends at the deadline).
        #expect(service.limiter.running == 0)
    }

    @Test func queriesBeyondTheBoundWaitAndBeyondTheQueueAreThrottled() async throws {
        let service = TraceQueryService(
            reader: StallingStore(), limits: QueryLimits(timeout: .seconds(2), maxConcurrent: 1, maxWaiting: 1))
        let first = Task { try await service.services() }
        // Give the first query time to take the only turn and the second to wait.
        try await Task.sleep(for: .milliseconds(100))
        let second = Task { try await service.services() }
        try await Task.sleep(for: .milliseconds(100))
        do {
            _ = try await service.services()
            Issue.record("a third query must be refused")
        } catch {
            #expect(error.code == .throttled)
        }
        for result in [await first.result, await second.result] {
            if case .failure(let e as QueryError) = result { #expect(e.code == .unavailable) } else { Issue.record("expected the deadline") }
        }
    }
}
