import AriadneAnalysis
import AriadneModel
import AriadneTesting
import Testing

let ms: UInt64 = 1_000_000
let minute: UInt64 = 60_000_000_000

/// A deterministic stream of pseudo-random numbers in [0, 1), so that "noise" is the same every run.
struct Noise {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
}

/// `calls` spans of one operation ending in the window at `window` minutes, durations around `latencyMs`.
func spans(
    window: UInt64, calls: Int, latencyMs: Double, errors: Int = 0, service: String = "checkout", operation: String = "POST /pay",
    noise: inout Noise
) -> SpanBatch {
    var b = TraceBuilder(traceID: TraceID(high: window, low: UInt64(calls)), start: 1_700_000_000 * 1_000_000_000 + window * minute)
    for i in 0..<calls {
        let d = UInt64(latencyMs * (0.85 + 0.3 * noise.next()) * 1e6)
        b.span(operation, service: service, kind: .server, at: UInt64(i) * ms, duration: d, status: i < errors ? .error : .unset)
    }
    return b.batch
}

@Suite struct SpanMetricsTests {
    @Test func countsCallsErrorsAndLatencyPerKeyAndWindow() {
        let m = SpanMetrics(interval: .seconds(60))
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 1), start: 10 * minute)
        let root = t.span("GET /", service: "web", kind: .server, at: 0, duration: 120 * ms)
        t.span("SELECT", service: "web", kind: .client, parent: root, at: 5 * ms, duration: 7 * ms, status: .error)
        t.span("GET /", service: "web", kind: .server, at: 70_000 * ms, duration: 30 * ms)  // next minute
        m.record(t.batch)
        let totals = m.totals()
        #expect(totals.count == 2)  // the two GET / spans share a key: same kind and status
        let get = totals.first { $0.key.operation == "GET /" && $0.key.kind == .server }!
        #expect(get.histogram.count == 2)
        #expect(abs(get.histogram.sumMs - 150) < 0.001)
        let series = m.series(from: 0, to: .max, groupOf: \.operation)
        #expect(series["GET /"]?.map(\.start) == [10 * minute, 11 * minute])
        #expect(series["SELECT"]?.first?.errors == 1)
        #expect(series["SELECT"]?.first?.errorRate == 1)
    }

    @Test func quantilesInterpolateInsideBuckets() {
        var h = LatencyHistogram()
        for i in 1...100 { h.record(nanoseconds: UInt64(i) * ms) }  // 1..100 ms
        #expect(abs(h.quantile(0.5) - 50) <= 5)
        #expect(abs(h.quantile(0.95) - 95) <= 5)
        #expect(h.quantile(1) <= 100)
        #expect(abs(h.count(atMostMs: 50) - 50) <= 2)
    }

    @Test func unsavedHoldsOnlyWhatWasRecordedSinceTheLastTake() {
        let m = SpanMetrics(interval: .seconds(60))
        var noise = Noise(state: 1)
        m.record(spans(window: 0, calls: 5, latencyMs: 10, noise: &noise))
        #expect(m.takeUnsaved().values.flatMap(\.values).reduce(0) { $0 + $1.count } == 5)
        #expect(m.takeUnsaved().isEmpty)
        let restored = SpanMetrics(interval: .seconds(60))
        restored.restore(
            window: 0, key: REDKey(service: "s", operation: "o", kind: .server, status: .unset),
            histogram: {
                var h = LatencyHistogram()
                h.record(nanoseconds: 5 * ms)
                return h
            }())
        #expect(restored.takeUnsaved().isEmpty)
        #expect(restored.totals().isEmpty)
        #expect(restored.keys().count == 1)
    }
}

@Suite struct AnomalyTests {
    func series(_ latencies: [Double], errors: [Int]? = nil, seed: UInt64 = 7) -> [REDPoint] {
        let m = SpanMetrics(interval: .seconds(60))
        var noise = Noise(state: seed)
        for (w, l) in latencies.enumerated() {
            m.record(spans(window: UInt64(w), calls: 60, latencyMs: l, errors: errors?[w] ?? 0, noise: &noise))
        }
        return m.series(from: 0, to: .max, groupOf: { _ in 0 })[0]!
    }

    @Test func aLatencyStepIsFlaggedWithinAFewWindows() {
        let points = series(Array(repeating: 80, count: 40) + Array(repeating: 200, count: 8))
        let found = AnomalyDetector().detect(points, metric: .latency, interval: minute)
        #expect(found.count == 1, "\(found)")
        let a = found[0]
        let stepAt = points[40].start
        #expect(a.start >= stepAt && a.start <= stepAt + 2 * minute, "flagged from window \((a.start - points[0].start) / minute)")
        #expect(a.ongoing)
        #expect(a.ratio > 2 && a.ratio < 3, "ratio \(a.ratio)")
    }

    @Test func aLongStableSeriesRaisesNothing() {
        // Four hours of noisy but stable latency and a steady trickle of errors.
        let n = 240
        var noise = Noise(state: 99)
        let latencies = (0..<n).map { _ in 80 + 10 * noise.next() }
        let errors = (0..<n).map { _ in noise.next() < 0.3 ? 1 : 0 }
        let points = series(latencies, errors: errors)
        let detector = AnomalyDetector()
        #expect(detector.detect(points, metric: .latency, interval: minute).isEmpty)
        #expect(detector.detect(points, metric: .errorRate, interval: minute).isEmpty)
        #expect(detector.detect(points, metric: .throughput, interval: minute).isEmpty)
    }

    @Test func anErrorBurstIsFlaggedAndEnds() {
        var errors = Array(repeating: 0, count: 50)
        for w in 30..<34 { errors[w] = 20 }  // a third of calls fail for four minutes
        let found = AnomalyDetector().detect(series(Array(repeating: 50, count: 50), errors: errors), metric: .errorRate, interval: minute)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.ongoing == false)
        #expect(found.first.map { ($0.end - $0.start) / minute } == 4)
    }

    @Test func aStepThatLastsBecomesTheNewNormal() {
        let points = series(Array(repeating: 80, count: 20) + Array(repeating: 200, count: 80))
        let found = AnomalyDetector().detect(points, metric: .latency, interval: minute)
        #expect(found.count == 1)
        #expect(found.first?.ongoing == false)
    }

    @Test func forecastFollowsATrendWithAnInterval() {
        var noise = Noise(state: 3)
        let values = (0..<60).map { 100 + 2 * Double($0) + 4 * (noise.next() - 0.5) }
        let f = Forecast.holt(values, lastTime: 59 * minute, step: minute, horizon: 10)!
        #expect(f.points.count == 10)
        let tenth = f.points[9]
        #expect(tenth.time == 69 * minute)
        #expect(abs(tenth.value - (100 + 2 * 69)) < 6, "\(tenth)")
        #expect(tenth.lower < 238 && 238 < tenth.upper)
        #expect(f.points[0].upper - f.points[0].lower < tenth.upper - tenth.lower)
    }
}

@Suite struct PopulationTests {
    @Test func mannWhitneyMatchesAWorkedExample() {
        // No ties: x's ranks 1, 2, 6 sum to 9, U = 9 − 3·4/2 = 3; mean 6, variance 3·4·8/12 = 8,
        // z = −3/√8 = −1.0607, two-sided p = 0.2888.
        let r = Statistics.mannWhitney([1, 2, 6], [3, 4, 5, 7])!
        #expect(r.u == 3)
        #expect(abs(r.z - (-1.0607)) < 0.001)
        #expect(abs(r.p - 0.2888) < 0.001)
        // Ties share their average rank and shrink the variance.
        let tied = Statistics.mannWhitney([1, 1, 2], [1, 3, 3])!
        #expect(tied.u == 2)  // ranks 2, 2, 4 (the three 1s share rank 2): 8 − 6
    }

    @Test func aSlowerVersionIsSignificantAndAnUnchangedOneIsNot() {
        var noise = Noise(state: 11)
        func traces(version: String, latencyMs: Double, n: Int, seed: UInt64) -> [SpanBatch] {
            (0..<n).map { i in
                var b = TraceBuilder(traceID: TraceID(high: seed, low: UInt64(i)), start: UInt64(i) * minute)
                let root = b.span("GET /cart", service: "cart", kind: .server, at: 0, duration: UInt64(latencyMs * (0.8 + 0.4 * noise.next()) * 1e6))
                b.span("SELECT", service: "cart", kind: .client, parent: root, at: ms, duration: UInt64((5 + noise.next()) * 1e6))
                return b.batch
            }
        }
        let c = PopulationComparison(
            a: traces(version: "1", latencyMs: 100, n: 200, seed: 1), b: traces(version: "2", latencyMs: 130, n: 200, seed: 2))
        let cart = c.operations.first { $0.operation == "GET /cart" }!
        let select = c.operations.first { $0.operation == "SELECT" }!
        #expect(cart.latencyPValue! < 0.001)
        #expect(cart.change("p50")! > 0.2 && cart.change("p50")! < 0.4)
        #expect(select.latencyPValue! > 0.01, "p \(select.latencyPValue!)")
        #expect(c.traces.a == 200 && c.traces.b == 200)
        #expect(c.spansPerTrace.a == 2)
    }
}

@Suite struct AlertTests {
    @Test func aPlantedIncidentFiresOnceAndResolves() {
        let metrics = SpanMetrics(interval: .seconds(60))
        let rules = [
            AlertRule(
                name: "slow", condition: .latency(quantile: 0.95, thresholdMs: 150), service: "checkout", window: .seconds(120),
                pendingFor: .seconds(60)),
            AlertRule(name: "failing", condition: .errorRate(threshold: 0.1), window: .seconds(120)),
        ]
        let engine = AlertEngine(rules: rules, objectives: [], metrics: metrics)
        var noise = Noise(state: 5)
        var fired = [String]()
        let base = 1_700_000_000 * 1_000_000_000 as UInt64
        for w in 0..<20 {
            let incident = (8..<12).contains(w)
            metrics.record(spans(window: UInt64(w), calls: 50, latencyMs: incident ? 400 : 80, errors: incident ? 20 : 0, noise: &noise))
            for n in engine.evaluate(now: base + UInt64(w) * minute + 59 * 1_000_000_000) {
                fired.append("\(w) \(n.alert.rule) \(n.status)")
            }
        }
        // The latency alert waits a minute in pending; the error alert fires at once; both resolve
        // once the two-minute window no longer holds the incident.
        #expect(fired == ["8 failing firing", "9 slow firing", "13 slow resolved", "13 failing resolved"], "\(fired)")
        let states = engine.states()
        #expect(states.allSatisfy { $0.state == .inactive })
    }

    @Test func sloBudgetAndBurnRate() {
        let metrics = SpanMetrics(interval: .seconds(60))
        var noise = Noise(state: 8)
        // 1000 calls, 20 of them failed and none slow: 98% good against a 99% objective.
        metrics.record(spans(window: 0, calls: 1000, latencyMs: 50, errors: 20, noise: &noise))
        let slo = ServiceLevelObjective(name: "pay", service: "checkout", objective: 0.99, latencyThresholdMs: 300, window: .seconds(3600))
        let engine = AlertEngine(
            rules: [AlertRule(name: "burn", condition: .burnRate(slo: "pay", threshold: 1.5), service: "checkout", window: .seconds(3600))],
            objectives: [slo], metrics: metrics)
        let now = 1_700_000_000 * 1_000_000_000 + 30 * 1_000_000_000 as UInt64
        let status = engine.objectivesStatus(now: now)[0]
        #expect(status.calls == 1000)
        #expect(abs(status.compliance - 0.98) < 1e-9)
        #expect(abs(status.errorBudgetRemaining - (-1)) < 1e-6)
        #expect(abs(status.burnRates[1].rate - 2) < 1e-6)
        #expect(engine.evaluate(now: now).map(\.status) == ["firing"])
    }
}

@Suite struct SpanMetricsClockTests {
    @Test func aSpanFromTheFarFutureDoesNotRetireTheRollups() {
        let m = SpanMetrics(interval: .seconds(60), retention: .seconds(3600))
        let now: UInt64 = 1_700_000_000 * 1_000_000_000
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 9), start: now - 10 * minute)
        t.span("ok", service: "s", kind: .server, at: 0, duration: ms)
        m.record(t.batch, now: now)
        var wrong = TraceBuilder(traceID: TraceID(high: 1, low: 10), start: now + 400 * 86400 * 1_000_000_000)
        wrong.span("skewed", service: "s", kind: .server, at: 0, duration: ms)
        m.record(wrong.batch, now: now)
        #expect(m.series(from: 0, to: .max, groupOf: \.operation).keys.sorted() == ["ok"])
        #expect(m.totals().count == 2)  // Prometheus still counts it
    }
}

@Suite struct SpanMetricsRetentionTests {
    @Test func windowsOlderThanTheRetentionBeforeTheNewestAreDropped() {
        let m = SpanMetrics(interval: .seconds(60), retention: .seconds(600))
        var noise = Noise(state: 2)
        for w in [0, 5, 12] as [UInt64] { m.record(spans(window: w, calls: 3, latencyMs: 10, operation: "op\(w)", noise: &noise)) }
        // Newest window at minute 12, retention 10 minutes: minute 0 is gone, minute 5 stays.
        let kept = m.series(from: 0, to: .max, groupOf: \.operation)
        #expect(kept.keys.sorted() == ["op12", "op5"])
        #expect(Set(m.keys().map(\.operation)) == ["op12", "op5"])
    }
}

@Suite struct ServiceGraphMetricsTests {
    @Test func pairsHalvesInAnyOrderAndTurnsUnpairedClientsIntoLeaves() {
        let g = ServiceGraphMetrics(wait: .seconds(10))
        let id = TraceID(high: 3, low: 3)
        var t = TraceBuilder(traceID: id, start: 1_000 * ms)
        let root = t.span("GET /", service: "web", kind: .server, at: 0, duration: 100 * ms)
        let call = t.span(
            "POST /pay", service: "web", kind: .client, parent: root, at: 1 * ms, duration: 40 * ms, attributes: [KeyValue("peer.service", "pay")])
        t.span("POST /pay", service: "pay", kind: .server, parent: call, at: 2 * ms, duration: 30 * ms, status: .error)
        t.span(
            "SELECT", service: "web", kind: .client, parent: root, at: 50 * ms, duration: 5 * ms, attributes: [KeyValue("db.system", "postgresql")])
        let producer = t.span("publish", service: "web", kind: .producer, parent: root, at: 60 * ms, duration: 1 * ms)
        t.span("process", service: "mailer", kind: .consumer, at: 70 * ms, duration: 8 * ms, links: [Span.Link(traceID: id, spanID: producer)])
        let spans = t.batch
        // The callee halves arrive first, in their own batch; the callers a moment later.
        let calleeIndices = (0..<spans.count).filter { ["pay", "mailer"].contains(spans.serviceName(ofSpan: $0)) }
        let callerIndices = (0..<spans.count).filter { !calleeIndices.contains($0) }
        let now: UInt64 = 1_700_000_000 * 1_000_000_000
        g.record(spans.selecting(calleeIndices), now: now)
        g.record(spans.selecting(callerIndices), now: now + ms)
        func summary() -> [String] {
            g.totals().map { "\($0.edge.client)→\($0.edge.server) \($0.edge.connectionType) n=\($0.totals.requests) failed=\($0.totals.failed)" }
        }
        #expect(summary() == ["web→mailer messaging_system n=1 failed=0", "web→pay  n=1 failed=1"], "\(summary())")
        let pay = g.totals().first { $0.edge.server == "pay" }!.totals
        #expect(abs(pay.server.sumMs - 30) < 0.001 && abs(pay.client.sumMs - 40) < 0.001)
        // The database call has no other half: a leaf once the wait is over, and nothing held after.
        g.expire(now: now + 5_000 * ms)
        #expect(summary().count == 2)
        g.expire(now: now + 20_000 * ms)
        #expect(summary().contains("web→postgresql database n=1 failed=0"), "\(summary())")
        // The paired client span to pay is not also a leaf.
        #expect(!summary().contains { $0.hasPrefix("web→pay external") })
        #expect(g.held == 0)
    }

    /// A trace's calls are the same calls however its spans are split into batches and in
    /// whatever order the batches come: pairing within a batch and across batches agree.
    @Test func batchesSplitAnyWayCountTheSameCalls() {
        var spans = [SpanBatch]()
        for k in 0..<20 {
            let id = TraceID(high: 9, low: UInt64(k + 1))
            var t = TraceBuilder(traceID: id, start: 1_000 * ms)
            let root = t.span("GET /", service: "web", kind: .server, at: 0, duration: 100 * ms)
            let call = t.span("POST /pay", service: "web", kind: .client, parent: root, at: 1 * ms, duration: 40 * ms)
            let pay = t.span(
                "POST /pay", service: "pay", kind: .server, parent: call, at: 2 * ms, duration: 30 * ms, status: k % 3 == 0 ? .error : .unset)
            t.span(
                "INSERT", service: "pay", kind: .client, parent: pay, at: 3 * ms, duration: 5 * ms, attributes: [KeyValue("db.system", "postgresql")])
            let ledger = t.span("POST /ledger", service: "pay", kind: .client, parent: pay, at: 4 * ms, duration: 9 * ms)
            t.span("POST /ledger", service: "ledger", kind: .server, parent: ledger, at: 5 * ms, duration: 7 * ms)
            let producer = t.span("publish", service: "web", kind: .producer, parent: root, at: 60 * ms, duration: 1 * ms)
            t.span("process", service: "mailer", kind: .consumer, at: 70 * ms, duration: 8 * ms, links: [Span.Link(traceID: id, spanID: producer)])
            spans.append(t.batch)
        }
        var all = SpanBatch()
        for b in spans { all.append(contentsOf: b) }
        let now: UInt64 = 1_700_000_000 * 1_000_000_000
        func calls(_ batches: [SpanBatch]) -> [String] {
            let g = ServiceGraphMetrics(wait: .seconds(10))
            for (k, b) in batches.enumerated() { g.record(b, now: now + UInt64(k)) }
            g.expire(now: now + 20_000 * ms)
            #expect(g.held == 0)
            return g.totals().map {
                "\($0.edge.client)→\($0.edge.server) \($0.edge.connectionType) n=\($0.totals.requests) failed=\($0.totals.failed)"
            }
        }
        let whole = calls([all])
        #expect(
            whole == [
                "pay→ledger  n=20 failed=0", "pay→postgresql database n=20 failed=0", "web→mailer messaging_system n=20 failed=0",
                "web→pay  n=20 failed=7",
            ], "\(whole)")
        let one = (0..<all.count).map { all.selecting([$0]) }
        #expect(calls(one.reversed()) == whole)
        var rng = SplitMix64(seed: 7)
        let shuffled = (0..<all.count).map { ($0, rng.next()) }.sorted { $0.1 < $1.1 }.map(\.0)
        #expect(calls([all.selecting(Array(shuffled[..<40])), all.selecting(Array(shuffled[40...]))]) == whole)
        #expect(calls([all.selecting(Array(shuffled[80...])), all.selecting(Array(shuffled[..<80]))]) == whole)
    }

    @Test func heldSpansAreBounded() {
        let g = ServiceGraphMetrics(wait: .seconds(3600), maxItems: 1000)
        var noise = Noise(state: 4)
        for w in 0..<50 { g.record(spans(window: UInt64(w), calls: 100, latencyMs: 10, noise: &noise), now: UInt64(w) * 1_000_000_000) }
        #expect(g.held <= 1000)
        // One batch larger than the bound, all arriving at once, is let go as a whole by the next.
        g.record(spans(window: 60, calls: 3000, latencyMs: 10, noise: &noise), now: 60_000_000_000)
        g.record(spans(window: 61, calls: 10, latencyMs: 10, noise: &noise), now: 61_000_000_000)
        #expect(g.held <= 1000, "\(g.held)")
        // A clock that steps back: arrivals out of order are bounded all the same.
        for w in 0..<20 { g.record(spans(window: UInt64(70 + w), calls: 100, latencyMs: 10, noise: &noise), now: UInt64(90 - w) * 1_000_000_000) }
        #expect(g.held <= 1000, "\(g.held)")
    }
}
