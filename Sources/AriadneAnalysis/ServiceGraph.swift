public import AriadneStorage

/// The service graph of a window: every service that sent spans, every leaf it called
/// (database, cache, queue, outside API), and the calls between them.
public struct ServiceGraph: Sendable {
    public struct Node: Sendable, Equatable {
        public var service: String
        /// `service`, or the leaf's kind: `database`, `cache`, `messaging`, `external`.
        public var type: String
        public var callsIn: Int
        public var callsOut: Int
    }

    public var window: ClosedRange<UInt64>
    /// Sorted by name.
    public var nodes: [Node]
    public var edges: [DependencyLink]

    /// Connection types of a link to a leaf that sends no spans (a database, a cache, a queue, an outside API).
    public static let leafTypes: Set<String> = ["database", "cache", "messaging", "external"]

    /// `services`: every service with spans (a service that neither calls nor is called is
    /// still a node); `links`: the window's calls.
    public init(services: [String], links: [DependencyLink], window: ClosedRange<UInt64>) {
        self.window = window
        edges = links
        var types = [String: String]()
        for s in services { types[s] = "service" }
        for l in links {
            types[l.parent] = types[l.parent] ?? "service"
            // A name that also sends spans is a service, whatever a client span called it.
            if types[l.child] != "service" { types[l.child] = Self.leafTypes.contains(l.connectionType) ? l.connectionType : "service" }
        }
        var callsIn = [String: Int]()
        var callsOut = [String: Int]()
        for l in links {
            callsIn[l.child, default: 0] += l.callCount
            callsOut[l.parent, default: 0] += l.callCount
        }
        nodes = types.sorted { $0.key < $1.key }.map {
            Node(service: $0.key, type: $0.value, callsIn: callsIn[$0.key] ?? 0, callsOut: callsOut[$0.key] ?? 0)
        }
    }

    /// The window's length in seconds (at least a nanosecond, so rates stay finite).
    public var seconds: Double { max(1e-9, Double(window.upperBound - window.lowerBound) / 1e9) }
}
