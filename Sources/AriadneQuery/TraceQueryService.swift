public import AriadneAnalysis
public import AriadneModel
public import AriadneStorage

/// The one way from an API dialect to a store (Jaeger's `querysvc`): every route of the query
/// port asks this service and never a store directly, so that what every read must go through —
/// validation, the deadline and the bound on concurrent queries, and what a reader's teams may
/// see — is applied once. One service per tenant (each tenant's spans are in a store of its own);
/// ``scoped(to:)`` gives the view of a reader whose teams limit the services they see.
///
/// No adjuster rewrites traces here. Exact duplicate spans are removed by the stores, as the
/// storage contract requires and the conformance suite checks, so they are not removed twice;
/// clock skew is left alone, as Jaeger's query does by default
/// (`--query.max-clock-skew-adjustment=0s`): the UI draws what the services reported.
///
/// Every method throws ``QueryError`` only: bad filters are `.badRequest`, unknown traces
/// `.notFound`, a busy store or a query past its deadline `.unavailable`, too many queries
/// `.throttled`, and anything else `.internal`.
public final class TraceQueryService: Sendable {
    public let reader: any TraceReader
    let deleter: (any TraceDeleter)?
    public let limiter: QueryLimiter
    /// The services this view shows (nil: every service of the tenant).
    public let visibility: ServiceVisibility?

    public init(reader: any TraceReader, deleter: (any TraceDeleter)? = nil, limits: QueryLimits = QueryLimits()) {
        self.reader = reader
        self.deleter = deleter
        limiter = QueryLimiter(limits)
        visibility = nil
    }

    init(_ base: TraceQueryService, visibility: ServiceVisibility?) {
        reader = base.reader
        deleter = base.deleter
        limiter = base.limiter
        self.visibility = visibility
    }

    /// The same store seen by a reader who may see only `visibility`'s services (nil: all):
    /// lists, searches, dependencies and analyses show only those; a trace with a span of theirs
    /// shows other services' spans opaque; a trace without one is not found.
    public func scoped(to visibility: ServiceVisibility?) -> TraceQueryService {
        visibility == self.visibility ? self : TraceQueryService(self, visibility: visibility)
    }

    /// The trace as this view may show it; nil when it has no span of a visible service.
    func visible(_ trace: SpanBatch) -> SpanBatch? {
        guard let visibility else { return trace }
        guard (0..<trace.count).contains(where: { visibility.allows(trace.serviceName(ofSpan: $0)) }) else { return nil }
        return visibility.opaque(trace)
    }

    /// The search compiled after narrowing it to the visible services; nil when it can find
    /// nothing visible (its filter still checked, so a bad one is a bad request either way).
    func searchMatcher(_ query: TraceQuery) throws(QueryError) -> SpanMatcher? {
        guard let visibility else { return try Self.prepare(query) }
        guard let narrowed = visibility.restrict(query) else {
            _ = try Self.prepare(query)
            return nil
        }
        return try Self.prepare(narrowed)
    }

    /// Whether `delete` can be used.
    public var canDelete: Bool { deleter != nil }

    // MARK: names

    public func services() async throws(QueryError) -> [String] {
        let reader = reader
        let all = try await limiter.run { try await reader.services() }
        guard let visibility else { return all }
        return all.filter(visibility.allows)
    }

    public func operations(service: String, kind: SpanKind?) async throws(QueryError) -> [SpanOperation] {
        if let visibility, !visibility.allows(service) { return [] }
        let reader = reader
        return try await limiter.run { try await reader.operations(service: service, kind: kind) }
    }

    // MARK: traces

    /// One trace; `.notFound` when the store has none (in `window`, if given).
    public func trace(_ id: TraceID, window: ClosedRange<UInt64>? = nil) async throws(QueryError) -> SpanBatch {
        let reader = reader
        let found = try await limiter.run { try await reader.trace(id: id, window: window) }
        guard let found, !found.isEmpty, let shown = visible(found) else { throw .notFound("trace not found") }
        return shown
    }

    /// The named traces that exist, in the order asked, each once.
    public func traces(_ ids: [TraceID]) async throws(QueryError) -> [SpanBatch] {
        var seen = Set<TraceID>()
        let unique = ids.filter { seen.insert($0).inserted }
        let reader = reader
        return try await limiter.run { try await reader.traces(unique) }.compactMap(visible)
    }

    /// Ids of the traces a search finds, best first. The filter is compiled once here and the
    /// same compiled form serves every part of the store.
    public func findTraceIDs(_ query: TraceQuery) async throws(QueryError) -> [TraceID] {
        guard let matcher = try searchMatcher(query) else { return [] }
        let reader = reader
        return try await limiter.run { try await reader.findTraceIDs(matching: matcher) }
    }

    /// The traces a search finds, fetched in one call to the store.
    public func findTraces(_ query: TraceQuery) async throws(QueryError) -> [SpanBatch] {
        guard let matcher = try searchMatcher(query) else { return [] }
        let reader = reader
        return try await limiter.run {
            let ids = try await reader.findTraceIDs(matching: matcher)
            return try await reader.traces(ids)
        }.compactMap(visible)
    }

    /// Summaries of the traces a search finds, without reading their spans where the store
    /// keeps summaries.
    public func findSummaries(_ query: TraceQuery) async throws(QueryError) -> [TraceSummary] {
        guard let matcher = try searchMatcher(query) else { return [] }
        let reader = reader
        return try await limiter.run {
            try await reader.summaries(try await reader.findTraceIDs(matching: matcher))
        }
    }

    /// Checks that a query can run (its regular expressions compile) and compiles it.
    public static func prepare(_ query: TraceQuery) throws(QueryError) -> SpanMatcher {
        do { return try SpanMatcher(query) } catch { throw QueryError.classify(error) }
    }

    // MARK: dependencies

    public func dependencies(window: ClosedRange<UInt64>, step: UInt64? = nil) async throws(QueryError) -> [DependencyLink] {
        let reader = reader
        return visibleLinks(try await limiter.run { try await reader.dependencies(window: window, step: step) })
    }

    /// Links from a visible service to another visible one or to a leaf it calls (a database, a
    /// queue); a call between a visible service and another team's is left out.
    func visibleLinks(_ links: [DependencyLink]) -> [DependencyLink] {
        guard let visibility else { return links }
        return links.filter {
            visibility.allows($0.parent) && (visibility.allows($0.child) || ServiceGraph.leafTypes.contains($0.connectionType))
        }
    }

    public func serviceGraph(window: ClosedRange<UInt64>, step: UInt64?) async throws(QueryError) -> ServiceGraph {
        let links = try await dependencies(window: window, step: step)
        return ServiceGraph(services: try await services(), links: links, window: window)
    }

    // MARK: analyses over traces

    /// Critical-path time per operation in the endpoint's traces found by `query`.
    public func bottlenecks(_ query: TraceQuery, service: String, operation: String) async throws(QueryError) -> (traces: Int, rows: [Bottleneck]) {
        let trees = try await findTraces(query).map(TraceTree.init)
        return TraceInsights.bottlenecks(trees, service: service, operation: operation)
    }

    /// Where the errors of the traces found by `query` began.
    public func errorOrigins(_ query: TraceQuery) async throws(QueryError) -> (traces: Int, origins: [ErrorOrigin]) {
        let trees = try await findTraces(query).map(TraceTree.init)
        return (trees.count, TraceInsights.errorOrigins(trees))
    }

    /// Two stored traces compared span path by span path.
    public func compare(_ a: TraceID, _ b: TraceID) async throws(QueryError) -> (a: SpanBatch, b: SpanBatch, nodes: [TraceDiffNode]) {
        let ta = try await trace(a)
        let tb = try await trace(b)
        return (ta, tb, TraceDiff.compare(TraceTree(ta), TraceTree(tb)))
    }

    /// Two populations of traces compared operation by operation.
    public func populations(_ a: TraceQuery, _ b: TraceQuery) async throws(QueryError) -> PopulationComparison {
        PopulationComparison(a: try await findTraces(a), b: try await findTraces(b))
    }

    // MARK: deletion

    /// What `delete` throws when the store cannot delete.
    public static let cannotDelete = QueryError(.permanent, "this store cannot delete traces (use --store engine or clickhouse)")

    /// Deletes the traces matching `query` and those named; ``cannotDelete`` when the store cannot.
    public func delete(matching query: TraceQuery?, ids: [TraceID]) async throws(QueryError) -> [TraceID] {
        guard let deleter else { throw Self.cannotDelete }
        if let query { _ = try Self.prepare(query) }
        return try await limiter.run { try await deleter.delete(matching: query, ids: ids) }
    }
}
