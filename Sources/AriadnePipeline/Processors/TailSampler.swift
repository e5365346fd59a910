public import AriadneModel
import Synchronization

/// A rule of tail sampling, judged on a whole trace once its decision wait has passed (the
/// OpenTelemetry Collector's tail_sampling policies).
public indirect enum SamplingRule: Sendable {
    case always
    /// Any span has one of these statuses.
    case statusCode(Set<StatusCode>)
    /// The trace (first start to last end) lasts at least `threshold` ns (and at most `upper`).
    case latency(threshold: UInt64, upper: UInt64?)
    /// A fixed share of traces, chosen by trace id so that every agent chooses alike.
    case probabilistic(percent: Double)
    /// At most this many traces a second per root service.
    case rateLimiting(tracesPerSecond: Double)
    /// Any span (or its resource) has the attribute with one of the values, or matching a pattern.
    case stringAttribute(key: String, values: Set<String>, patterns: [CompiledRegex], invert: Bool)
    case numericAttribute(key: String, min: Double?, max: Double?)
    case booleanAttribute(key: String, value: Bool)
    case spanCount(min: Int, max: Int?)
    /// Every sub-policy samples.
    case and([SamplingPolicy])
    /// Sub-policies in order, each with a share of a spans-per-second budget: the first that
    /// samples and has budget left this second takes the trace.
    case composite(maxSpansPerSecond: Int, [(policy: SamplingPolicy, percent: Double)])
}

public struct SamplingPolicy: Sendable {
    public var name: String
    public var rule: SamplingRule

    public init(name: String, rule: SamplingRule) {
        self.name = name
        self.rule = rule
    }
}

/// Holds spans until their trace's decision wait has passed, then keeps or drops the whole
/// trace: kept if any policy samples it. Late spans follow their trace's decision (a cache of
/// recent decisions). When more traces are held than `maxTraces`, the oldest are decided early.
///
/// Spans are acknowledged when held, before they reach the store (as in the Collector): a crash
/// loses the traces waiting for a decision. A consumer that must know its spans are stored (an
/// ingester acknowledging its buffer) awaits `settle()` after `consume`.
public final class TailSampler: SpanConsumer {
    public struct Settings: Sendable {
        public var decisionWait: Duration = .seconds(5)
        public var maxTraces = 50_000
        public var decisionCacheSize = 200_000
        public var policies: [SamplingPolicy] = []

        public init() {}
    }

    struct Held {
        var spans: SpanBatch
        var firstSeen: ContinuousClock.Instant
    }

    struct State {
        var held: [TraceID: Held] = [:]
        /// Arrival order of held traces (ids may repeat after a decision; skipped then).
        var order: [TraceID] = []
        var orderHead = 0
        /// Recent decisions, oldest first in `decisionRing`.
        var decided: [TraceID: Bool] = [:]
        var decisionRing: [TraceID] = []
        var ringNext = 0
        var evaluator: PolicyEvaluator
    }

    public let settings: Settings
    public let next: any SpanConsumer
    let metrics: PipelineMetrics
    let state: Mutex<State>
    let clock: @Sendable () -> ContinuousClock.Instant
    /// Decided traces the next consumer refused: what `settle` reports.
    let failures = Atomic<Int>(0)
    /// When the last finished tick started: every trace first seen a decision wait before it is decided.
    let decidedThrough = Mutex<ContinuousClock.Instant?>(nil)

    public init(
        _ settings: Settings, next: any SpanConsumer, metrics: PipelineMetrics = PipelineMetrics(),
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.settings = settings
        self.next = next
        self.metrics = metrics
        self.clock = clock
        self.state = Mutex(State(evaluator: PolicyEvaluator(settings.policies)))
        metrics.describe("ariadne_tail_sampling_traces_total", "Traces decided by tail sampling, by decision.")
        metrics.describe("ariadne_tail_sampling_policy_traces_total", "Traces each tail-sampling policy sampled.")
        metrics.describe("ariadne_tail_sampling_late_spans_total", "Spans that arrived after their trace was decided, by decision.")
        metrics.describe("ariadne_tail_sampling_early_decisions_total", "Traces decided before their wait because too many were held.")
        metrics.gauge("ariadne_tail_sampling_traces_held", "Traces waiting for a tail-sampling decision.") { [weak self] in
            self?.heldTraces ?? 0
        }
    }

    public func consume(_ batch: SpanBatch) async throws {
        let forward: SpanBatch? = state.withLock { s in
            // Read under the lock, so that `order` is in the order of `firstSeen` (what ticks rely on).
            let now = clock()
            var byTrace = [TraceID: [Int]]()
            for i in 0..<batch.count { byTrace[batch.traceIDs[i], default: []].append(i) }
            var out = SpanBatch()
            var late = (kept: 0, dropped: 0)
            for (id, indices) in byTrace {
                if let keep = s.decided[id] {
                    if keep {
                        out.append(from: batch, indices: indices)
                        late.kept += indices.count
                    } else {
                        late.dropped += indices.count
                    }
                } else if s.held[id] != nil {
                    s.held[id]!.spans.append(from: batch, indices: indices)
                } else {
                    var spans = SpanBatch()
                    spans.append(from: batch, indices: indices)
                    s.held[id] = Held(spans: spans, firstSeen: now)
                    s.order.append(id)
                }
            }
            if late.kept > 0 { metrics.add("ariadne_tail_sampling_late_spans_total", late.kept, ["decision": "sampled"]) }
            if late.dropped > 0 { metrics.add("ariadne_tail_sampling_late_spans_total", late.dropped, ["decision": "dropped"]) }
            var early = 0
            while s.held.count > settings.maxTraces, let id = popOldest(&s) {
                decide(id, into: &out, &s, now: now)
                early += 1
            }
            if early > 0 { metrics.add("ariadne_tail_sampling_early_decisions_total", early) }
            return out.isEmpty ? nil : out
        }
        if let forward { try await next.consume(forward) }
    }

    /// Decides every trace whose wait has passed and passes the kept ones on.
    public func tick() async throws {
        let now = clock()
        let forward: SpanBatch = state.withLock { s in
            var out = SpanBatch()
            while s.orderHead < s.order.count {
                let id = s.order[s.orderHead]
                guard let h = s.held[id] else { s.orderHead += 1; continue }
                guard now - h.firstSeen >= settings.decisionWait else { break }
                s.orderHead += 1
                decide(id, into: &out, &s, now: now)
            }
            compactOrder(&s)
            return out
        }
        defer { decidedThrough.withLock { $0 = now } }
        try await forwardCounted(forward)
    }

    /// Passes decided spans on, counting a refusal for `settle`.
    func forwardCounted(_ forward: SpanBatch) async throws {
        guard !forward.isEmpty else { return }
        do { try await next.consume(forward) } catch {
            failures.add(1, ordering: .releasing)
            throw error
        }
    }

    /// Returns once every span consumed before the call has been decided and passed on (or
    /// dropped by the decision); throws when passing on any trace failed meanwhile, since it may
    /// have been one of them. At least the decision wait.
    public func settle() async throws {
        let registered = clock()
        let failed = failures.load(ordering: .acquiring)
        while true {
            if let through = decidedThrough.withLock({ $0 }), through - settings.decisionWait >= registered { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        if failures.load(ordering: .acquiring) > failed {
            throw IngestError(.unavailable, "the store refused traces tail sampling had decided", retryAfterSeconds: 2)
        }
    }

    /// Decides every held trace now (at shutdown, so that nothing held is lost unjudged).
    public func flush() async throws {
        let now = clock()
        let forward: SpanBatch = state.withLock { s in
            var out = SpanBatch()
            while let id = popOldest(&s) { decide(id, into: &out, &s, now: now) }
            return out
        }
        defer { decidedThrough.withLock { $0 = now + settings.decisionWait } }
        try await forwardCounted(forward)
    }

    /// Ticks every tenth of the decision wait (at least every 10 ms) until cancelled, then flushes.
    public func run() async {
        let period = max(settings.decisionWait / 10, .milliseconds(10))
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            try? await tick()
        }
        try? await flush()
    }

    public var heldTraces: Int { state.withLock { $0.held.count } }

    func popOldest(_ s: inout State) -> TraceID? {
        while s.orderHead < s.order.count {
            let id = s.order[s.orderHead]
            s.orderHead += 1
            if s.held[id] != nil { return id }
        }
        return nil
    }

    func compactOrder(_ s: inout State) {
        if s.orderHead > 4096 && s.orderHead * 2 > s.order.count {
            s.order.removeFirst(s.orderHead)
            s.orderHead = 0
        }
    }

    func decide(_ id: TraceID, into out: inout SpanBatch, _ s: inout State, now: ContinuousClock.Instant) {
        guard let h = s.held.removeValue(forKey: id) else { return }
        let sampledBy = s.evaluator.evaluate(TraceFacts(h.spans), now: now)
        let keep = !sampledBy.isEmpty
        for name in sampledBy { metrics.add("ariadne_tail_sampling_policy_traces_total", 1, ["policy": name]) }
        metrics.add("ariadne_tail_sampling_traces_total", 1, ["decision": keep ? "sampled" : "dropped"])
        if keep { out.append(contentsOf: h.spans) }
        remember(id, keep, &s)
    }

    func remember(_ id: TraceID, _ keep: Bool, _ s: inout State) {
        guard settings.decisionCacheSize > 0 else { return }
        if s.decisionRing.count < settings.decisionCacheSize {
            s.decisionRing.append(id)
        } else {
            s.decided.removeValue(forKey: s.decisionRing[s.ringNext])
            s.decisionRing[s.ringNext] = id
            s.ringNext = (s.ringNext + 1) % settings.decisionCacheSize
        }
        s.decided[id] = keep
    }
}

/// What policies look at, gathered once per trace.
struct TraceFacts {
    let trace: SpanBatch
    let id: TraceID
    let duration: UInt64
    let rootService: String

    init(_ trace: SpanBatch) {
        self.trace = trace
        id = trace.traceIDs.first ?? TraceID(high: 0, low: 0)
        let lo = trace.startTimes.min() ?? 0
        let hi = trace.endTimes.max() ?? 0
        duration = hi >= lo ? hi - lo : 0
        rootService = trace.isEmpty ? "" : trace.serviceName(ofSpan: trace.rootSpan() ?? 0)
    }

    /// Whether any span or its resource has attribute `key` with a value meeting `test`.
    func anyAttribute(_ key: String, _ test: (AttributeValue) -> Bool) -> Bool {
        let t = trace
        for i in 0..<t.count {
            for a in t.spanAttributes[t.attributeRanges[i].indices] where t.equals(a.key, key) {
                if test(t.attributeValue(a.value)) { return true }
            }
        }
        for r in t.resources {
            for a in t.attributes[r.attributes.indices] where t.equals(a.key, key) {
                if test(t.attributeValue(a.value)) { return true }
            }
        }
        return false
    }
}

/// Evaluates policies; owns the rate limiters' state (called under the sampler's lock).
struct PolicyEvaluator {
    let policies: [SamplingPolicy]
    /// Per policy path and root service: (second, traces taken in it).
    var windows: [String: (second: Int64, used: Double)] = [:]

    init(_ policies: [SamplingPolicy]) { self.policies = policies }

    /// The names of the top-level policies that sample the trace.
    mutating func evaluate(_ facts: TraceFacts, now: ContinuousClock.Instant) -> [String] {
        let second = (now - Self.origin).components.seconds
        var names = [String]()
        for p in policies where sample(p.rule, facts, path: p.name, second: second) { names.append(p.name) }
        return names
    }

    /// Rate windows are whole seconds counted from here.
    static let origin = ContinuousClock.now

    mutating func sample(_ rule: SamplingRule, _ f: TraceFacts, path: String, second: Int64) -> Bool {
        switch rule {
        case .always: return true
        case .statusCode(let codes):
            return f.trace.statusCodes.contains { codes.contains($0) }
        case .latency(let threshold, let upper):
            return f.duration >= threshold && (upper.map { f.duration <= $0 } ?? true)
        case .probabilistic(let percent):
            // The trace id's low bits are random (W3C): a uniform draw every agent shares.
            return Double(f.id.low >> 11) / Double(1 << 53) * 100 < percent
        case .rateLimiting(let perSecond):
            return take(1, limit: perSecond, key: path + "\u{0}" + f.rootService, second: second)
        case .stringAttribute(let key, let values, let patterns, let invert):
            let found = f.anyAttribute(key) { v in
                let s = v.displayString
                return values.contains(s) || patterns.contains { $0.matches(s) }
            }
            return found != invert
        case .numericAttribute(let key, let lo, let hi):
            return f.anyAttribute(key) { v in
                let x: Double
                switch v {
                case .int(let i): x = Double(i)
                case .double(let d): x = d
                default: return false
                }
                return (lo.map { x >= $0 } ?? true) && (hi.map { x <= $0 } ?? true)
            }
        case .booleanAttribute(let key, let value):
            return f.anyAttribute(key) { $0 == .bool(value) }
        case .spanCount(let lo, let hi):
            return f.trace.count >= lo && (hi.map { f.trace.count <= $0 } ?? true)
        case .and(let subs):
            for s in subs where !sample(s.rule, f, path: path + "/" + s.name, second: second) { return false }
            return !subs.isEmpty
        case .composite(let maxSpans, let subs):
            for (s, percent) in subs where sample(s.rule, f, path: path + "/" + s.name, second: second) {
                if take(Double(f.trace.count), limit: Double(maxSpans) * percent / 100, key: path + "#" + s.name, second: second) {
                    return true
                }
            }
            return false
        }
    }

    /// Takes `amount` from this second's budget for `key`, if it fits.
    mutating func take(_ amount: Double, limit: Double, key: String, second: Int64) -> Bool {
        var w = windows[key] ?? (second, 0)
        if w.second != second { w = (second, 0) }
        guard w.used + amount <= limit else {
            windows[key] = w
            return false
        }
        w.used += amount
        windows[key] = w
        return true
    }
}
