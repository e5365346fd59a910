/// One span in owned form: for building batches in tests, workload generators and the slower
/// wire formats, and for rendering. The hot paths work on ``SpanBatch`` columns instead.
public struct Span: Hashable, Sendable {
    public var traceID: TraceID
    public var spanID: SpanID
    /// `.zero` for a root span.
    public var parentSpanID: SpanID
    public var traceState: String
    public var name: String
    public var kind: SpanKind
    /// Unix nanoseconds.
    public var startTime: UInt64
    public var endTime: UInt64
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32
    public var events: [Event]
    public var droppedEventsCount: UInt32
    public var links: [Link]
    public var droppedLinksCount: UInt32
    public var statusCode: StatusCode
    public var statusMessage: String
    /// OTLP span flags: low 8 bits are the W3C trace flags; 0x100/0x200 carry is-remote.
    public var flags: UInt32
    public var resource: OwnedResource
    public var scope: OwnedScope

    public init(
        traceID: TraceID, spanID: SpanID, parentSpanID: SpanID = .zero, traceState: String = "", name: String,
        kind: SpanKind = .internal, startTime: UInt64, endTime: UInt64, attributes: [KeyValue] = [],
        droppedAttributesCount: UInt32 = 0, events: [Event] = [], droppedEventsCount: UInt32 = 0,
        links: [Link] = [], droppedLinksCount: UInt32 = 0, statusCode: StatusCode = .unset,
        statusMessage: String = "", flags: UInt32 = 1, resource: OwnedResource = OwnedResource(),
        scope: OwnedScope = OwnedScope()
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.name = name
        self.kind = kind
        self.startTime = startTime
        self.endTime = endTime
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.events = events
        self.droppedEventsCount = droppedEventsCount
        self.links = links
        self.droppedLinksCount = droppedLinksCount
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.flags = flags
        self.resource = resource
        self.scope = scope
    }

    public var duration: UInt64 { endTime >= startTime ? endTime - startTime : 0 }

    public var serviceName: String { resource.serviceName }

    public struct Event: Hashable, Sendable {
        public var time: UInt64
        public var name: String
        public var attributes: [KeyValue]
        public var droppedAttributesCount: UInt32

        public init(time: UInt64, name: String, attributes: [KeyValue] = [], droppedAttributesCount: UInt32 = 0) {
            self.time = time
            self.name = name
            self.attributes = attributes
            self.droppedAttributesCount = droppedAttributesCount
        }
    }

    public struct Link: Hashable, Sendable {
        public var traceID: TraceID
        public var spanID: SpanID
        public var traceState: String
        public var attributes: [KeyValue]
        public var droppedAttributesCount: UInt32
        public var flags: UInt32

        public init(
            traceID: TraceID, spanID: SpanID, traceState: String = "", attributes: [KeyValue] = [],
            droppedAttributesCount: UInt32 = 0, flags: UInt32 = 0
        ) {
            self.traceID = traceID
            self.spanID = spanID
            self.traceState = traceState
            self.attributes = attributes
            self.droppedAttributesCount = droppedAttributesCount
            self.flags = flags
        }
    }
}

/// An owned OTLP resource.
public struct OwnedResource: Hashable, Sendable {
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32
    /// The `schema_url` of the ResourceSpans that carried it.
    public var schemaURL: String

    public init(attributes: [KeyValue] = [], droppedAttributesCount: UInt32 = 0, schemaURL: String = "") {
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.schemaURL = schemaURL
    }

    /// A resource with `service.name` set, followed by `attributes`.
    public init(service: String, attributes: [KeyValue] = []) {
        self.init(attributes: [KeyValue("service.name", .string(service))] + attributes)
    }

    public var serviceName: String {
        for kv in attributes where kv.key == "service.name" {
            if case .string(let s) = kv.value { return s }
        }
        return SpanBatch.unknownService
    }
}

/// An owned OTLP instrumentation scope.
public struct OwnedScope: Hashable, Sendable {
    public var name: String
    public var version: String
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32
    /// The `schema_url` of the ScopeSpans that carried it.
    public var schemaURL: String

    public init(
        name: String = "", version: String = "", attributes: [KeyValue] = [], droppedAttributesCount: UInt32 = 0,
        schemaURL: String = ""
    ) {
        self.name = name
        self.version = version
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.schemaURL = schemaURL
    }
}
