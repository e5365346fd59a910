import AriadneModel
import AriadnePipeline
import AriadneTesting
import Testing

@Suite struct SamplingStrategyTests {
    /// `n` root spans of `operation`, as SDKs would send them.
    func roots(_ n: Int, _ operation: String, service: String = "shop") -> SpanBatch {
        var batch = SpanBatch()
        for i in 0..<n {
            var t = TraceBuilder(traceID: TraceID(high: 1, low: UInt64(i + 1)), start: 1_000)
            t.span(operation, service: service, kind: .server, at: 0, duration: 10)
            batch.append(contentsOf: t.batch)
        }
        return batch
    }

    @Test func adaptiveMovesEachOperationTowardTheTarget() async throws {
        var settings = AdaptiveSampler.Settings()
        settings.interval = .seconds(1)
        settings.targetTracesPerSecond = 2
        settings.initialProbability = 1
        settings.buckets = 1
        let sampler = AdaptiveSampler(settings, next: Collect())
        // Interval 1: everything is sampled; /checkout gets 40 traces a second, /cart 10.
        try await sampler.consume(roots(40, "GET /checkout"))
        try await sampler.consume(roots(10, "GET /cart"))
        sampler.recalculate()
        #expect(sampler.probability(service: "shop", operation: "GET /checkout") == 0.05)
        #expect(sampler.probability(service: "shop", operation: "GET /cart") == 0.2)
        // Interval 2: SDKs follow; 2 a second each arrive: on target, nothing moves.
        try await sampler.consume(roots(2, "GET /checkout"))
        try await sampler.consume(roots(2, "GET /cart"))
        sampler.recalculate()
        #expect(sampler.probability(service: "shop", operation: "GET /checkout") == 0.05)
        // Interval 3: /checkout traffic halves: 1 a second arrives; the rise is capped at +50%.
        try await sampler.consume(roots(1, "GET /checkout"))
        try await sampler.consume(roots(2, "GET /cart"))
        sampler.recalculate()
        #expect(abs(sampler.probability(service: "shop", operation: "GET /checkout") - 0.075) < 1e-12)
        let strategy = sampler.strategy(for: "shop")
        #expect(strategy.operations?.perOperation.map(\.operation) == ["GET /cart", "GET /checkout"])
        #expect(strategy.operations?.defaultLowerBoundTracesPerSecond == 1.0 / 60)
        // Child spans are not head-sampling decisions: they do not count.
        var t = TraceBuilder(traceID: TraceID(high: 2, low: 1), start: 1_000)
        let r = t.span("GET /x", service: "shop", at: 0, duration: 10)
        for _ in 0..<100 { t.span("child", service: "shop", parent: r, at: 1, duration: 1) }
        try await sampler.consume(t.batch)
        sampler.recalculate()
        #expect(sampler.probability(service: "shop", operation: "child") == 1)  // never seen: the initial
    }

    @Test func strategiesFileInJaegersFormat() throws {
        let s = try StaticSamplingStrategies.parse(
            """
            {
              "service_strategies": [
                {"service": "checkout", "type": "probabilistic", "param": 0.5,
                 "operation_strategies": [{"operation": "GET /health", "type": "probabilistic", "param": 0.0}]},
                {"service": "batch", "type": "ratelimiting", "param": 5}
              ],
              "default_strategy": {"type": "probabilistic", "param": 0.1}
            }
            """)
        #expect(s.strategy(for: "batch") == ServiceSamplingStrategy(kind: .rateLimiting(maxTracesPerSecond: 5)))
        #expect(s.strategy(for: "other") == ServiceSamplingStrategy(kind: .probabilistic(0.1)))
        let checkout = s.strategy(for: "checkout")
        #expect(checkout.kind == .probabilistic(0.5))
        #expect(checkout.operations?.perOperation.first?.operation == "GET /health")
        #expect(checkout.operations?.perOperation.first?.probability == 0)
        do {
            _ = try StaticSamplingStrategies.parse(
                """
                {"service_strategies": [{"service": "a", "type": "probabilistic", "param": 2},
                                        {"type": "ratelimiting", "param": 1}],
                 "default_strategy": {"type": "sometimes", "param": 0.1}}
                """)
            Issue.record("accepted")
        } catch {
            let text = error.errors.map { "\($0.line): \($0.message)" }
            #expect(text.contains { $0.hasPrefix("1: a probabilistic param is a probability") })
            #expect(text.contains { $0.hasPrefix("2: a service strategy needs a service") })
            #expect(text.contains { $0.hasPrefix("3: type must be probabilistic or ratelimiting") })
        }
    }
}
