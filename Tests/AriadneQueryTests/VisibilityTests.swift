import AriadneModel
import AriadneQuery
import AriadneStorage
import AriadneTesting
import Testing

/// What a reader limited to their teams' services sees through the query service.
@Suite struct VisibilityTests {
    static let payments = ServiceVisibility(patterns: ["checkout", "payment*"])

    /// checkout → payment-gw → catalog, each span with a secret of its own.
    static func trace(_ id: UInt64, services: [String] = ["checkout", "payment-gw", "catalog"]) -> SpanBatch {
        var b = TraceBuilder(traceID: TraceID(high: 0, low: id), start: 1_700_000_000_000_000_000)
        var parent = SpanID.zero
        for (k, s) in services.enumerated() {
            parent = b.span(
                "op \(s)", service: s, kind: .server, parent: parent, at: UInt64(k) * 1000, duration: 5000,
                attributes: [KeyValue("secret", .string("\(s)-secret"))], status: .error, statusMessage: "\(s) failed",
                events: [Span.Event(time: b.start, name: "\(s)-event")], resourceAttributes: [KeyValue("host.name", .string("\(s)-host"))])
        }
        return b.batch
    }

    static func service() -> TraceQueryService {
        let store = InMemoryStore()
        store.insert(trace(1))
        store.insert(trace(2, services: ["catalog"]))
        return TraceQueryService(reader: store).scoped(to: payments)
    }

    @Test func patternsMatchWholeNames() {
        let v = ServiceVisibility(patterns: ["checkout", "payment*", "*-edge", "a*b*c"])
        for yes in ["checkout", "payment", "payment-gw", "eu-edge", "abc", "aXbYc"] { #expect(v.allows(yes), "\(yes)") }
        for no in ["checkouts", "xpayment", "edge", "ab", "acb", ""] { #expect(!v.allows(no), "\(no)") }
    }

    @Test func otherServicesSpansAreOpaque() async throws {
        let t = try await Self.service().trace(TraceID(high: 0, low: 1))
        #expect(t.count == 3)
        for i in 0..<t.count {
            let span = t.span(at: i)
            if span.serviceName == "catalog" {
                #expect(span.name == "op catalog" && span.statusCode == .error && span.duration == 5000)
                #expect(span.attributes.isEmpty && span.events.isEmpty && span.links.isEmpty && span.statusMessage.isEmpty)
                #expect(span.resource.attributes == [KeyValue("service.name", .string("catalog"))])
            } else {
                #expect(span.attributes == [KeyValue("secret", .string("\(span.serviceName)-secret"))])
                #expect(span.resource.attributes.count == 2)
            }
        }
    }

    @Test func aTraceWithoutAVisibleSpanIsNotFound() async throws {
        let s = Self.service()
        await #expect(throws: QueryError.self) { _ = try await s.trace(TraceID(high: 0, low: 2)) }
        #expect(try await s.traces([TraceID(high: 0, low: 2), TraceID(high: 0, low: 1)]).count == 1)
    }

    @Test func noSearchMatchesWhatIsHidden() async throws {
        let s = Self.service()
        #expect(try await s.findTraceIDs(TraceQuery(tags: ["secret": "catalog-secret"])).isEmpty)
        #expect(try await s.findTraceIDs(TraceQuery(service: "catalog")).isEmpty)
        #expect(try await s.findTraceIDs(TraceQuery(tags: ["host.name": "catalog-host"])).isEmpty)
        #expect(try await s.findTraceIDs(TraceQuery(filter: .compare(.name, .eq, .string("op catalog")))).isEmpty)
        #expect(try await s.findTraceIDs(TraceQuery(tags: ["secret": "payment-gw-secret"])) == [TraceID(high: 0, low: 1)])
        #expect(try await s.findSummaries(TraceQuery()).map(\.traceID) == [TraceID(high: 0, low: 1)])
    }

    @Test func namesAndLinksOfVisibleServicesOnly() async throws {
        let s = Self.service()
        #expect(try await s.services() == ["checkout", "payment-gw"])
        #expect(try await s.operations(service: "catalog", kind: nil).isEmpty)
        let links = try await s.dependencies(window: 0...UInt64.max)
        #expect(links.map { "\($0.parent)>\($0.child)" } == ["checkout>payment-gw"])
        // Unscoped, the whole tenant.
        let all = try await TraceQueryService(reader: s.reader).services()
        #expect(all == ["catalog", "checkout", "payment-gw"])
    }
}
