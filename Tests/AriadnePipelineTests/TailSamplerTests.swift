import AriadneModel
import AriadnePipeline
import AriadneTesting
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    let now = Mutex(ContinuousClock.now)
    func advance(_ d: Duration) { now.withLock { $0 += d } }
    var read: @Sendable () -> ContinuousClock.Instant { { [self] in now.withLock { $0 } } }
}

/// A two-span trace: `ms` long, with an error on the child when asked.
func trace(_ low: UInt64, ms: UInt64 = 10, error: Bool = false, service: String = "front", attributes: [KeyValue] = []) -> SpanBatch {
    var t = TraceBuilder(traceID: TraceID(high: 9, low: low), start: 1_000_000_000, firstSpanID: low << 4 | 1)
    let root = t.span("GET /", service: service, kind: .server, at: 0, duration: ms * 1_000_000, attributes: attributes)
    t.span("call", service: "back", parent: root, at: 1_000, duration: 1_000_000, status: error ? .error : .unset)
    return t.batch
}

struct Refusing: SpanConsumer {
    func consume(_ batch: SpanBatch) async throws { throw IngestError(.unavailable, "the store is down") }
}

func tracesIn(_ sink: Collect) -> Set<UInt64> { Set(sink.spans.map(\.traceID.low)) }

@Suite struct TailSamplerTests {
    func sampler(_ yaml: String, clock: ManualClock, sink: Collect) throws -> (TailSampler, PipelineMetrics) {
        let config = try PipelineConfiguration.parse(yaml)
        guard case .tailSampling(let settings) = config.processors[0].kind else { throw CancellationError() }
        let metrics = PipelineMetrics()
        return (TailSampler(settings, next: sink, metrics: metrics, clock: clock.read), metrics)
    }

    static let errorsAndSlow = """
        processors:
          tail_sampling:
            decision_wait: 2s
            num_traces: 100
            policies:
              - {name: errors, type: status_code, status_codes: [ERROR]}
              - {name: slow, type: latency, threshold_ms: 500}
        """

    @Test func keepsWholeTracesThatAPolicySamplesAfterTheWait() async throws {
        let clock = ManualClock(), sink = Collect()
        let (s, metrics) = try sampler(Self.errorsAndSlow, clock: clock, sink: sink)
        // Each trace's two spans arrive in separate batches, as they would from two services.
        for (low, t) in [(1, trace(1, error: true)), (2, trace(2, ms: 900)), (3, trace(3))] as [(UInt64, SpanBatch)] {
            try await s.consume(t.selecting([0]))
            try await s.consume(t.selecting([1]))
            _ = low
        }
        try await s.tick()
        #expect(sink.spans.isEmpty)  // nothing before the wait
        clock.advance(.seconds(2))
        try await s.tick()
        #expect(tracesIn(sink) == [1, 2])
        #expect(sink.spans.count == 4)  // whole traces
        #expect(metrics.value("ariadne_tail_sampling_traces_total", ["decision": "sampled"]) == 2)
        #expect(metrics.value("ariadne_tail_sampling_traces_total", ["decision": "dropped"]) == 1)
        #expect(metrics.value("ariadne_tail_sampling_policy_traces_total", ["policy": "errors"]) == 1)
        #expect(s.heldTraces == 0)

        // A late span follows its trace's decision.
        var late = TraceBuilder(traceID: TraceID(high: 9, low: 1), start: 1_000_000_000, firstSpanID: 0xFF)
        late.span("late", service: "back", at: 0, duration: 1)
        var dropped = TraceBuilder(traceID: TraceID(high: 9, low: 3), start: 1_000_000_000, firstSpanID: 0xFE)
        dropped.span("late", service: "back", at: 0, duration: 1)
        var both = late.batch
        both.append(contentsOf: dropped.batch)
        try await s.consume(both)
        #expect(sink.spans.count == 5)
        #expect(metrics.value("ariadne_tail_sampling_late_spans_total", ["decision": "dropped"]) == 1)
    }

    /// What an ingester waits on before acknowledging its buffer: `settle` returns only once the
    /// spans consumed before it were decided and stored, and throws if storing failed meanwhile.
    @Test func settleWaitsForTheDecisionAndReportsAStoreThatRefused() async throws {
        let clock = ManualClock(), sink = Collect()
        let (s, _) = try sampler(Self.errorsAndSlow, clock: clock, sink: sink)
        try await s.consume(trace(1, error: true))
        let done = Mutex(false)
        let settled = Task {
            try await s.settle()
            done.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(200))  // settle has read the clock
        try await s.tick()
        try await Task.sleep(for: .milliseconds(200))
        #expect(sink.spans.isEmpty)
        #expect(!done.withLock { $0 })  // still held: not yet safe to acknowledge
        clock.advance(.seconds(2))
        try await s.tick()
        try await settled.value
        #expect(tracesIn(sink) == [1])

        let refusing = TailSampler(s.settings, next: Refusing(), clock: clock.read)
        try await refusing.consume(trace(2, error: true))
        let refused = Task { try await refusing.settle() }
        try await Task.sleep(for: .milliseconds(200))  // settle has read the clock
        clock.advance(.seconds(2))
        await #expect(throws: IngestError.self) { try await refusing.tick() }
        await #expect(throws: IngestError.self) { try await refused.value }
    }

    @Test func decidesTheOldestEarlyWhenFullAndEverythingOnFlush() async throws {
        let clock = ManualClock(), sink = Collect()
        let (s, metrics) = try sampler(
            Self.errorsAndSlow.split(separator: "\n").map { $0.contains("num_traces") ? "    num_traces: 2" : String($0) }.joined(separator: "\n"),
            clock: clock, sink: sink)
        try await s.consume(trace(1, error: true))
        try await s.consume(trace(2, error: true))
        try await s.consume(trace(3, error: true))
        #expect(tracesIn(sink) == [1])
        #expect(metrics.value("ariadne_tail_sampling_early_decisions_total") == 1)
        try await s.flush()
        #expect(tracesIn(sink) == [1, 2, 3])
    }

    @Test func probabilisticKeepsItsShareByTraceID() async throws {
        let clock = ManualClock(), sink = Collect()
        let (s, _) = try sampler(
            """
            processors:
              tail_sampling:
                num_traces: 100000
                policies: [{name: ten, type: probabilistic, sampling_percentage: 10}]
            """, clock: clock, sink: sink)
        var rng = SystemRandomNumberGenerator()
        var batch = SpanBatch()
        for _ in 0..<20_000 { batch.append(contentsOf: trace(rng.next()).selecting([0])) }
        try await s.consume(batch)
        try await s.flush()
        let kept = tracesIn(sink).count
        // Binomial(20000, 0.1): mean 2000, σ ≈ 42; five σ either side.
        #expect(abs(kept - 2000) < 5 * 43, "kept \(kept)")
        // The same ids decide the same way on another sampler (another agent).
        let sink2 = Collect()
        let (s2, _) = try sampler(
            """
            processors:
              tail_sampling: {policies: [{name: ten, type: probabilistic, sampling_percentage: 10}], num_traces: 100000}
            """, clock: clock, sink: sink2)
        try await s2.consume(batch)
        try await s2.flush()
        #expect(tracesIn(sink2) == tracesIn(sink))
    }

    @Test func rateLimitsPerRootServiceAndSharesACompositeBudget() async throws {
        let clock = ManualClock(), sink = Collect()
        let (s, _) = try sampler(
            """
            processors:
              tail_sampling:
                policies: [{name: five, type: rate_limiting, traces_per_second: 5}]
            """, clock: clock, sink: sink)
        for i in 0..<20 { try await s.consume(trace(UInt64(100 + i), service: "a")) }
        for i in 0..<3 { try await s.consume(trace(UInt64(200 + i), service: "b")) }
        try await s.flush()
        let kept = tracesIn(sink)
        #expect(kept.filter { $0 < 200 }.count == 5)
        #expect(kept.filter { $0 >= 200 }.count == 3)

        // Composite: 20 spans/s, errors may use 50% (5 two-span traces), everything else the rest.
        let sink2 = Collect()
        let (c, _) = try sampler(
            """
            processors:
              tail_sampling:
                policies:
                  - name: shares
                    type: composite
                    max_total_spans_per_second: 20
                    policies:
                      - {name: errors, type: status_code, status_codes: [ERROR], rate_percent: 50}
                      - {name: rest, type: always_sample, rate_percent: 50}
            """, clock: clock, sink: sink2)
        for i in 0..<10 { try await c.consume(trace(UInt64(300 + i), error: true)) }
        try await c.flush()
        // 5 by the errors share, 5 more by the rest's share.
        #expect(tracesIn(sink2).count == 10)
        for i in 0..<10 { try await c.consume(trace(UInt64(400 + i), error: true)) }
        try await c.flush()
        #expect(tracesIn(sink2).count == 10)  // this second's budget is spent
    }

    @Test func attributeAndSpanCountPolicies() async throws {
        let clock = ManualClock(), sink = Collect()
        let (s, _) = try sampler(
            """
            processors:
              tail_sampling:
                policies:
                  - {name: gold, type: string_attribute, key: tier, values: ["gold|platinum"], enabled_regex_matching: true}
                  - {name: five-hundreds, type: numeric_attribute, key: http.response.status_code, min_value: 500, max_value: 599}
                  - {name: debug, type: boolean_attribute, key: debug, value: true}
                  - name: both
                    type: and
                    policies:
                      - {name: two-spans, type: span_count, min_spans: 2, max_spans: 2}
                      - {name: eu, type: string_attribute, key: region, values: [eu]}
            """, clock: clock, sink: sink)
        try await s.consume(trace(1, attributes: [KeyValue("tier", "platinum")]))
        try await s.consume(trace(2, attributes: [KeyValue("tier", "bronze")]))
        try await s.consume(trace(3, attributes: [KeyValue("http.response.status_code", 503)]))
        try await s.consume(trace(4, attributes: [KeyValue("http.response.status_code", 404)]))
        try await s.consume(trace(5, attributes: [KeyValue("debug", true)]))
        try await s.consume(trace(6, attributes: [KeyValue("region", "eu")]))
        try await s.consume(trace(7, attributes: [KeyValue("region", "us")]))
        try await s.flush()
        #expect(tracesIn(sink) == [1, 3, 5, 6])
    }

    @Test func configMistakesAreNamed() {
        do {
            _ = try PipelineConfiguration.parse(
                """
                processors:
                  tail_sampling:
                    decision_wait: soon
                    policies:
                      - {name: p, type: percentage}
                      - {name: q, type: probabilistic, sampling_percentage: 150}
                      - {type: always_sample}
                """)
            Issue.record("accepted")
        } catch {
            let text = error.errors.map { "\($0.line): \($0.message)" }
            #expect(text.contains { $0.hasPrefix("3: decision_wait must be a duration") })
            #expect(text.contains { $0.hasPrefix("5: unknown policy type 'percentage'") })
            #expect(text.contains { $0.hasPrefix("6: sampling_percentage must be at most 100") })
            #expect(text.contains { $0.hasPrefix("7: a policy needs a name") })
        }
    }
}
