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

    struct Key: Hashable, CheaplyHashed {
        var trace: TraceID
        var span: SpanID

        var cheapHash: UInt64 { span.value ^ trace.low }

        /// One word hashed, not three: span ids are random already, and every span is looked
        /// up here at ingest.
        func hash(into hasher: inout Hasher) { hasher.combine(cheapHash) }
    }

    /// Every span's half by its key, open-addressed: a Swift dictionary's seeded hashing of each
    /// key was a twelfth of the receive path, and entries go only all together, at an expiry
    /// (which rebuilds the table from what stays), so no removal is needed.
    struct HalfTable {
        private(set) var keys = [Key]()
        private(set) var halves = [Half]()
        /// 0: empty; else the entry's number + 1 in the high half and its key's tag in the low
        /// one. The table is larger than the caches and every span is inserted: a slot whose tag
        /// differs is passed over without reading its key, a cache miss less per probe.
        private var slots = [UInt64](repeating: 0, count: 1 << 10)

        var count: Int { keys.count }

        private static func tag(_ key: Key) -> UInt64 { key.cheapHash >> 32 }

        private func slot(_ key: Key) -> (slot: Int, found: Bool) {
            let mask = slots.count - 1
            // Span ids are random: a multiply spreads the bits the mask keeps.
            var s = Int(truncatingIfNeeded: (key.cheapHash &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
            let tag = Self.tag(key)
            while true {
                let v = slots[s]
                if v == 0 { return (s, false) }
                if v & 0xFFFF_FFFF == tag, keys[Self.entry(v)] == key { return (s, true) }
                s = (s + 1) & mask
            }
        }

        private static func entry(_ slot: UInt64) -> Int { Int(slot >> 32) - 1 }

        private mutating func place(_ e: Int, at s: Int) { slots[s] = UInt64(e + 1) << 32 | Self.tag(keys[e]) }

        subscript(key: Key) -> Half? {
            get {
                let (s, found) = slot(key)
                return found ? halves[Self.entry(slots[s])] : nil
            }
            set {
                guard let half = newValue else { preconditionFailure("halves leave only through keep(_:)") }
                let (s, found) = slot(key)
                if found {
                    halves[Self.entry(slots[s])] = half
                    return
                }
                keys.append(key)
                halves.append(half)
                place(keys.count - 1, at: s)
                if keys.count * 2 > slots.count { rehash(slots.count * 2) }
            }
        }

        /// Keeps the halves that `isKept` says so of, and lets the rest go. In place: new arrays
        /// of this size each expiry came from fresh pages, and their faults and copies were most
        /// of the expiry.
        mutating func keep(_ isKept: (Half) -> Bool) {
            var kept = 0
            for e in halves.indices where isKept(halves[e]) {
                keys[kept] = keys[e]
                halves[kept] = halves[e]
                kept += 1
            }
            keys.removeLast(keys.count - kept)
            halves.removeLast(halves.count - kept)
            var size = 1 << 10
            while keys.count * 2 > size { size *= 2 }
            rehash(size)
        }

        private mutating func rehash(_ size: Int) {
            if size == slots.count {
                slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            } else {
                slots = [UInt64](repeating: 0, count: size)
            }
            for (e, key) in keys.enumerated() { place(e, at: slot(key).slot) }
        }
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
        var callers = HalfTable()
        /// Spans whose parent (or linked producer) has not arrived, by that parent's id.
        var waiting: [Key: [Half]] = [:]
        var waitingCount = 0
        /// A bit per hash of each key in `waiting` (set while it is there; cleared only when
        /// expiry rebuilds it): most spans have no child waiting, and are then not looked up.
        var waitingBits = [UInt64](repeating: 0, count: 1 << 10)

        private static func bit(_ key: Key) -> Int { Int(truncatingIfNeeded: (key.cheapHash &* 0x9E37_79B9_7F4A_7C15) >> 48) }

        func mayWait(for key: Key) -> Bool {
            let b = Self.bit(key)
            return waitingCount > 0 && waitingBits[b >> 6] & 1 << UInt64(b & 63) != 0
        }

        mutating func wait(_ child: Half, for parent: Key) {
            waiting[parent, default: []].append(child)
            waitingCount += 1
            let b = Self.bit(parent)
            waitingBits[b >> 6] |= 1 << UInt64(b & 63)
        }

        mutating func rebuildWaitingBits() {
            for w in waitingBits.indices { waitingBits[w] = 0 }
            for key in waiting.keys {
                let b = Self.bit(key)
                waitingBits[b >> 6] |= 1 << UInt64(b & 63)
            }
        }
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

    /// Pairs the spans of `batch` with each other and with what arrived before. `now`: arrival
    /// time, Unix ns.
    public func record(_ batch: SpanBatch, now: UInt64) {
        guard !batch.isEmpty else { return }
        let n = batch.count
        let services = batch.serviceNumbers()
        var keys = [Key]()
        var parents = [Key?]()
        var halves = [Half]()
        var peers = [(name: String, type: String)?]()
        keys.reserveCapacity(n)
        parents.reserveCapacity(n)
        halves.reserveCapacity(n)
        peers.reserveCapacity(n)
        for i in 0..<n {
            let kind = batch.kinds[i]
            var parent = batch.parentSpanIDs[i]
            if kind == .consumer, let link = batch.links[batch.linkRanges[i].indices].first(where: { $0.traceID == batch.traceIDs[i] }) {
                parent = link.spanID
            }
            let trace = batch.traceIDs[i]
            keys.append(Key(trace: trace, span: batch.spanIDs[i]))
            parents.append(parent.isValid ? Key(trace: trace, span: parent) : nil)
            halves.append(
                Half(
                    service: Half.none, peerName: Half.none, peerType: Half.none, kind: kind, failed: batch.statusCodes[i] == .error,
                    duration: batch.duration(ofSpan: i), arrived: now))
            peers.append(DependencyPeer.of(batch, i))
        }
        // Most calls have both halves in one batch (an SDK exports a trace's spans together):
        // those pair here, by row, and only the rest look into the halves held from before.
        let parentRows = Self.rows(of: parents, among: keys)
        state.withLock { s in
            // Interned once per service, not per span: hashing names would cost more than the pairing.
            let interned = services.names.map { s.intern($0) }
            for i in 0..<n {
                halves[i].service = interned[Int(services.ofScope[Int(batch.scopeIndices[i])])]
                if let peer = peers[i] {
                    halves[i].peerName = s.intern(peer.name)
                    halves[i].peerType = s.intern(peer.type)
                }
            }
            for i in 0..<n {
                let r = parentRows[i]
                if r >= 0 {
                    if halves[r].service != halves[i].service {
                        Self.count(&s, caller: halves[r], callee: halves[i])
                        halves[r].paired = true
                    }
                } else if let parentKey = parents[i] {
                    if var p = s.callers[parentKey] {
                        if p.service != halves[i].service {
                            Self.count(&s, caller: p, callee: halves[i])
                            p.paired = true
                            s.callers[parentKey] = p
                        }
                    } else {
                        s.wait(halves[i], for: parentKey)
                    }
                }
            }
            for i in 0..<n {
                // Children that arrived before, in earlier batches.
                if s.mayWait(for: keys[i]), let children = s.waiting.removeValue(forKey: keys[i]) {
                    s.waitingCount -= children.count
                    for c in children where c.service != halves[i].service {
                        Self.count(&s, caller: halves[i], callee: c)
                        halves[i].paired = true
                    }
                }
                s.callers[keys[i]] = halves[i]
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
            // Halves are held in arrival order unless the clock stepped back: the bound is then
            // read off rather than selected.
            let halves = s.callers.halves
            if zip(halves, halves.dropFirst()).allSatisfy({ $0.arrived <= $1.arrived }) {
                limit = halves[halves.count - keep - 1].arrived &+ 1
            } else {
                var times = halves.map(\.arrived)
                limit = Self.nthSmallest(&times, times.count - keep - 1) &+ 1
            }
        }
        for half in s.callers.halves where half.arrived < limit {
            if !half.paired, half.kind == .client || half.kind == .producer, half.peerName != Half.none, half.peerName != half.service {
                s.count(
                    EdgeID(client: half.service, server: half.peerName, connectionType: half.peerType), failed: half.failed,
                    server: half.duration, client: half.duration)
            }
        }
        s.callers.keep { $0.arrived >= limit }
        // Removed after the walk: removing while iterating made the dictionary copy itself whole.
        var gone = [Key]()
        for (key, children) in s.waiting where children.allSatisfy({ $0.arrived < limit }) {
            gone.append(key)
            s.waitingCount -= children.count
        }
        for key in gone { s.waiting[key] = nil }
        s.rebuildWaitingBits()
    }

    /// Each parent's row among `keys` (-1: none, or the span itself; where a key is there
    /// twice, its first row).
    static func rows(of parents: [Key?], among keys: [Key]) -> [Int] {
        var index = FirstSightIndex<Key>(capacity: keys.count)
        var firstRow = [Int]()
        for (row, key) in keys.enumerated() where index.insert(key).new { firstRow.append(row) }
        return parents.enumerated().map { i, parent in
            guard let parent, let n = index.number(of: parent), firstRow[n] != i else { return -1 }
            return firstRow[n]
        }
    }

    /// The `k`th smallest of `values` (from 0), found in linear time on average by partitioning
    /// in three around random pivots (arrival times come in runs of equal ones, a batch each):
    /// sorting 100k times on every expiry was a twelfth of the receive path.
    static func nthSmallest(_ values: inout [UInt64], _ k: Int) -> UInt64 {
        var rng = SplitMix64(seed: UInt64(values.count))
        return values.withUnsafeMutableBufferPointer { v in
            var (lo, hi) = (0, v.count - 1)
            while lo < hi {
                let pivot = v[lo + Int(rng.next() % UInt64(hi - lo + 1))]
                var (lt, i, gt) = (lo, lo, hi)
                while i <= gt {
                    if v[i] < pivot {
                        v.swapAt(lt, i)
                        lt += 1
                        i += 1
                    } else if v[i] > pivot {
                        v.swapAt(i, gt)
                        gt -= 1
                    } else {
                        i += 1
                    }
                }
                if k < lt {
                    hi = lt - 1
                } else if k > gt {
                    lo = gt + 1
                } else {
                    return pivot
                }
            }
            return v[lo]
        }
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
