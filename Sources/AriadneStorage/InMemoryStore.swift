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
        var operations: [String: Set<Operation>] = [:]
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
        guard !batch.isEmpty else { return }
        // Work out the operations outside the lock; a batch usually has few distinct ones.
        var ops = [String: Set<Operation>]()
        var serviceOfScope = [UInt32: String]()
        for i in 0..<batch.count {
            let scope = batch.scopeIndices[i]
            let service: String
            if let known = serviceOfScope[scope] {
                service = known
            } else {
                service = batch.serviceName(ofResource: Int(batch.scopes[Int(scope)].resource))
                serviceOfScope[scope] = service
            }
            let name = batch.string(batch.names[i])
            let op = Operation(name: name, kind: batch.kinds[i])
            if ops[service]?.contains(op) == true { continue }
            ops[service, default: []].insert(op)
        }
        state.withLock { s in
            let seq = s.nextSequence
            s.nextSequence += 1
            s.batches[seq] = batch
            s.spanCount += batch.count
            for i in 0..<batch.count {
                s.traceIndex[batch.traceIDs[i], default: []].append(SpanLocation(sequence: seq, index: Int32(i)))
            }
            for (service, set) in ops { s.operations[service, default: []].formUnion(set) }
            while s.spanCount > maxSpans, s.firstSequence < s.nextSequence - 1 {
                evictOldest(&s)
            }
        }
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

    public func operations(service: String, kind: SpanKind?) async throws -> [Operation] {
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
        var seen = Set<SpanID>()
        for (batch, indices) in parts {
            // Writes are idempotent as far as readers can tell: a span id appears once.
            let fresh = indices.filter { seen.insert(batch.spanIDs[$0]).inserted }
            trace.append(from: batch, indices: fresh)
        }
        return trace
    }

    public func findTraceIDs(_ query: TraceQuery) async throws -> [TraceID] {
        let matcher = SpanMatcher(query)
        var latest = [TraceID: UInt64]()
        state.withLock { s in
            for seq in s.firstSequence..<s.nextSequence {
                guard let batch = s.batches[seq] else { continue }
                for i in 0..<batch.count where matcher.matches(batch, i) {
                    let id = batch.traceIDs[i]
                    latest[id] = max(latest[id] ?? 0, batch.startTimes[i])
                }
            }
        }
        let sorted = latest.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        return sorted.prefix(max(0, query.limit)).map(\.key)
    }

    public func dependencies(window: ClosedRange<UInt64>) async throws -> [DependencyLink] {
        // Map each span to its service, then count parent→child pairs across services.
        var serviceOf = [TraceID: [SpanID: String]]()
        var edges = [(TraceID, SpanID, String)]()  // (trace, parent, child service)
        state.withLock { s in
            for seq in s.firstSequence..<s.nextSequence {
                guard let batch = s.batches[seq] else { continue }
                var cache = [UInt32: String]()
                for i in 0..<batch.count where window.contains(batch.startTimes[i]) {
                    let r = batch.scopes[Int(batch.scopeIndices[i])].resource
                    let service: String
                    if let c = cache[r] { service = c } else {
                        service = batch.serviceName(ofResource: Int(r))
                        cache[r] = service
                    }
                    serviceOf[batch.traceIDs[i], default: [:]][batch.spanIDs[i]] = service
                    if batch.parentSpanIDs[i].isValid { edges.append((batch.traceIDs[i], batch.parentSpanIDs[i], service)) }
                }
            }
        }
        var counts = [String: [String: Int]]()
        for (trace, parent, child) in edges {
            guard let p = serviceOf[trace]?[parent], p != child else { continue }
            counts[p, default: [:]][child, default: 0] += 1
        }
        return counts.flatMap { p, children in children.map { DependencyLink(parent: p, child: $0.key, callCount: $0.value) } }
            .sorted { ($0.parent, $0.child) < ($1.parent, $1.child) }
    }
}
