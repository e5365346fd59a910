public import AriadneModel

/// The time bounds of a trace (or of the part of it one source holds).
public struct TraceBounds: Sendable, Equatable {
    public var start: UInt64
    public var end: UInt64

    public init(start: UInt64, end: UInt64) {
        self.start = start
        self.end = end
    }

    public var duration: UInt64 { end >= start ? end - start : 0 }

    public mutating func merge(_ other: TraceBounds) {
        start = min(start, other.start)
        end = max(end, other.end)
    }
}

/// Collects the traces a search matches while batches are scanned.
public struct TraceMatches {
    let matcher: SpanMatcher
    public private(set) var ids: Set<TraceID> = []

    public init(_ query: TraceQuery) throws { matcher = try SpanMatcher(query) }

    public mutating func scan(_ batch: SpanBatch) {
        for i in 0..<batch.count where matcher.matches(batch, i) { ids.insert(batch.traceIDs[i]) }
    }

    /// Merges `more` into `hits`, widening the bounds of traces found in both.
    public static func merge(_ more: [TraceID: TraceBounds], into hits: inout [TraceID: TraceBounds]) {
        for (id, b) in more {
            if var known = hits[id] {
                known.merge(b)
                hits[id] = known
            } else {
                hits[id] = b
            }
        }
    }

    /// Whether a trace with bounds `a` comes before one with bounds `b` in `order` (ties by id).
    public static func precedes(_ a: (TraceID, TraceBounds), _ b: (TraceID, TraceBounds), _ order: TraceOrder) -> Bool {
        switch order {
        case .mostRecent: if a.1.start != b.1.start { return a.1.start > b.1.start }
        case .longest: if a.1.duration != b.1.duration { return a.1.duration > b.1.duration }
        }
        return a.0 < b.0
    }

    /// The traces meeting the query's trace bounds, in its order, at most its limit.
    public static func ranked(_ hits: [TraceID: TraceBounds], _ query: TraceQuery) -> [TraceID] {
        hits.filter { query.acceptsTrace(start: $0.value.start, end: $0.value.end) }
            .sorted { precedes(($0.key, $0.value), ($1.key, $1.value), query.order) }
            .prefix(max(0, query.limit)).map(\.key)
    }
}

/// Counts calls between services from parent/child spans, across any number of batches (a
/// parent may arrive in a different batch from its child). A span seen twice counts once.
/// A call's latency and outcome are the child span's: the callee as it served the call.
public struct DependencyCounter {
    let window: ClosedRange<UInt64>
    struct Entry {
        var service: String
        var parent: SpanID
        var duration: UInt64
        var isError: Bool
    }
    /// Per trace: each span's service, parent, duration and status.
    var spans: [TraceID: [SpanID: Entry]] = [:]

    public init(window: ClosedRange<UInt64>) { self.window = window }

    public mutating func add(_ batch: SpanBatch) {
        let services = batch.serviceNamesByScope()
        for i in 0..<batch.count where window.contains(batch.startTimes[i]) {
            let service = services[Int(batch.scopeIndices[i])]
            spans[batch.traceIDs[i], default: [:]][batch.spanIDs[i]] = Entry(
                service: service, parent: batch.parentSpanIDs[i], duration: batch.duration(ofSpan: i),
                isError: batch.statusCodes[i] == .error)
        }
    }

    /// Parent→child calls between different services, sorted by parent then child.
    public func links() -> [DependencyLink] {
        struct Edge {
            var calls = 0
            var errors = 0
            var durations: [UInt64] = []
        }
        var edges = [String: [String: Edge]]()
        for trace in spans.values {
            for child in trace.values where child.parent.isValid {
                guard let parent = trace[child.parent]?.service, parent != child.service else { continue }
                edges[parent, default: [:]][child.service, default: Edge()].calls += 1
                if child.isError { edges[parent]![child.service]!.errors += 1 }
                edges[parent]![child.service]!.durations.append(child.duration)
            }
        }
        return edges.flatMap { p, children in
            children.map { child, e in
                let sorted = e.durations.sorted()
                // Nearest rank: the smallest duration with at least 95% of calls at or below it.
                let rank = max(0, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)
                return DependencyLink(
                    parent: p, child: child, callCount: e.calls, errorCount: e.errors, p95Duration: sorted[rank])
            }
        }.sorted { ($0.parent, $0.child) < ($1.parent, $1.child) }
    }
}

/// What a search result list shows of a trace, without its spans.
public struct TraceSummary: Sendable, Equatable {
    public var traceID: TraceID
    public var rootService: String
    public var rootName: String
    public var start: UInt64
    public var end: UInt64
    public var spanCount: Int
    public var errorCount: Int
    /// Every service with a span in the trace, sorted.
    public var services: [String]

    public init(
        traceID: TraceID, rootService: String, rootName: String, start: UInt64, end: UInt64, spanCount: Int,
        errorCount: Int, services: [String]
    ) {
        self.traceID = traceID
        self.rootService = rootService
        self.rootName = rootName
        self.start = start
        self.end = end
        self.spanCount = spanCount
        self.errorCount = errorCount
        self.services = services
    }

    /// The summary of a trace's spans: its root is the span without a parent among them (the
    /// earliest, if a broken trace has several).
    public init(of trace: SpanBatch) {
        let root = trace.rootSpan() ?? 0
        var errors = 0
        var bounds = TraceBounds(start: .max, end: 0)
        for i in 0..<trace.count {
            if trace.statusCodes[i] == .error { errors += 1 }
            bounds.merge(TraceBounds(start: trace.startTimes[i], end: trace.endTimes[i]))
        }
        let services = Set(trace.resources.indices.map { trace.serviceName(ofResource: $0) })
        self.init(
            traceID: trace.traceIDs.first ?? TraceID(high: 0, low: 0),
            rootService: trace.isEmpty ? "" : trace.serviceName(ofSpan: root),
            rootName: trace.isEmpty ? "" : trace.string(trace.names[root]), start: trace.isEmpty ? 0 : bounds.start,
            end: bounds.end, spanCount: trace.count, errorCount: errors, services: services.sorted())
    }
}
