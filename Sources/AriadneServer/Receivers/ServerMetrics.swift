public import AriadnePipeline
import Synchronization

/// Counters behind /metrics, labelled by receiver and transport. Rendered in the Prometheus
/// text exposition format.
public final class ServerMetrics: Sendable {
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
    /// The processors' own counters and gauges, rendered after the receivers'.
    public let pipeline = PipelineMetrics()

    public init() {}

    public func add(_ counter: Counter, _ n: Int, receiver: String, transport: String) {
        guard n != 0 else { return }
        values.withLock { $0[Key(counter: counter, receiver: receiver, transport: transport), default: 0] += n }
    }

    public func count(_ counter: Counter, receiver: String, transport: String) {
        add(counter, 1, receiver: receiver, transport: transport)
    }

    public func value(_ counter: Counter, receiver: String, transport: String) -> Int {
        values.withLock { $0[Key(counter: counter, receiver: receiver, transport: transport)] ?? 0 }
    }

    /// Prometheus text format 0.0.4; every counter family is present, even at zero.
    public func render(extraGauges: [(name: String, help: String, value: Int)] = []) -> String {
        let snapshot = values.withLock { $0 }
        var out = ""
        for counter in Counter.allCases {
            out += "# HELP \(counter.rawValue) \(counter.help)\n# TYPE \(counter.rawValue) counter\n"
            let rows = snapshot.filter { $0.key.counter == counter }.sorted {
                ($0.key.receiver, $0.key.transport) < ($1.key.receiver, $1.key.transport)
            }
            for (key, v) in rows {
                out += "\(counter.rawValue){receiver=\"\(key.receiver)\",transport=\"\(key.transport)\"} \(v)\n"
            }
        }
        for g in extraGauges {
            out += "# HELP \(g.name) \(g.help)\n# TYPE \(g.name) gauge\n\(g.name) \(g.value)\n"
        }
        return out + pipeline.render()
    }
}
