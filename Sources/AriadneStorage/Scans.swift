public import AriadneModel

/// Collects the traces a search matches while batches are scanned, remembering the latest start
/// of each trace's matching spans (the order "most recent first" sorts by).
public struct TraceMatches {
    let matcher: SpanMatcher
    public private(set) var latest: [TraceID: UInt64] = [:]

    public init(_ query: TraceQuery) { matcher = SpanMatcher(query) }

    public mutating func scan(_ batch: SpanBatch) {
        for i in 0..<batch.count where matcher.matches(batch, i) {
            let id = batch.traceIDs[i]
            latest[id] = max(latest[id] ?? 0, batch.startTimes[i])
        }
    }

    /// Ids by latest matching start, newest first, then by id; at most `limit`.
    public static func mostRecent(_ latest: [TraceID: UInt64], limit: Int) -> [TraceID] {
        latest.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(max(0, limit)).map(\.key)
    }
}

/// Counts calls between services from parent/child spans, across any number of batches (a
/// parent may arrive in a different batch from its child). A span seen twice counts once.
public struct DependencyCounter {
    let window: ClosedRange<UInt64>
    /// Per trace: each span's service and parent.
    var spans: [TraceID: [SpanID: (service: String, parent: SpanID)]] = [:]

    public init(window: ClosedRange<UInt64>) { self.window = window }

    public mutating func add(_ batch: SpanBatch) {
        let services = batch.serviceNamesByScope()
        for i in 0..<batch.count where window.contains(batch.startTimes[i]) {
            let service = services[Int(batch.scopeIndices[i])]
            spans[batch.traceIDs[i], default: [:]][batch.spanIDs[i]] = (service, batch.parentSpanIDs[i])
        }
    }

    /// Parent→child call counts between different services, sorted by parent then child.
    public func links() -> [DependencyLink] {
        var counts = [String: [String: Int]]()
        for trace in spans.values {
            for (child, parentID) in trace.values where parentID.isValid {
                guard let parent = trace[parentID]?.service, parent != child else { continue }
                counts[parent, default: [:]][child, default: 0] += 1
            }
        }
        return counts.flatMap { p, children in children.map { DependencyLink(parent: p, child: $0.key, callCount: $0.value) } }
            .sorted { ($0.parent, $0.child) < ($1.parent, $1.child) }
    }
}
