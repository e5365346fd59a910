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
    public init(_ matcher: SpanMatcher) { self.matcher = matcher }

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

/// Builds ``DependencyLink``s across any number of batches (a parent may arrive in a different
/// batch from its child). A span seen twice counts once.
public struct DependencyCounter {
    let window: ClosedRange<UInt64>
    let step: UInt64?
    struct Entry {
        var service: String
        var parent: SpanID
        /// The span a consumer's link points at (its producer), when it has one.
        var linked: SpanID
        var kind: SpanKind
        var start: UInt64
        var duration: UInt64
        var isError: Bool
        /// For client and producer spans: what they call, if their attributes name it.
        var peer: (name: String, type: String)?
    }
    /// Per trace: each span's service, parent, duration and status.
    var spans: [TraceID: [SpanID: Entry]] = [:]

    public init(window: ClosedRange<UInt64>, step: UInt64? = nil) {
        self.window = window
        self.step = step.map { max(1, $0) }
    }

    public mutating func add(_ batch: SpanBatch) {
        let services = batch.serviceNamesByScope()
        for i in 0..<batch.count where window.contains(batch.startTimes[i]) {
            let service = services[Int(batch.scopeIndices[i])]
            let kind = batch.kinds[i]
            spans[batch.traceIDs[i], default: [:]][batch.spanIDs[i]] = Entry(
                service: service, parent: batch.parentSpanIDs[i], linked: kind == .consumer ? Self.linkedSpan(batch, i) : .zero,
                kind: kind, start: batch.startTimes[i], duration: batch.duration(ofSpan: i), isError: batch.statusCodes[i] == .error,
                peer: DependencyPeer.of(batch, i))
        }
    }

    /// The span that span `i` links to within its own trace (its first such link), or zero: what
    /// names a consumer's producer. Stores that keep spans as columns keep this one.
    public static func linkedSpan(_ batch: SpanBatch, _ i: Int) -> SpanID {
        batch.links[batch.linkRanges[i].indices].first { $0.traceID == batch.traceIDs[i] }?.spanID ?? .zero
    }

    /// Adds one span given by its fields, for stores that read columns rather than batches;
    /// `linked` is the span id of its first link within the trace (zero without one).
    public mutating func add(
        traceID: TraceID, spanID: SpanID, parent: SpanID, linked: SpanID, service: String, kind: SpanKind, start: UInt64,
        duration: UInt64, isError: Bool, peer: (name: String, type: String)?
    ) {
        guard window.contains(start) else { return }
        spans[traceID, default: [:]][spanID] = Entry(
            service: service, parent: parent, linked: kind == .consumer ? linked : .zero, kind: kind, start: start, duration: duration,
            isError: isError, peer: peer)
    }

    /// Links sorted by parent then child.
    public func links() -> [DependencyLink] {
        struct Key: Hashable {
            var parent: String
            var child: String
            var type: String
        }
        struct Edge {
            var calls = 0
            var errors = 0
            var durations: [UInt64] = []
            var windows: [Int: (calls: Int, errors: Int)] = [:]
        }
        var edges = [Key: Edge]()
        func count(_ key: Key, _ e: Entry, duration: UInt64) {
            var edge = edges[key] ?? Edge()
            edge.calls += 1
            if e.isError { edge.errors += 1 }
            edge.durations.append(duration)
            if let step {
                let w = Int((e.start - window.lowerBound) / step)
                edge.windows[w, default: (0, 0)].calls += 1
                if e.isError { edge.windows[w]!.errors += 1 }
            }
            edges[key] = edge
        }
        for trace in spans.values {
            var callsOut = Set<SpanID>()  // spans with a child (or linked consumer) in another service
            for (_, child) in trace {
                // A consumer reached through a queue names its producer by a link when its parent is
                // not the producer; either way the edge is producer → consumer.
                var caller = child.parent.isValid ? trace[child.parent] : nil
                var callerID = child.parent
                if child.kind == .consumer, child.linked.isValid, let producer = trace[child.linked],
                    caller == nil || caller!.service == child.service
                {
                    caller = producer
                    callerID = child.linked
                }
                guard let parent = caller, parent.service != child.service else { continue }
                callsOut.insert(callerID)
                let messaging = parent.kind == .producer || child.kind == .consumer
                count(Key(parent: parent.service, child: child.service, type: messaging ? "messaging_system" : ""), child, duration: child.duration)
            }
            for (id, span) in trace where !callsOut.contains(id) {
                guard let peer = span.peer, peer.name != span.service else { continue }
                count(Key(parent: span.service, child: peer.name, type: peer.type), span, duration: span.duration)
            }
        }
        return edges.map { key, e in
            let sorted = e.durations.sorted()
            var series = [DependencyLink.WindowCount]()
            if let step {
                let n = Int((window.upperBound - window.lowerBound) / step) + 1
                series = (0..<n).map { w in
                    let c = e.windows[w] ?? (0, 0)
                    return DependencyLink.WindowCount(start: window.lowerBound + UInt64(w) * step, calls: c.calls, errors: c.errors)
                }
            }
            return DependencyLink(
                parent: key.parent, child: key.child, callCount: e.calls, errorCount: e.errors, p50Duration: sorted.nearestRank(0.5),
                p95Duration: sorted.nearestRank(0.95), p99Duration: sorted.nearestRank(0.99), connectionType: key.type, series: series)
        }.sorted { ($0.parent, $0.child, $0.connectionType) < ($1.parent, $1.child, $1.connectionType) }
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
    public init(of trace: SpanBatch) { self.init(of: trace, rows: 0..<trace.count) }

    /// The summary of the trace made of rows `rows` of `batch` (all of one trace).
    public init(of batch: SpanBatch, rows: some Collection<Int>) {
        let root = batch.rootSpan(among: rows) ?? rows.first ?? 0
        var errors = 0
        var bounds = TraceBounds(start: .max, end: 0)
        for i in rows {
            if batch.statusCodes[i] == .error { errors += 1 }
            bounds.merge(TraceBounds(start: batch.startTimes[i], end: batch.endTimes[i]))
        }
        let services = Set(batch.resources(ofScopes: batch.scopes(of: rows)).map { batch.serviceName(ofResource: $0) })
        self.init(
            traceID: rows.first.map { batch.traceIDs[$0] } ?? TraceID(high: 0, low: 0),
            rootService: rows.isEmpty ? "" : batch.serviceName(ofSpan: root),
            rootName: rows.isEmpty ? "" : batch.string(batch.names[root]), start: rows.isEmpty ? 0 : bounds.start,
            end: bounds.end, spanCount: rows.count, errorCount: errors, services: services.sorted())
    }
}
