public import AriadneModel
import Synchronization

/// Adaptive head sampling, after Jaeger's (`internal/sampling/samplingstrategy/adaptive`): count
/// the root spans that arrive per service and operation in each interval; every interval, move
/// each operation's probability so that SDKs send about `targetTracesPerSecond` of it.
///
/// The new probability is old × target / measured, where measured is a weighted mean of the
/// recent intervals' rates (newest weighs most). Within `deltaTolerance` of the target nothing
/// changes; increases are capped at +50% an interval (a burst must not open the floodgates);
/// probabilities stay within [minProbability, 1]. Decreases are not capped.
public final class AdaptiveSampler: SpanConsumer, SamplingStrategyProvider {
    public struct Settings: Sendable, Equatable {
        public var targetTracesPerSecond = 1.0
        public var interval: Duration = .seconds(60)
        public var initialProbability = 0.001
        public var minProbability = 1e-5
        public var lowerBoundTracesPerSecond = 1.0 / 60
        public var deltaTolerance = 0.3
        /// Intervals in the weighted mean.
        public var buckets = 3

        public init() {}
    }

    struct Key: Hashable {
        var service: String
        var operation: String
    }

    struct State {
        var current: [Key: Int] = [:]
        /// Counts of the last intervals, newest first.
        var history: [[Key: Int]] = []
        var probabilities: [Key: Double] = [:]
    }

    public let settings: Settings
    public let next: any SpanConsumer
    let state = Mutex(State())

    public init(_ settings: Settings, next: any SpanConsumer) {
        self.settings = settings
        self.next = next
    }

    /// Counts root spans (those without a parent: where SDKs make the head-sampling decision).
    public func consume(_ batch: SpanBatch) async throws {
        var counts = [Key: Int]()
        let services = batch.serviceNamesByScope()
        for i in 0..<batch.count where !batch.parentSpanIDs[i].isValid {
            counts[Key(service: services[Int(batch.scopeIndices[i])], operation: batch.string(batch.names[i])), default: 0] += 1
        }
        if !counts.isEmpty { state.withLock { s in for (k, n) in counts { s.current[k, default: 0] += n } } }
        try await next.consume(batch)
    }

    /// Closes the current interval and recomputes probabilities.
    public func recalculate() {
        let seconds = settings.interval.inSeconds
        state.withLock { s in
            s.history.insert(s.current, at: 0)
            s.current = [:]
            if s.history.count > settings.buckets { s.history.removeLast() }
            let keys = Set(s.history.flatMap(\.keys))
            for key in keys {
                // Weighted mean of the per-second rates: the newest interval weighs `buckets`, the oldest 1.
                var sum = 0.0
                var weights = 0.0
                for (age, bucket) in s.history.enumerated() {
                    let w = Double(settings.buckets - age)
                    sum += w * Double(bucket[key] ?? 0) / seconds
                    weights += w
                }
                let measured = sum / weights
                let old = s.probabilities[key] ?? settings.initialProbability
                guard measured > 0 else { continue }
                if abs(measured - settings.targetTracesPerSecond) / settings.targetTracesPerSecond <= settings.deltaTolerance { continue }
                var p = old * settings.targetTracesPerSecond / measured
                if p > old { p = min(p, old * 1.5) }
                s.probabilities[key] = min(1, max(settings.minProbability, p))
            }
        }
    }

    /// Recalculates every interval until cancelled.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.interval)
            if Task.isCancelled { break }
            recalculate()
        }
    }

    public func probability(service: String, operation: String) -> Double {
        state.withLock { $0.probabilities[Key(service: service, operation: operation)] } ?? settings.initialProbability
    }

    public func strategy(for service: String) -> ServiceSamplingStrategy {
        let ops = state.withLock { s in
            s.probabilities.filter { $0.key.service == service }.map { (operation: $0.key.operation, probability: $0.value) }
        }.sorted { $0.operation < $1.operation }
        return ServiceSamplingStrategy(
            kind: .probabilistic(settings.initialProbability),
            operations: .init(
                defaultProbability: settings.initialProbability,
                defaultLowerBoundTracesPerSecond: settings.lowerBoundTracesPerSecond, defaultUpperBoundTracesPerSecond: nil,
                perOperation: ops))
    }
}
