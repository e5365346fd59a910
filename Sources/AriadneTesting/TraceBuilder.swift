public import AriadneModel

/// Builds small traces by hand for tests: a tree of spans with known timing, services and
/// attributes.
///
///     var b = TraceBuilder(traceID: TraceID(high: 1, low: 2), start: 1_000_000_000)
///     let root = b.span("GET /", service: "frontend", kind: .server, at: 0, duration: 100_000_000)
///     b.span("SELECT", service: "db", kind: .client, parent: root, at: 10_000_000, duration: 5_000_000)
///     let batch = b.batch
public struct TraceBuilder {
    public let traceID: TraceID
    public let start: UInt64
    public private(set) var spans: [Span] = []
    private var nextID: UInt64

    public init(traceID: TraceID, start: UInt64, firstSpanID: UInt64 = 1) {
        self.traceID = traceID
        self.start = start
        self.nextID = firstSpanID
    }

    /// Adds a span starting `at` ns after the trace start; returns its id.
    @discardableResult
    public mutating func span(
        _ name: String, service: String, kind: SpanKind = .internal, parent: SpanID = .zero, at offset: UInt64,
        duration: UInt64, attributes: [KeyValue] = [], status: StatusCode = .unset, statusMessage: String = "",
        events: [Span.Event] = [], links: [Span.Link] = [], resourceAttributes: [KeyValue] = []
    ) -> SpanID {
        let id = SpanID(nextID)
        nextID += 1
        spans.append(
            Span(
                traceID: traceID, spanID: id, parentSpanID: parent, name: name, kind: kind,
                startTime: start + offset, endTime: start + offset + duration, attributes: attributes, events: events,
                links: links, statusCode: status, statusMessage: statusMessage,
                resource: OwnedResource(service: service, attributes: resourceAttributes),
                scope: OwnedScope(name: "ariadne.tests", version: "1")))
        return id
    }

    /// The spans as one batch.
    public var batch: SpanBatch {
        var b = SpanBatch()
        for s in spans { b.append(s) }
        return b
    }
}

extension SpanBatch {
    /// The spans of trace `id`, as one batch.
    public func spans(ofTrace id: TraceID) -> SpanBatch {
        selecting((0..<count).filter { traceIDs[$0] == id })
    }

    /// Every span in owned form, sorted by span id: for comparing batches regardless of order
    /// and of how resources and scopes were shared.
    public var ownedSpansSortedByID: [Span] {
        (0..<count).map { span(at: $0) }.sorted { ($0.traceID, $0.spanID) < ($1.traceID, $1.spanID) }
    }
}
