public import AriadneModel

/// Zipkin v2 JSON (`POST /api/v2/spans`, openzipkin/zipkin-api `zipkin2-api.yaml`) converted to
/// the span model the way the OpenTelemetry Collector's Zipkin receiver does: the local endpoint's
/// service becomes the resource, tags become string attributes, annotations become events, the
/// `error` tag becomes an error status.
public enum ZipkinJSON {
    public static func decodeSpans(
        _ bytes: UnsafeRawBufferPointer, into batch: inout SpanBatch, rejections: inout [SpanRejection]
    ) throws(DecodeError) {
        let root = try JSONValue.parse(bytes)
        guard case .array(let spans) = root else { throw DecodeError("Zipkin v2 body must be a JSON array of spans") }
        var scopeByService = [String: UInt32]()
        for (n, v) in spans.enumerated() {
            guard case .object = v else { throw DecodeError("span \(n) must be an object") }
            let (span, service, problem) = try decodeSpan(v, n)
            let scope: UInt32
            if let s = scopeByService[service] {
                scope = s
            } else {
                let r = batch.addResource(OwnedResource(service: service))
                scope = batch.addScope(OwnedScope(name: "zipkin"), resource: r)
                scopeByService[service] = scope
            }
            if let problem { rejections.append(SpanRejection(index: batch.count, reason: problem)) }
            batch.append(span, scope: scope)
        }
    }

    static func str(_ v: JSONValue?, _ name: String, _ n: Int) throws(DecodeError) -> String? {
        switch v {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw DecodeError("span \(n): \(name) must be a string")
        }
    }

    static func micros(_ v: JSONValue?, _ name: String, _ n: Int) throws(DecodeError) -> UInt64 {
        switch v {
        case nil, .null?: return 0
        case .number(let t)?:
            if let u = UInt64(t) { return u }
            if let d = Double(t), d >= 0, d < 1.8e19 { return UInt64(d) }
            throw DecodeError("span \(n): \(name) must be a non-negative integer of microseconds")
        default: throw DecodeError("span \(n): \(name) must be a number")
        }
    }

    static func decodeSpan(_ v: JSONValue, _ n: Int) throws(DecodeError) -> (Span, String, String?) {
        var problem: String? = nil
        let traceHex = try str(v["traceId"], "traceId", n) ?? ""
        let idHex = try str(v["id"], "id", n) ?? ""
        guard traceHex.utf8.allSatisfy({ Hex.nibble($0) != nil }), idHex.utf8.allSatisfy({ Hex.nibble($0) != nil })
        else { throw DecodeError("span \(n): traceId and id must be hex") }
        let traceID = TraceID(hex: traceHex) ?? .zero
        if traceHex.utf8.count != 16 && traceHex.utf8.count != 32 { problem = "traceId must be 16 or 32 hex digits" }
        let spanID = idHex.utf8.count == 16 ? (SpanID(hex: idHex) ?? .zero) : .zero
        if idHex.utf8.count != 16 { problem = "id must be 16 hex digits" }
        var parent = SpanID.zero
        if let p = try str(v["parentId"], "parentId", n), !p.isEmpty {
            guard let id = SpanID(hex: p), p.utf8.count == 16 else { throw DecodeError("span \(n): parentId must be 16 hex digits") }
            parent = id
        }
        let kind: SpanKind
        switch try str(v["kind"], "kind", n) {
        case "CLIENT"?: kind = .client
        case "SERVER"?: kind = .server
        case "PRODUCER"?: kind = .producer
        case "CONSUMER"?: kind = .consumer
        case nil: kind = .internal
        case let other?: throw DecodeError("span \(n): unknown kind \(other)")
        }
        let start = try micros(v["timestamp"], "timestamp", n) &* 1000
        let end = start &+ (try micros(v["duration"], "duration", n) &* 1000)

        let local = v["localEndpoint"]
        let service = try str(local?["serviceName"], "localEndpoint.serviceName", n) ?? SpanBatch.unknownService
        var attributes = [KeyValue]()
        var statusCode = StatusCode.unset
        var statusMessage = ""
        if let tags = v["tags"], !tags.isNull {
            guard case .object(let members) = tags else { throw DecodeError("span \(n): tags must be an object") }
            for (k, tv) in members {
                guard case .string(let s) = tv else { throw DecodeError("span \(n): tag \(k) must be a string") }
                if k == "error" {
                    statusCode = .error
                    statusMessage = s
                    continue
                }
                attributes.append(KeyValue(k, .string(s)))
            }
        }
        if let remote = v["remoteEndpoint"], !remote.isNull {
            if let s = try str(remote["serviceName"], "remoteEndpoint.serviceName", n) {
                attributes.append(KeyValue("peer.service", .string(s)))
            }
            let ipv4 = try str(remote["ipv4"], "remoteEndpoint.ipv4", n)
            let ipv6 = try str(remote["ipv6"], "remoteEndpoint.ipv6", n)
            if let ip = ipv4 ?? ipv6 {
                attributes.append(KeyValue("network.peer.address", .string(ip)))
            }
            if case .number(let p)? = remote["port"], let port = Int64(p) {
                attributes.append(KeyValue("network.peer.port", .int(port)))
            }
        }
        var events = [Span.Event]()
        if let annotations = v["annotations"], !annotations.isNull {
            guard case .array(let list) = annotations else { throw DecodeError("span \(n): annotations must be an array") }
            for a in list {
                events.append(
                    Span.Event(
                        time: try micros(a["timestamp"], "annotation.timestamp", n) &* 1000,
                        name: try str(a["value"], "annotation.value", n) ?? ""))
            }
        }
        let span = Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent, name: try str(v["name"], "name", n) ?? "",
            kind: kind, startTime: start, endTime: end, attributes: attributes, events: events,
            statusCode: statusCode, statusMessage: statusMessage,
            flags: 1)  // a reported Zipkin span was sampled
        return (span, service, problem)
    }
}
