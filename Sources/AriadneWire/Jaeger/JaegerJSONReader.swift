public import AriadneModel

extension JaegerJSON {
    /// Traces as a Jaeger JSON file, `{"data": [trace...]}`: what ``decodeTraces(_:)`` reads.
    public static func encodeTraces(_ traces: [SpanBatch]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("data")
        w.beginArray()
        for t in traces { writeTrace(t, into: &w) }
        w.endArray()
        w.endObject()
        return w.out
    }

    /// Reads Jaeger JSON as the Jaeger UI downloads it and `/api/traces` serves it: `{"data": [trace...]}`,
    /// one trace object, or an array of traces. The inverse of ``writeTrace(_:into:)``: the tags it
    /// adds (`span.kind`, `otel.status_code`, `otel.status_description`, `otel.scope.*`, `error`,
    /// `w3c.tracestate`) become fields again; a CHILD_OF reference is the parent, other references
    /// are links; `event` in a log is the event's name.
    public static func decodeTraces(_ bytes: [UInt8]) throws(DecodeError) -> SpanBatch {
        let doc = try JSONValue.parse(bytes)
        let traces: [JSONValue]
        if let data = doc["data"]?.arrayValue {
            traces = data
        } else if let list = doc.arrayValue {
            traces = list
        } else if doc["spans"] != nil {
            traces = [doc]
        } else {
            throw DecodeError("expected Jaeger JSON: {\"data\": [traces]}, a trace with \"spans\", or an array of traces")
        }
        var batch = SpanBatch()
        for (t, trace) in traces.enumerated() {
            var processes = [String: OwnedResource]()
            if case .object(let members)? = trace["processes"] {
                for (key, p) in members {
                    var attributes = [KeyValue("service.name", .string(p["serviceName"]?.stringValue ?? ""))]
                    attributes += try (p["tags"]?.arrayValue ?? []).map { tag throws(DecodeError) in try keyValue(tag) }
                    processes[key] = OwnedResource(attributes: attributes)
                }
            }
            guard let spans = trace["spans"]?.arrayValue else { throw DecodeError("trace \(t): no \"spans\" array") }
            for (n, s) in spans.enumerated() {
                do throws(DecodeError) {
                    batch.append(try span(s, processes: processes))
                } catch {
                    throw DecodeError("trace \(t), span \(n): \(error.message)")
                }
            }
        }
        return batch
    }

    static func span(_ s: JSONValue, processes: [String: OwnedResource]) throws(DecodeError) -> Span {
        guard let traceText = s["traceID"]?.stringValue, let traceID = TraceID(hex: traceText), traceID.isValid else {
            throw DecodeError("\"traceID\" must be a non-zero hex trace id")
        }
        guard let spanText = s["spanID"]?.stringValue, let spanID = SpanID(hex: spanText), spanID.isValid else {
            throw DecodeError("\"spanID\" must be a non-zero hex span id")
        }
        let start = try micros(s["startTime"], "startTime")
        let duration = try micros(s["duration"], "duration")
        var parent = SpanID.zero
        var links = [Span.Link]()
        for r in s["references"]?.arrayValue ?? [] {
            guard let id = r["spanID"]?.stringValue.flatMap({ SpanID(hex: $0) }) else {
                throw DecodeError("a reference needs a hex \"spanID\"")
            }
            let refTrace = r["traceID"]?.stringValue.flatMap { TraceID(hex: $0) } ?? traceID
            if r["refType"]?.stringValue == "CHILD_OF" && !parent.isValid && refTrace == traceID {
                parent = id
            } else {
                links.append(Span.Link(traceID: refTrace, spanID: id))
            }
        }
        var span = Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent, name: s["operationName"]?.stringValue ?? "",
            kind: .unspecified, startTime: start, endTime: start + duration, links: links,
            resource: s["processID"]?.stringValue.flatMap { processes[$0] }
                ?? s["process"].map { p in OwnedResource(service: p["serviceName"]?.stringValue ?? "") }
                ?? OwnedResource(service: ""))
        if case .number(let f)? = s["flags"], let flags = UInt32(f) { span.flags = flags }
        var errorTag = false
        for tag in s["tags"]?.arrayValue ?? [] {
            let kv = try keyValue(tag)
            switch (kv.key, kv.value) {
            case ("span.kind", .string(let k)): span.kind = SpanKind(jaegerName: k) ?? .unspecified
            case ("otel.status_code", .string(let c)): span.statusCode = c == "ERROR" ? .error : c == "OK" ? .ok : .unset
            case ("otel.status_description", .string(let m)): span.statusMessage = m
            case ("otel.scope.name", .string(let n)): span.scope.name = n
            case ("otel.scope.version", .string(let v)): span.scope.version = v
            case ("w3c.tracestate", .string(let ts)): span.traceState = ts
            case ("error", .bool(let b)): errorTag = b
            case ("error", .string(let b)): errorTag = b == "true"
            default: span.attributes.append(kv)
            }
        }
        if errorTag && span.statusCode == .unset { span.statusCode = .error }
        for log in s["logs"]?.arrayValue ?? [] {
            var event = Span.Event(time: try micros(log["timestamp"], "logs.timestamp"), name: "")
            for field in log["fields"]?.arrayValue ?? [] {
                let kv = try keyValue(field)
                if kv.key == "event", case .string(let name) = kv.value, event.name.isEmpty {
                    event.name = name
                } else {
                    event.attributes.append(kv)
                }
            }
            span.events.append(event)
        }
        return span
    }

    static func micros(_ v: JSONValue?, _ name: String) throws(DecodeError) -> UInt64 {
        guard case .number(let text)? = v, let us = UInt64(text) ?? Double(text).flatMap({ $0 >= 0 ? UInt64($0) : nil }),
            us <= UInt64.max / 1000
        else { throw DecodeError("\"\(name)\" must be a non-negative number of microseconds") }
        return us * 1000
    }

    /// A Jaeger tag `{"key", "type", "value"}`; the type is taken from the value when absent.
    static func keyValue(_ tag: JSONValue) throws(DecodeError) -> KeyValue {
        guard let key = tag["key"]?.stringValue else { throw DecodeError("a tag needs a string \"key\"") }
        let type = tag["type"]?.stringValue?.lowercased()
        switch (type, tag["value"]) {
        case (_, .bool(let b)?): return KeyValue(key, .bool(b))
        case ("int64", .number(let n)?),
            (nil, .number(let n)?) where Int64(n) != nil:
            guard let i = Int64(n) else { throw DecodeError("tag '\(key)': \(n) is not an int64") }
            return KeyValue(key, .int(i))
        case ("int64", .string(let n)?):
            guard let i = Int64(n) else { throw DecodeError("tag '\(key)': \(n) is not an int64") }
            return KeyValue(key, .int(i))
        case (_, .number(let n)?):
            guard let d = Double(n) else { throw DecodeError("tag '\(key)': \(n) is not a number") }
            return KeyValue(key, .double(d))
        case ("binary", .string(let b64)?):
            guard let bytes = Base64.decode(b64) else { throw DecodeError("tag '\(key)': binary value is not base64") }
            return KeyValue(key, .bytes(bytes))
        case ("bool", .string(let b)?): return KeyValue(key, .bool(b == "true"))
        case (_, .string(let s)?): return KeyValue(key, .string(s))
        case (_, nil), (_, .null?): return KeyValue(key, .empty)
        default: throw DecodeError("tag '\(key)': unsupported value")
        }
    }
}
