public import AriadneModel
import Synchronization

/// Service-graph metrics at ingest, as Tempo's metrics-generator and the Collector's
/// servicegraph connector expose them: a call is a span whose parent is in another service (or a
/// consumer whose link names a producer in another service), paired as the two halves arrive, in
/// any order and in different batches. A client or producer span that stays unpaired past `wait`
/// (its callee sends no spans) is a call to a leaf node named by its attributes, as in
/// ``DependencyCounter`` (the query-time graph), so both graphs agree.
public final class ServiceGraphMetrics: Sendable {
    public struct Edge: Hashable, Sendable, Comparable {
        public var client: String
        public var server: String
        /// "" between services; "messaging_system", "database", "cache", "messaging", "external".
        public var connectionType: String

        public static func < (a: Edge, b: Edge) -> Bool {
            (a.client, a.server, a.connectionType) < (b.client, b.server, b.connectionType)
        }
    }

    public struct Totals: Sendable, Equatable {
        public var requests: UInt64 = 0
        public var failed: UInt64 = 0
        /// The callee's span durations (for a leaf, the caller's: nothing else timed it).
        public var server = LatencyHistogram()
        /// The caller's span durations.
        public var client = LatencyHistogram()

        mutating func add(failed f: Bool, server s: UInt64, client c: UInt64) {
            requests += 1
            if f { failed += 1 }
            server.record(nanoseconds: s)
            client.record(nanoseconds: c)
        }
    }

    /// One span waiting for its other half. Every span is held for `wait`, so it is kept small:
    /// names are indices into the interned ``State/names``.
    struct Half {
        var service: UInt32
        /// The leaf it calls, if unpaired: name and type indices; `none` when it names none.
        var peerName: UInt32
        var peerType: UInt32
        var kind: SpanKind
        var failed: Bool
        var paired = false
        var duration: UInt64
        var arrived: UInt64

        static let none = UInt32.max
    }

    struct Key: Hashable {
        var trace: TraceID
        var span: SpanID

        /// One word hashed, not three: span ids are random already, and every span is looked
        /// up here at ingest.
        func hash(into hasher: inout Hasher) { hasher.combine(span.value ^ trace.low) }
    }

    /// An edge by interned names: counted without hashing strings.
    struct EdgeID: Hashable {
        var client: UInt32
        var server: UInt32
        var connectionType: UInt32
    }

    struct State {
        /// The two connection types of calls between services come first: 0 "" and 1 "messaging_system".
        var names: [String] = ["", "messaging_system"]
        var nameIndex: [String: UInt32] = ["": 0, "messaging_system": 1]
        /// Spans that may still be a caller, by their id.
        var callers: [Key: Half] = [:]
        /// Spans whose parent (or linked producer) has not arrived, by that parent's id.
        var waiting: [Key: [Half]] = [:]
        var waitingCount = 0
        var edges: [EdgeID: Totals] = [:]

        mutating func intern(_ name: String) -> UInt32 {
            if let i = nameIndex[name] { return i }
            names.append(name)
            nameIndex[name] = UInt32(names.count - 1)
            return UInt32(names.count - 1)
        }

        /// One lookup per call counted, in place.
        mutating func count(_ edge: EdgeID, failed: Bool, server: UInt64, client: UInt64) {
            edges[edge, default: Totals()].add(failed: failed, server: server, client: client)
        }
    }

    /// How long a half waits for the other (the connector's `store.ttl`).
    public let wait: UInt64
    /// Spans held at most; beyond it the oldest are let go as if expired (the connector's `max_items`).
    public let maxItems: Int
    private let state = Mutex(State())

    public init(wait: Duration = .seconds(10), maxItems: Int = 100_000) {
        self.wait = UInt64(wait.inSeconds * 1e9)
        self.maxItems = maxItems
    }

    /// Pairs the spans of `batch` with what arrived before. `now`: arrival time, Unix ns.
    public func record(_ batch: SpanBatch, now: UInt64) {
        guard !batch.isEmpty else { return }
        let services = batch.serviceNamesByScope()
        var halves = [(Key, Key?, Half, scope: Int, peer: (name: String, type: String)?)]()
        halves.reserveCapacity(batch.count)
        for i in 0..<batch.count {
            let kind = batch.kinds[i]
            var parent = batch.parentSpanIDs[i]
            if kind == .consumer, let link = batch.links[batch.linkRanges[i].indices].first(where: { $0.traceID == batch.traceIDs[i] }) {
                parent = link.spanID
            }
            let half = Half(
                service: Half.none, peerName: Half.none, peerType: Half.none, kind: kind, failed: batch.statusCodes[i] == .error,
                duration: batch.duration(ofSpan: i), arrived: now)
            let trace = batch.traceIDs[i]
            halves.append(
                (
                    Key(trace: trace, span: batch.spanIDs[i]), parent.isValid ? Key(trace: trace, span: parent) : nil, half,
                    Int(batch.scopeIndices[i]), DependencyPeer.of(batch, i)
                ))
        }
        state.withLock { s in
            // Interned once per scope, not per span: hashing names would cost more than the pairing.
            let serviceOfScope = services.map { s.intern($0) }
            for (key, parentKey, half, scope, peer) in halves {
                var me = half
                me.service = serviceOfScope[scope]
                if let peer {
                    me.peerName = s.intern(peer.name)
                    me.peerType = s.intern(peer.type)
                }
                // Children that arrived first.
                if let children = s.waiting.removeValue(forKey: key) {
                    s.waitingCount -= children.count
                    for c in children where c.service != me.service {
                        Self.count(&s, caller: me, callee: c)
                        me.paired = true
                    }
                }
                if let parentKey {
                    if var p = s.callers[parentKey] {
                        if p.service != me.service {
                            Self.count(&s, caller: p, callee: me)
                            p.paired = true
                            s.callers[parentKey] = p
                        }
                    } else {
                        s.waiting[parentKey, default: []].append(me)
                        s.waitingCount += 1
                    }
                }
                s.callers[key] = me
            }
            if s.callers.count + s.waitingCount > maxItems { expire(&s, before: .max, keep: maxItems / 2) }
        }
    }

    /// Lets go of halves older than `wait`: unpaired client and producer spans become calls to
    /// their leaf node.
    public func expire(now: UInt64) {
        state.withLock { s in expire(&s, before: now > wait ? now - wait : 0, keep: 0) }
    }

    private func expire(_ s: inout State, before cutoff: UInt64, keep: Int) {
        var limit = cutoff
        if keep > 0, s.callers.count > keep {
            // Over the bound: all but the newest `keep` go, whatever their age. Ties at the boundary
            // go too, so that one batch larger than the bound cannot keep every later call sorting.
            let times = s.callers.values.map(\.arrived).sorted()
            limit = times[times.count - keep - 1] &+ 1
        }
        // Removed after the walk: removing while iterating made the dictionary copy itself whole
        // (100k entries, on every expiry) — a third of the server's fresh pages under load.
        var gone = [Key]()
        for (key, half) in s.callers where half.arrived < limit {
            if !half.paired, half.kind == .client || half.kind == .producer, half.peerName != Half.none, half.peerName != half.service {
                s.count(
                    EdgeID(client: half.service, server: half.peerName, connectionType: half.peerType), failed: half.failed,
                    server: half.duration, client: half.duration)
            }
            gone.append(key)
        }
        for key in gone { s.callers[key] = nil }
        gone.removeAll(keepingCapacity: true)
        for (key, children) in s.waiting where children.allSatisfy({ $0.arrived < limit }) {
            gone.append(key)
            s.waitingCount -= children.count
        }
        for key in gone { s.waiting[key] = nil }
    }

    private static func count(_ s: inout State, caller: Half, callee: Half) {
        let messaging = caller.kind == .producer || callee.kind == .consumer
        s.count(
            EdgeID(client: caller.service, server: callee.service, connectionType: messaging ? 1 : 0), failed: caller.failed || callee.failed,
            server: callee.duration, client: caller.duration)
    }

    /// Calls per edge since this process started.
    public func totals() -> [(edge: Edge, totals: Totals)] {
        let (edges, names) = state.withLock { ($0.edges, $0.names) }
        return edges.map { id, t in
            (Edge(client: names[Int(id.client)], server: names[Int(id.server)], connectionType: names[Int(id.connectionType)]), t)
        }.sorted { $0.edge < $1.edge }
    }

    /// Spans held waiting for their other half.
    public var held: Int { state.withLock { $0.callers.count + $0.waitingCount } }
}
