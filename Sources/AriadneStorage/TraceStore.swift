public import AriadneModel

/// Writes spans to storage.
public protocol TraceWriter: Sendable {
    /// Writes a batch of spans. When it returns, the spans are visible to readers (and durable,
    /// for stores that promise durability). Idempotent for identical spans as far as queries can
    /// tell: a trace returned later holds each (span id) once.
    func write(_ batch: SpanBatch) async throws
}

/// Reads traces back. Every method is safe to call concurrently with writes.
public protocol TraceReader: Sendable {
    /// Service names that have spans, sorted.
    func services() async throws -> [String]

    /// Operations of a service, optionally of one span kind, sorted by name then kind.
    func operations(service: String, kind: SpanKind?) async throws -> [SpanOperation]

    /// Every span of one trace, or nil when the store has none. With `window`, a trace is
    /// returned only if one of its spans starts inside the window (Unix ns, inclusive).
    func trace(id: TraceID, window: ClosedRange<UInt64>?) async throws -> SpanBatch?

    /// Ids of traces with at least one span matching every span condition of `matcher.query`
    /// and meeting its trace bounds, in `query.order`, at most `query.limit`. The matcher is
    /// compiled once by the caller and shared by every part of the store. A long search checks
    /// for cancellation between the parts it reads and throws `CancellationError`.
    func findTraceIDs(matching matcher: SpanMatcher) async throws -> [TraceID]

    /// The named traces the store has, in the order asked (missing ones left out), read in one
    /// pass where the store can.
    func traces(_ ids: [TraceID]) async throws -> [SpanBatch]

    /// Calls between services, and to leaf nodes, from spans that start inside the window (see
    /// ``DependencyLink``); with `step`, each link also counts calls per step of the window.
    func dependencies(window: ClosedRange<UInt64>, step: UInt64?) async throws -> [DependencyLink]

    /// Summaries of the named traces that exist, in the same order.
    func summaries(_ ids: [TraceID]) async throws -> [TraceSummary]
}

public typealias TraceStore = TraceReader & TraceWriter

extension TraceReader {
    public func dependencies(window: ClosedRange<UInt64>) async throws -> [DependencyLink] {
        try await dependencies(window: window, step: nil)
    }

    /// Summaries built from the spans; stores that keep summaries answer faster.
    public func summaries(_ ids: [TraceID]) async throws -> [TraceSummary] {
        var out = [TraceSummary]()
        for id in ids { if let t = try await trace(id: id, window: nil), !t.isEmpty { out.append(TraceSummary(of: t)) } }
        return out
    }

    /// Throws ``FilterError`` for a filter that cannot run (an invalid regular expression).
    public func findTraceIDs(_ query: TraceQuery) async throws -> [TraceID] {
        try await findTraceIDs(matching: SpanMatcher(query))
    }

    public func traces(_ ids: [TraceID]) async throws -> [SpanBatch] {
        var out = [SpanBatch]()
        for id in ids {
            try Task.checkCancellation()
            if let t = try await trace(id: id, window: nil), !t.isEmpty { out.append(t) }
        }
        return out
    }

    /// The traces `findTraceIDs` names, in the same order.
    public func findTraces(_ query: TraceQuery) async throws -> [SpanBatch] {
        try await traces(try await findTraceIDs(query))
    }
}

/// An operation (span name) of a service with the span kind it was seen with.
public struct SpanOperation: Hashable, Sendable, Comparable {
    public var name: String
    public var kind: SpanKind

    public init(name: String, kind: SpanKind) {
        self.name = name
        self.kind = kind
    }

    public static func < (a: SpanOperation, b: SpanOperation) -> Bool {
        a.name != b.name ? a.name < b.name : a.kind.rawValue < b.kind.rawValue
    }
}

extension SpanBatch {
    /// The batch's distinct operations by service, strings made per operation, not per span.
    public func operationsByService() -> [String: Set<SpanOperation>] {
        let services = serviceNumbers()
        var out = [String: Set<SpanOperation>]()
        for i in operationNumbers(services: services.ofScope).firstSpans {
            out[services.names[Int(services.ofScope[Int(scopeIndices[i])])], default: []].insert(
                SpanOperation(name: string(names[i]), kind: kinds[i]))
        }
        return out
    }
}

/// Calls from one service to another: how many, how many failed and how long they took.
///
/// Between two services (a parent span and its child in another service, such as a client call
/// and the server span it caused, or a producer and its consumer) a call's latency and outcome
/// are the child's: the callee as it served the call. A call to something that sends no spans
/// (a database, a cache, a queue, an outside API, named by the client span's `peer.service`,
/// `server.address`, `db.system` or `messaging.system`) is a leaf node, timed by the client span.
public struct DependencyLink: Hashable, Sendable {
    public var parent: String
    public var child: String
    public var callCount: Int
    public var errorCount: Int
    /// ns.
    public var p50Duration: UInt64
    public var p95Duration: UInt64
    public var p99Duration: UInt64
    /// What the child is: "" another service; "messaging_system" a consumer reached through a
    /// queue; "database", "cache", "messaging" or "external" a leaf that sends no spans (as
    /// Tempo's service graphs label virtual nodes).
    public var connectionType: String
    /// Calls and errors per `step` of the window, oldest first, when a step was asked for.
    public var series: [WindowCount]

    public struct WindowCount: Hashable, Sendable {
        public var start: UInt64
        public var calls: Int
        public var errors: Int
    }

    public init(
        parent: String, child: String, callCount: Int, errorCount: Int = 0, p50Duration: UInt64 = 0, p95Duration: UInt64 = 0,
        p99Duration: UInt64 = 0, connectionType: String = "", series: [WindowCount] = []
    ) {
        self.parent = parent
        self.child = child
        self.callCount = callCount
        self.errorCount = errorCount
        self.p50Duration = p50Duration
        self.p95Duration = p95Duration
        self.p99Duration = p99Duration
        self.connectionType = connectionType
        self.series = series
    }
}

/// Search conditions. One span must meet every span condition (service, operation, kind, tags,
/// filter, start window, span duration), as in Jaeger; the trace-duration bounds apply to the
/// whole trace (its first start to its last end).
public struct TraceQuery: Sendable, Equatable {
    public var service: String?
    public var operation: String?
    public var spanKind: SpanKind?
    /// Key/value pairs matched against span, resource, scope, event and link attributes (value
    /// compared in its display form), as Jaeger's stores match tags, and the pseudo-tags Jaeger renders:
    /// `error`, `span.kind`, `otel.status_code`, `otel.status_description`, `otel.scope.name`.
    public var tags: [String: String]
    /// Typed conditions combined with and/or (see ``FilterParser`` for the text form).
    public var filter: SpanFilter?
    /// Window on span start time, Unix nanoseconds, inclusive.
    public var startMin: UInt64?
    public var startMax: UInt64?
    /// Bounds on span duration in nanoseconds, inclusive.
    public var durationMin: UInt64?
    public var durationMax: UInt64?
    /// Bounds on trace duration in nanoseconds, inclusive.
    public var traceDurationMin: UInt64?
    public var traceDurationMax: UInt64?
    public var order: TraceOrder
    public var limit: Int

    public init(
        service: String? = nil, operation: String? = nil, spanKind: SpanKind? = nil, tags: [String: String] = [:],
        filter: SpanFilter? = nil, startMin: UInt64? = nil, startMax: UInt64? = nil, durationMin: UInt64? = nil,
        durationMax: UInt64? = nil, traceDurationMin: UInt64? = nil, traceDurationMax: UInt64? = nil,
        order: TraceOrder = .mostRecent, limit: Int = 20
    ) {
        self.service = service
        self.operation = operation
        self.spanKind = spanKind
        self.tags = tags
        self.filter = filter
        self.startMin = startMin
        self.startMax = startMax
        self.durationMin = durationMin
        self.durationMax = durationMax
        self.traceDurationMin = traceDurationMin
        self.traceDurationMax = traceDurationMax
        self.order = order
        self.limit = limit
    }

    /// Whether a trace spanning `start...end` meets the trace-duration bounds.
    public func acceptsTrace(start: UInt64, end: UInt64) -> Bool {
        let d = end >= start ? end - start : 0
        if let m = traceDurationMin, d < m { return false }
        if let m = traceDurationMax, d > m { return false }
        return true
    }
}

/// Per-span matching of a ``TraceQuery``, shared by stores that scan batches.
public struct SpanMatcher: Sendable {
    public let query: TraceQuery
    public let filter: CompiledFilter?

    /// Throws ``FilterError`` for an invalid regular expression in the filter.
    public init(_ query: TraceQuery) throws {
        self.query = query
        filter = try query.filter.map { try CompiledFilter($0) }
    }

    /// The attribute keys that matching reads (`service.name` for the service): a store may
    /// give it candidates holding only these attributes.
    public var attributeKeys: Set<String> {
        var keys: Set<String> = ["service.name"]
        keys.formUnion(query.tags.keys)
        func add(_ f: SpanFilter) {
            switch f {
            case .and(let parts), .or(let parts): parts.forEach(add)
            case .compare(.attribute(_, let key), _, _): keys.insert(key)
            case .compare: break
            }
        }
        query.filter.map(add)
        return keys
    }

    /// Whether some span of `batch` meets every condition.
    public func matchesAny(_ batch: SpanBatch) -> Bool {
        (0..<batch.count).contains { matches(batch, $0) }
    }

    /// Tag keys that are not attributes but rendered span fields (Jaeger's pseudo-tags).
    public static let pseudoTags: Set<String> = [
        "error", "span.kind", "otel.status_code", "otel.status_description", "otel.scope.name",
    ]

    /// Whether span `i` of `batch` meets every condition.
    public func matches(_ batch: SpanBatch, _ i: Int) -> Bool {
        let start = batch.startTimes[i]
        if let m = query.startMin, start < m { return false }
        if let m = query.startMax, start > m { return false }
        let d = batch.duration(ofSpan: i)
        if let m = query.durationMin, d < m { return false }
        if let m = query.durationMax, d > m { return false }
        if let k = query.spanKind, batch.kinds[i] != k { return false }
        if let op = query.operation, !batch.equals(batch.names[i], op) { return false }
        let resource = batch.resources[Int(batch.scopes[Int(batch.scopeIndices[i])].resource)]
        if let s = query.service {
            if resource.serviceName.count == 0 {
                if s != SpanBatch.unknownService { return false }
            } else if !batch.equals(resource.serviceName, s) {
                return false
            }
        }
        for (key, value) in query.tags where !tagMatches(batch, i, key, value) { return false }
        if let filter, !filter.matches(batch, i) { return false }
        return true
    }

    func tagMatches(_ batch: SpanBatch, _ i: Int, _ key: String, _ value: String) -> Bool {
        switch key {
        case "error":
            if batch.statusCodes[i] == .error { return value == "true" }
        case "span.kind":
            if batch.kinds[i].jaegerName == value { return true }
        case "otel.status_code":
            if (batch.statusCodes[i] == .error && value == "ERROR") || (batch.statusCodes[i] == .ok && value == "OK") {
                return true
            }
        case "otel.status_description":
            if batch.equals(batch.statusMessages[i], value) { return true }
        case "otel.scope.name":
            if batch.equals(batch.scopes[Int(batch.scopeIndices[i])].name, value) { return true }
        default: break
        }
        // Values compare in their display form, as Jaeger renders them.
        return batch.anyTagAttribute(ofSpan: i, key: key) { v in
            if case .string(let r) = v { return batch.equals(r, value) }
            return batch.attributeValue(v).displayString == value
        }
    }
}
