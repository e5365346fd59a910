public import AriadnePipeline
import Synchronization

/// Counters behind /metrics, labelled by receiver and transport. Rendered in the Prometheus
/// text exposition format.
public final class ServerMetrics: MetricsSource {
    public enum Counter: String, CaseIterable, Sendable {
        case spansReceived = "ariadne_receiver_spans_received_total"
        case spansAccepted = "ariadne_receiver_spans_accepted_total"
        case spansRefused = "ariadne_receiver_spans_refused_total"
        case requestsMalformed = "ariadne_receiver_requests_malformed_total"
        case requestsThrottled = "ariadne_receiver_requests_throttled_total"
        case spansStored = "ariadne_storage_spans_stored_total"

        var help: String {
            switch self {
            case .spansReceived: return "Spans decoded by a receiver."
            case .spansAccepted: return "Spans a receiver handed to the pipeline."
            case .spansRefused: return "Spans a receiver refused (invalid, or the pipeline could not take them)."
            case .requestsMalformed: return "Requests refused because the body could not be decoded."
            case .requestsThrottled: return "Requests refused with backpressure (429/503/UNAVAILABLE)."
            case .spansStored: return "Spans written to the store."
            }
        }
    }

    struct Key: Hashable {
        var counter: Counter
        var receiver: String
        var transport: String
    }

    private let values = Mutex([Key: Int]())
    /// Datagrams dropped by the UDP receivers, by (receiver, transport, reason).
    private let drops = Mutex([[String]: Int]())
    /// The processors' own counters and gauges.
    public let pipeline = PipelineMetrics()

    public init() {}

    public func add(_ counter: Counter, _ n: Int, receiver: String, transport: String) {
        guard n != 0 else { return }
        values.withLock { $0[Key(counter: counter, receiver: receiver, transport: transport), default: 0] += n }
    }

    public func count(_ counter: Counter, receiver: String, transport: String) {
        add(counter, 1, receiver: receiver, transport: transport)
    }

    /// A UDP packet that was not taken: UDP has no answer to carry the error, so it is counted.
    public func countDrop(_ reason: String, receiver: String, transport: String) {
        drops.withLock { $0[[receiver, transport, reason], default: 0] += 1 }
    }

    public func drops(_ reason: String, receiver: String, transport: String) -> Int {
        drops.withLock { $0[[receiver, transport, reason]] ?? 0 }
    }

    public func value(_ counter: Counter, receiver: String, transport: String) -> Int {
        values.withLock { $0[Key(counter: counter, receiver: receiver, transport: transport)] ?? 0 }
    }

    /// The receivers' counters; every family is present, even at zero.
    public func collect(into out: inout PrometheusExposition) {
        let snapshot = values.withLock { $0 }
        for counter in Counter.allCases {
            out.family(counter.rawValue, .counter, help: counter.help)
            let rows = snapshot.filter { $0.key.counter == counter }.sorted {
                ($0.key.receiver, $0.key.transport) < ($1.key.receiver, $1.key.transport)
            }
            for (key, v) in rows { out.sample(counter.rawValue, [("receiver", key.receiver), ("transport", key.transport)], v) }
        }
        let dropped = "ariadne_receiver_packets_dropped_total"
        out.family(dropped, .counter, help: "UDP packets dropped: too_large, malformed, throttled or refused.")
        for (key, v) in drops.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out.sample(dropped, [("receiver", key[0]), ("transport", key[1]), ("reason", key[2])], v)
        }
    }
}
