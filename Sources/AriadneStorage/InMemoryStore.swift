public import AriadneModel
import Synchronization

/// A store that keeps batches in memory, for tests, demos and the all-in-one until the embedded
/// engine lands. Nothing survives a restart.
///
/// It keeps the batches it was given (no per-span objects) and an index from trace id to span
/// positions. When more than `maxSpans` spans are held, the oldest batches are dropped whole.
public final class InMemoryStore: TraceStore {
    struct SpanLocation {
        var sequence: Int
        var index: Int32
    }

    struct State {
        var batches: [Int: SpanBatch] = [:]
        var firstSequence = 0
        var nextSequence = 0
        var traceIndex: [TraceID: [SpanLocation]] = [:]
        var operations: [String: Set<SpanOperation>] = [:]
        var spanCount = 0
    }

    public let maxSpans: Int
    private let state = Mutex(State())

    public init(maxSpans: Int = 1_000_000) {
        self.maxSpans = maxSpans
    }

    /// Spans currently held.
    public var spanCount: Int { state.withLock { $0.spanCount } }

    public func write(_ batch: SpanBatch) async throws {
        insert(batch)
    }

    /// `write` without suspension: the batch is visible to readers when this returns.
    public func insert(_ batch: SpanBatch) {
        guard !batch.isEmpty else { return }
        var batch = batch
        batch.shrinkToFit()
        // Worked out outside the lock; a batch usually has few distinct ones.
        let ops = batch.operationsByService()
        state.withLock { s in
            let seq = s.nextSequence
            s.nextSequence += 1
            s.batches[seq] = batch
            s.spanCount += batch.count
            // A trace's spans mostly come together: one lookup per run of them.
            var i = 0
            while i < batch.count {
                let id = batch.traceIDs[i]
                var end = i + 1
                while end < batch.count, batch.traceIDs[end] == id { end += 1 }
                s.traceIndex[id, default: []].append(contentsOf: (i..<end).lazy.map { SpanLocation(sequence: seq, index: Int32($0)) })
                i = end
            }
            for (service, set) in ops { s.operations[service, default: []].formUnion(set) }
            while s.spanCount > maxSpans, s.firstSequence < s.nextSequence - 1 {
                evictOldest(&s)
            }
        }
    }

    /// Whether any span of trace `id` is held.
    public func contains(_ id: TraceID) -> Bool {
        state.withLock { $0.traceIndex[id] != nil }
    }

    /// Every batch held, oldest first.
    public func allBatches() -> [SpanBatch] {
        state.withLock { s in (s.firstSequence..<s.nextSequence).compactMap { s.batches[$0] } }
    }

    private func evictOldest(_ s: inout State) {
        let seq = s.firstSequence
        s.firstSequence += 1
        guard let old = s.batches.removeValue(forKey: seq) else { return }
        s.spanCount -= old.count
        for id in Set(old.traceIDs) {
            guard var locs = s.traceIndex[id] else { continue }
            locs.removeAll { $0.sequence == seq }
            s.traceIndex[id] = locs.isEmpty ? nil : locs
        }
    }

    public func services() async throws -> [String] {
        state.withLock { Array($0.operations.keys) }.sorted()
    }

    public func operations(service: String, kind: SpanKind?) async throws -> [SpanOperation] {
        let all = state.withLock { $0.operations[service] ?? [] }
        return all.filter { kind == nil || $0.kind == kind }.sorted()
    }

    public func trace(id: TraceID, window: ClosedRange<UInt64>?) async throws -> SpanBatch? {
        let parts: [(SpanBatch, [Int])] = state.withLock { s in
            guard let locs = s.traceIndex[id] else { return [] }
            var bySequence = [Int: [Int]]()
            for l in locs { bySequence[l.sequence, default: []].append(Int(l.index)) }
            return bySequence.keys.sorted().compactMap { seq in s.batches[seq].map { ($0, bySequence[seq]!) } }
        }
        guard !parts.isEmpty else { return nil }
        if let window {
            let inside = parts.contains { batch, indices in indices.contains { window.contains(batch.startTimes[$0]) } }
            guard inside else { return nil }
        }
        var trace = SpanBatch()
        for (batch, indices) in parts { trace.append(from: batch, indices: indices) }
        // Writes are idempotent as far as readers can tell: an exact copy of a span appears once.
        return trace.removingExactDuplicates()
    }

    public func findTraceIDs(matching matcher: SpanMatcher) async throws -> [TraceID] {
        TraceMatches.ranked(try matchingTraces(matcher), matcher.query)
    }

    /// Every trace with a span matching `matcher`'s span conditions, with the bounds of all its
    /// spans. The batches are scanned outside the lock (they are values), so that a long search
    /// never holds up writers; throws `CancellationError` when the task is cancelled.
    public func matchingTraces(_ matcher: SpanMatcher) throws -> [TraceID: TraceBounds] {
        var matches = TraceMatches(matcher)
        let snapshot = state.withLock { s in (s.firstSequence..<s.nextSequence).compactMap { s.batches[$0] } }
        for (k, batch) in snapshot.enumerated() {
            if k % 16 == 0 { try Task.checkCancellation() }
            matches.scan(batch)
        }
        return state.withLock { s in
            var hits = [TraceID: TraceBounds]()
            for id in matches.ids {
                var bounds = TraceBounds(start: .max, end: 0)
                for l in s.traceIndex[id] ?? [] {
                    guard let batch = s.batches[l.sequence] else { continue }
                    bounds.merge(TraceBounds(start: batch.startTimes[Int(l.index)], end: batch.endTimes[Int(l.index)]))
                }
                // Evicted meanwhile: gone.
                if bounds.start != .max { hits[id] = bounds }
            }
            return hits
        }
    }

    public func dependencies(window: ClosedRange<UInt64>, step: UInt64?) async throws -> [DependencyLink] {
        var counter = DependencyCounter(window: window, step: step)
        let snapshot = state.withLock { s in (s.firstSequence..<s.nextSequence).compactMap { s.batches[$0] } }
        for (k, batch) in snapshot.enumerated() {
            if k % 16 == 0 { try Task.checkCancellation() }
            counter.add(batch)
        }
        return counter.links()
    }
}
