public import AriadneModel

/// Jaeger's own span model, as its Thrift (`jaeger.thrift`) and protobuf (`model.proto`,
/// api_v2) messages carry it: both decoders produce it, and one translation turns it into the
/// span model — the way Jaeger v2 and the Collector's `jaeger` receiver translate it
/// (pkg/translator/jaeger): the process is the resource, `span.kind`, `error`,
/// `otel.status_code` / `otel.status_description`, `w3c.tracestate` and `otel.scope.*` tags
/// become fields, logs become events named by their `event` field, the first CHILD_OF
/// reference is the parent and every other reference a link with `opentracing.ref_type`.
struct JaegerBatch {
    var process: JaegerProcess?
    var spans: [JaegerSpan] = []
}

struct JaegerProcess: Hashable {
    var serviceName = ""
    var tags: [KeyValue] = []
}

struct JaegerReference {
    enum Kind { case childOf, followsFrom }
    var kind: Kind
    var traceID: TraceID
    var spanID: SpanID
}

struct JaegerLog {
    /// Unix nanoseconds.
    var time: UInt64
    var fields: [KeyValue]
}

struct JaegerSpan {
    var traceID = TraceID.zero
    var spanID = SpanID.zero
    /// Thrift's `parentSpanId`; protobuf carries the parent as a CHILD_OF reference only.
    var parentSpanID = SpanID.zero
    var operationName = ""
    var references: [JaegerReference] = []
    var flags: UInt32 = 0
    /// Unix nanoseconds, and the duration in nanoseconds.
    var startTime: UInt64 = 0
    var duration: UInt64 = 0
    var tags: [KeyValue] = []
    var logs: [JaegerLog] = []
    /// A span's own process (protobuf), else the batch's.
    var process: JaegerProcess?
    /// Why the span cannot be stored as sent (a negative time, say): it is refused, not the batch.
    var problem: String?
}

extension JaegerBatch {
    /// Appends the batch's spans to `batch`, with a rejection for each span that has a problem.
    func append(to batch: inout SpanBatch, rejections: inout [SpanRejection]) {
        var resources = [JaegerProcess: OwnedResource]()
        for span in spans {
            let process = span.process ?? self.process ?? JaegerProcess()
            let resource: OwnedResource
            if let r = resources[process] {
                resource = r
            } else {
                resource =
                    process.serviceName.isEmpty
                    ? OwnedResource(attributes: process.tags) : OwnedResource(service: process.serviceName, attributes: process.tags)
                resources[process] = resource
            }
            if let problem = span.problem { rejections.append(SpanRejection(index: batch.count, reason: problem)) }
            batch.append(span.translated(resource: resource))
        }
    }
}

extension JaegerSpan {
    /// Converts a microsecond time or duration to nanoseconds; negative or too large is a problem.
    static func nanoseconds(micros: Int64, _ what: String, problem: inout String?) -> UInt64 {
        guard micros >= 0 else {
            problem = problem ?? "\(what) must not be negative"
            return 0
        }
        let (ns, overflow) = UInt64(micros).multipliedReportingOverflow(by: 1000)
        if overflow { problem = problem ?? "\(what) is out of range" }
        return overflow ? 0 : ns
    }

    func translated(resource: OwnedResource) -> Span {
        var attributes = [KeyValue]()
        attributes.reserveCapacity(tags.count)
        var kind = SpanKind.internal
        var errorTag = false
        var otelStatus: String?
        var statusDescription: String?
        var traceState = ""
        var scope = OwnedScope()
        var httpStatus: Int64?
        for tag in tags {
            switch tag.key {
            case "span.kind":
                switch tag.value.displayString.lowercased() {
                case "client": kind = .client
                case "server": kind = .server
                case "producer": kind = .producer
                case "consumer": kind = .consumer
                case "internal": kind = .internal
                default: attributes.append(tag)  // unknown kinds stay visible, as Jaeger shows them
                }
            case "error":
                // A boolean `error` tag (or its string form, as some clients send it) is the status.
                if case .bool(let b) = tag.value {
                    errorTag = b
                } else if tag.value.displayString == "true" {
                    errorTag = true
                } else {
                    attributes.append(tag)
                }
            case "otel.status_code": otelStatus = tag.value.displayString.uppercased()
            case "otel.status_description": statusDescription = tag.value.displayString
            case "w3c.tracestate": traceState = tag.value.displayString
            case "otel.scope.name", "otel.library.name": scope.name = tag.value.displayString
            case "otel.scope.version", "otel.library.version": scope.version = tag.value.displayString
            default:
                if tag.key == "http.status_code" || tag.key == "http.response.status_code" {
                    switch tag.value {
                    case .int(let c): httpStatus = c
                    case .string(let s): httpStatus = Int64(s)
                    default: break
                    }
                }
                attributes.append(tag)
            }
        }
        var statusCode = StatusCode.unset
        var statusMessage = ""
        if errorTag {
            // The error tag is the ultimate truth for a Jaeger span's status.
            statusCode = .error
            statusMessage = statusDescription ?? ""
        } else if let otelStatus {
            statusCode = otelStatus == "ERROR" ? .error : otelStatus == "OK" ? .ok : .unset
            statusMessage = statusCode == .error ? statusDescription ?? "" : ""
        } else if let code = httpStatus, code >= 500 || (code >= 400 && kind == .client) {
            statusCode = .error
        }
        if statusCode != .error, let statusDescription, otelStatus == nil {
            attributes.append(KeyValue("otel.status_description", .string(statusDescription)))
        }

        var parent = parentSpanID
        if !parent.isValid, let ref = references.first(where: { $0.kind == .childOf && $0.traceID == traceID }) {
            parent = ref.spanID
        }
        var skippedParent = false
        var links = [Span.Link]()
        for ref in references {
            if !skippedParent && ref.kind == .childOf && ref.spanID == parent && ref.traceID == traceID {
                skippedParent = true
                continue
            }
            links.append(
                Span.Link(
                    traceID: ref.traceID, spanID: ref.spanID,
                    attributes: [KeyValue("opentracing.ref_type", .string(ref.kind == .childOf ? "child_of" : "follows_from"))]))
        }
        let events = logs.map { log in
            var name = ""
            var fields = [KeyValue]()
            fields.reserveCapacity(log.fields.count)
            for f in log.fields {
                if f.key == "event", name.isEmpty, case .string(let s) = f.value { name = s } else { fields.append(f) }
            }
            return Span.Event(time: log.time, name: name, attributes: fields)
        }
        let (end, overflow) = startTime.addingReportingOverflow(duration)
        return Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent, traceState: traceState, name: operationName, kind: kind,
            startTime: startTime, endTime: overflow ? startTime : end, attributes: attributes, events: events, links: links,
            statusCode: statusCode, statusMessage: statusMessage,
            flags: flags & 1,  // Jaeger's sampled bit is W3C's; debug and firehose have no OTLP field
            resource: resource, scope: scope)
    }
}
