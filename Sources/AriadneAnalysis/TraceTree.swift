public import AriadneModel

/// One trace's spans as a tree: each span's parent and children, by index into the batch.
/// A span whose parent is not in the trace is a root; a repeated span id keeps its first span.
public struct TraceTree: Sendable {
    public let trace: SpanBatch
    /// The parent of each span, or -1 for a root.
    public let parents: [Int]
    /// The children of each span, by start time.
    public let children: [[Int]]
    /// Spans without a parent in the trace, by start time (longest first among equal starts).
    public let roots: [Int]

    public init(_ trace: SpanBatch) {
        self.trace = trace
        var byID = [SpanID: Int](minimumCapacity: trace.count)
        for i in 0..<trace.count where byID[trace.spanIDs[i]] == nil { byID[trace.spanIDs[i]] = i }
        var parents = [Int](repeating: -1, count: trace.count)
        var children = [[Int]](repeating: [], count: trace.count)
        var roots = [Int]()
        for i in 0..<trace.count {
            if let p = byID[trace.parentSpanIDs[i]], p != i, trace.parentSpanIDs[i].isValid {
                parents[i] = p
                children[p].append(i)
            } else {
                roots.append(i)
            }
        }
        let earlier = { (a: Int, b: Int) -> Bool in
            trace.startTimes[a] != trace.startTimes[b]
                ? trace.startTimes[a] < trace.startTimes[b] : trace.endTimes[a] > trace.endTimes[b]
        }
        for i in children.indices where children[i].count > 1 { children[i].sort(by: earlier) }
        roots.sort(by: earlier)
        // A parent cycle (a → b → a) leaves spans unreachable from any root: make them roots so
        // that every span is shown and every walk ends.
        var reached = [Bool](repeating: false, count: trace.count)
        var stack = roots
        while let i = stack.popLast() {
            reached[i] = true
            stack.append(contentsOf: children[i])
        }
        for i in 0..<trace.count where !reached[i] {
            let p = parents[i]
            if p >= 0 { children[p].removeAll { $0 == i } }
            parents[i] = -1
            roots.append(i)
            stack = [i]
            while let j = stack.popLast() {
                reached[j] = true
                stack.append(contentsOf: children[j].filter { !reached[$0] })
            }
        }
        self.parents = parents
        self.children = children
        self.roots = roots
    }

    /// Spans in depth-first order (each span before its children, children by start time) with
    /// their depth: the order of a timeline.
    public func depthFirst() -> [(span: Int, depth: Int)] {
        var out = [(span: Int, depth: Int)]()
        out.reserveCapacity(trace.count)
        var stack = roots.reversed().map { ($0, 0) }
        while let (i, d) = stack.popLast() {
            out.append((i, d))
            for c in children[i].reversed() { stack.append((c, d + 1)) }
        }
        return out
    }

    public func duration(_ i: Int) -> UInt64 { trace.duration(ofSpan: i) }
}
