public import AriadneModel

/// A stretch of time on a trace's critical path, spent in one span (not in its children).
public struct CriticalPathSegment: Equatable, Sendable {
    public var span: Int
    public var start: UInt64
    public var end: UInt64

    public init(span: Int, start: UInt64, end: UInt64) {
        self.span = span
        self.start = start
        self.end = end
    }
}

/// The critical path of a trace as Jaeger's UI defines it: start at the root; take the child
/// that finishes last; walk into it; then step back to the child that finished last before that
/// child started; time not covered by such children belongs to the parent. Children are first
/// clipped to their parent's time, and children wholly outside it are left out.
public enum CriticalPath {
    /// The segments, by start time, for the subtree of `from` (default: the trace's first root,
    /// the earliest).
    public static func compute(_ tree: TraceTree, from: Int? = nil) -> [CriticalPathSegment] {
        guard let root = from ?? tree.roots.first else { return [] }
        let trace = tree.trace
        // Clip every span to its parent, top down; nil for spans outside their parent.
        var window = [(start: UInt64, end: UInt64)?](repeating: nil, count: trace.count)
        window[root] = (trace.startTimes[root], max(trace.startTimes[root], trace.endTimes[root]))
        var order = [root]
        var k = 0
        while k < order.count {
            let p = order[k]
            k += 1
            guard let pw = window[p] else { continue }
            for c in tree.children[p] {
                let s = trace.startTimes[c]
                let e = max(s, trace.endTimes[c])
                guard s <= pw.end, e >= pw.start else { continue }
                window[c] = (max(s, pw.start), min(e, pw.end))
                order.append(c)
            }
        }
        // Children of each span by clipped end, latest first.
        func sortedChildren(_ p: Int) -> [Int] {
            tree.children[p].filter { window[$0] != nil }.sorted { window[$0]!.end > window[$1]!.end }
        }

        var segments = [CriticalPathSegment]()
        // A frame: a span, the time its critical path must end by ("the returning child's start"),
        // and where its next candidate child is in `kids`. The time only goes down, so children
        // skipped once are never candidates again.
        struct Frame {
            var span: Int
            var until: UInt64
            var next: Int
            var kids: [Int]
        }
        var stack = [Frame(span: root, until: window[root]!.end, next: 0, kids: sortedChildren(root))]
        while var f = stack.popLast() {
            let w = window[f.span]!
            while f.next < f.kids.count, window[f.kids[f.next]]!.end > f.until { f.next += 1 }
            if f.next < f.kids.count {
                let c = f.kids[f.next]
                let cw = window[c]!
                if cw.end < f.until { segments.append(CriticalPathSegment(span: f.span, start: cw.end, end: f.until)) }
                f.next += 1
                f.until = cw.start
                stack.append(f)
                stack.append(Frame(span: c, until: cw.end, next: 0, kids: sortedChildren(c)))
            } else if w.start < f.until {
                segments.append(CriticalPathSegment(span: f.span, start: w.start, end: f.until))
            }
        }
        segments.sort { $0.start != $1.start ? $0.start < $1.start : $0.end < $1.end }
        return segments
    }
}
