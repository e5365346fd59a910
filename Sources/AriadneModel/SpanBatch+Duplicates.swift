extension SpanBatch {
    /// Positions of the spans that are not exact copies of an earlier span in this batch, in
    /// order; nil when every span is distinct.
    ///
    /// Two spans are copies when everything about them is equal — ids, times, name, attributes,
    /// events, links, status, resource and scope — as Jaeger's dedup adjuster decides by a hash
    /// of the whole span. Spans that share a span id but differ (a client retrying with another
    /// start, a buggy SDK reusing ids) are all kept: removing one would hide real data. The
    /// whole spans are compared only where span ids collide, so the common case costs one
    /// dictionary insert per span.
    public func distinctSpanIndices() -> [Int]? {
        // A trace as a block is cut has a few spans: comparing ids pairwise costs less than
        // building a dictionary, and almost always finds no collision at all.
        if count <= 32, !(1..<max(count, 1)).contains(where: { i in spanIDs[..<i].contains(spanIDs[i]) }) { return nil }
        var firstByID = [SpanID: Int](minimumCapacity: count)
        var colliding = [SpanID: [Span]]()
        var drop = [Int]()
        for i in 0..<count {
            let id = spanIDs[i]
            guard let first = firstByID[id] else {
                firstByID[id] = i
                continue
            }
            let span = span(at: i)
            var kept = colliding[id] ?? [self.span(at: first)]
            if kept.contains(span) {
                drop.append(i)
            } else {
                kept.append(span)
            }
            colliding[id] = kept
        }
        guard !drop.isEmpty else { return nil }
        let dropped = Set(drop)
        return (0..<count).filter { !dropped.contains($0) }
    }

    /// This batch without exact copies of a span (see ``distinctSpanIndices()``).
    public func removingExactDuplicates() -> SpanBatch {
        distinctSpanIndices().map { selecting($0) } ?? self
    }
}
