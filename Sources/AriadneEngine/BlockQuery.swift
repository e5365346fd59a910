import AriadneModel
import AriadneStorage

/// Searching one block: the term index narrows the query to candidate traces, which are then
/// decoded and checked span by span in the query's order until enough have matched.
extension BlockReader {
    /// Ordinals of traces that may hold a span meeting `query`'s span conditions, ascending; nil
    /// when the index cannot narrow them (every trace is a candidate).
    func candidates(_ matcher: SpanMatcher) throws -> [UInt32]? {
        guard let fields = searchFields else { return nil }
        let query = matcher.query
        var parts = [[UInt32]?]()
        func intrinsic(_ field: SpanField, _ value: String) throws -> [UInt32]? {
            try postings(BlockSearch.FieldKey.intrinsic(field)!, rare: .equal(value, nil)) { $0 == .string(value) }
        }
        if let s = query.service { parts.append(try intrinsic(.service, s)) }
        if let op = query.operation { parts.append(try intrinsic(.name, op)) }
        if let k = query.spanKind { parts.append(try intrinsic(.kind, SpanBatch.kindName(k))) }
        // Tags also match scope and link attributes, which only newer blocks index.
        let indexesTags = fields[BlockSearch.scopesAndLinksMarker] != nil
        for (key, value) in query.tags where !SpanMatcher.pseudoTags.contains(key) && indexesTags {
            let p = try ValuePredicate(op: .eq, literal: .string(value))
            parts.append(try attributeCandidates([.span, .resource, .event, .scope, .link], key, rare: RareTerms.Probe(p)) { p.matches($0) })
        }
        if let f = matcher.filter { parts.append(try candidates(f.root)) }
        return Self.intersection(parts)
    }

    private func candidates(_ node: CompiledFilter.Node) throws -> [UInt32]? {
        switch node {
        case .and(let parts): return Self.intersection(try parts.map { try candidates($0) })
        case .or(let parts):
            var lists = [[UInt32]]()
            for p in parts {
                guard let c = try candidates(p) else { return nil }
                lists.append(c)
            }
            return BlockSearch.union(lists)
        case .compare(let field, let p):
            if p.op == .notExists { return nil }
            let accept: (FilterValue) -> Bool = p.op == .exists ? { _ in true } : { p.matches($0) }
            let rare = RareTerms.Probe(p)
            if case .attribute(let scope, let key) = field { return try attributeCandidates(scope, key, rare: rare, accept) }
            guard let key = BlockSearch.FieldKey.intrinsic(field) else { return nil }  // duration
            return try postings(key, rare: rare, accept: accept)
        }
    }

    private func attributeCandidates(
        _ scope: AttributeScope, _ key: String, rare: RareTerms.Probe, _ accept: (FilterValue) -> Bool
    ) throws
        -> [UInt32]?
    {
        switch scope {
        case .span: return try attributeCandidates([.span], key, rare: rare, accept)
        case .resource: return try attributeCandidates([.resource], key, rare: rare, accept)
        case .event: return try attributeCandidates([.event], key, rare: rare, accept)
        case .any: return try attributeCandidates([.span, .resource, .event], key, rare: rare, accept)
        }
    }

    private func attributeCandidates(
        _ scopes: [BlockSearch.Scope], _ key: String, rare: RareTerms.Probe, _ accept: (FilterValue) -> Bool
    ) throws
        -> [UInt32]?
    {
        var lists = [[UInt32]]()
        for s in scopes {
            guard let list = try postings(BlockSearch.FieldKey(scope: s, key: key), rare: rare, accept: accept) else { return nil }
            lists.append(list)
        }
        return BlockSearch.union(lists)
    }

    /// The intersection of the lists that narrow anything; nil when none does.
    static func intersection(_ parts: [[UInt32]?]) -> [UInt32]? {
        var result: [UInt32]? = nil
        for case let p? in parts.sorted(by: { ($0?.count ?? .max) < ($1?.count ?? .max) }) {
            result = result.map { BlockSearch.intersect($0, p) } ?? p
        }
        return result
    }

    /// Whether the term index's candidates for `query` are exactly its matches (for traces that
    /// lie inside its time window), so that none needs reading: one condition, on the service or
    /// the operation, whose values the index lists in full (never as rare values) and which a
    /// trace meets when any of its spans does. Two conditions must hold on one span, which the
    /// trace-level lists cannot tell (kinds are listed by name, which unknown kinds share); the
    /// Jaeger UI's most common search, a service in the last hour, is one condition.
    static func indexAnswersExactly(_ query: TraceQuery) -> Bool {
        (query.service == nil) != (query.operation == nil) && query.spanKind == nil && query.tags.isEmpty && query.filter == nil
            && query.durationMin == nil && query.durationMax == nil
    }

    /// The sort key of a trace in `order` (greater comes first).
    static func key(_ e: BlockIndexEntry, _ order: TraceOrder) -> UInt64 {
        switch order {
        case .mostRecent: return e.minStart
        case .longest: return e.maxEnd >= e.minStart ? e.maxEnd - e.minStart : 0
        }
    }

    /// The greatest key any trace of this block can have.
    func bound(_ order: TraceOrder) -> UInt64 {
        order == .mostRecent ? latestTraceStart : longestTrace
    }

    /// Up to `query.limit` traces of this block that match, best first by `query.order`, with
    /// their bounds here. Candidates whose key falls below `threshold` are not checked: better
    /// traces are already known. `skip` names traces to leave out (deleted ones).
    func search(
        _ query: TraceQuery, matcher: SpanMatcher, threshold: UInt64?, skip: Set<TraceID>
    ) throws
        -> [TraceID: TraceBounds]
    {
        let listed = try candidates(matcher)
        let ordinals: [Int] = listed.map { $0.map(Int.init) } ?? Array(entries.indices)
        let exact = listed != nil && Self.indexAnswersExactly(query)
        var eligible = ordinals.filter { o in
            let e = entries[o]
            if let lo = query.startMin, e.maxEnd < lo { return false }
            if let hi = query.startMax, e.minStart > hi { return false }
            return query.acceptsTrace(start: e.minStart, end: e.maxEnd) && !skip.contains(e.traceID)
        }
        eligible.sort { a, b in
            let (ka, kb) = (Self.key(entries[a], query.order), Self.key(entries[b], query.order))
            return ka != kb ? ka > kb : entries[a].traceID < entries[b].traceID
        }
        var found = [TraceID: TraceBounds]()
        // Candidates are read with the attributes the matcher looks at and no others.
        let attributeKeys = matcher.attributeKeys
        // Candidates come in key order, not chunk order: keep the chunks decompressed so far.
        var chunkCache = [UInt32: LoadedChunk]()
        // A chunk is parsed only through the last of its candidates.
        var lastCandidate = [UInt32: UInt32]()
        for o in eligible { lastCandidate[entries[o].chunk] = max(lastCandidate[entries[o].chunk] ?? 0, entries[o].offset) }
        for (k, o) in eligible.enumerated() {
            if found.count >= query.limit { break }
            if k % 256 == 255 { try Task.checkCancellation() }
            let e = entries[o]
            if let threshold, Self.key(e, query.order) < threshold { break }
            // Every span of the trace starts inside the window: the index's answer is the answer.
            if exact, e.minStart >= query.startMin ?? 0, e.maxEnd <= query.startMax ?? .max {
                found[e.traceID] = TraceBounds(start: e.minStart, end: e.maxEnd)
                continue
            }
            let chunk: LoadedChunk
            if let cached = chunkCache[e.chunk] {
                chunk = cached
            } else {
                chunk = try loadChunk(Int(e.chunk), through: lastCandidate[e.chunk], attributeKeys: attributeKeys)
                if chunkCache.count >= 16 { chunkCache.removeAll() }
                chunkCache[e.chunk] = chunk
            }
            let trace = try chunk.trace(at: Int(e.offset))
            if matcher.matchesAny(trace) { found[e.traceID] = TraceBounds(start: e.minStart, end: e.maxEnd) }
        }
        return found
    }
}
