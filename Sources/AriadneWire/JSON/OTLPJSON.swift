public import AriadneModel

/// OTLP/JSON for traces, following the "JSON Protobuf Encoding" rules of the OTLP
/// specification: lowerCamelCase keys only, trace and span ids as hex (either case), other bytes
/// as base64, enums as integers (names also accepted on input), 64-bit integers as strings or
/// numbers on input and strings on output, unknown keys ignored.
public enum OTLPJSON {
    // MARK: decoding

    /// Decodes an ExportTraceServiceRequest (or TracesData) JSON body, appending to `batch`.
    public static func decodeExportRequest(
        _ bytes: UnsafeRawBufferPointer, into batch: inout SpanBatch, rejections: inout [SpanRejection]
    ) throws(DecodeError) {
        let root = try JSONValue.parse(bytes)
        guard case .object = root else { throw DecodeError("request body must be a JSON object") }
        for rs in try array(root["resourceSpans"], "resourceSpans") {
            try object(rs, "resourceSpans[]")
            let resource = try decodeResource(rs["resource"], schemaURL: string(rs["schemaUrl"], "schemaUrl"))
            let r = batch.addResource(resource)
            for ss in try array(rs["scopeSpans"], "scopeSpans") {
                try object(ss, "scopeSpans[]")
                let scope = try decodeScope(ss["scope"], schemaURL: string(ss["schemaUrl"], "schemaUrl"))
                let s = batch.addScope(scope, resource: r)
                for sp in try array(ss["spans"], "spans") {
                    let (span, problem) = try decodeSpan(sp)
                    if let problem { rejections.append(SpanRejection(index: batch.count, reason: problem)) }
                    batch.append(span, scope: s)
                }
            }
        }
    }

    public static func decodeExportRequest(_ bytes: [UInt8]) throws(DecodeError) -> (SpanBatch, [SpanRejection]) {
        var batch = SpanBatch()
        var rejections = [SpanRejection]()
        try bytes.withUnsafeBytesTyped { buf throws(DecodeError) in
            try decodeExportRequest(buf, into: &batch, rejections: &rejections)
        }
        return (batch, rejections)
    }

    static func object(_ v: JSONValue, _ name: String) throws(DecodeError) {
        guard case .object = v else { throw DecodeError("\(name) must be an object") }
    }

    static func array(_ v: JSONValue?, _ name: String) throws(DecodeError) -> [JSONValue] {
        switch v {
        case nil, .null?: return []
        case .array(let a)?: return a
        default: throw DecodeError("\(name) must be an array")
        }
    }

    static func string(_ v: JSONValue?, _ name: String) throws(DecodeError) -> String {
        switch v {
        case nil, .null?: return ""
        case .string(let s)?: return s
        default: throw DecodeError("\(name) must be a string")
        }
    }

    /// A 64-bit unsigned integer written as a JSON number or a decimal string.
    static func uint64(_ v: JSONValue?, _ name: String) throws(DecodeError) -> UInt64 {
        switch v {
        case nil, .null?: return 0
        case .number(let text)?, .string(let text)?:
            if let u = UInt64(text) { return u }
            // Exponent forms such as 1.7e18 are valid JSON numbers for integral values.
            if let d = Double(text), d >= 0, d < 1.8446744073709552e19, d == d.rounded() { return UInt64(d) }
            throw DecodeError("\(name) must be an unsigned 64-bit integer, got \(text)")
        default: throw DecodeError("\(name) must be an integer")
        }
    }

    static func int64(_ v: JSONValue?, _ name: String) throws(DecodeError) -> Int64 {
        switch v {
        case nil, .null?: return 0
        case .number(let text)?, .string(let text)?:
            if let i = Int64(text) { return i }
            if let d = Double(text), abs(d) < 9.2e18, d == d.rounded() { return Int64(d) }
            throw DecodeError("\(name) must be a 64-bit integer, got \(text)")
        default: throw DecodeError("\(name) must be an integer")
        }
    }

    static func uint32(_ v: JSONValue?, _ name: String) throws(DecodeError) -> UInt32 {
        let u = try uint64(v, name)
        guard u <= UInt64(UInt32.max) else { throw DecodeError("\(name) out of range") }
        return UInt32(u)
    }

    /// An enum field: an integer, or its name as protobuf JSON parsers also accept.
    static func enumValue(_ v: JSONValue?, _ name: String, names: [String]) throws(DecodeError) -> Int32 {
        if case .string(let s)? = v, let k = names.firstIndex(of: s) { return Int32(k) }
        let i = try int64(v, name)
        guard let e = Int32(exactly: i) else { throw DecodeError("\(name) out of range") }
        return e
    }

    static let kindNames = [
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ]
    static let statusNames = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]

    /// A hex id field. Non-hex text is malformed (400); a wrong length is a span-level problem.
    static func hexID(_ v: JSONValue?, _ name: String) throws(DecodeError) -> [UInt8] {
        let s = try string(v, name)
        guard let bytes = Hex.decode(s) else { throw DecodeError("\(name) is not a hex string: \(s.prefix(64))") }
        return bytes
    }

    static func decodeAttributes(_ v: JSONValue?, depth: Int = 0) throws(DecodeError) -> [KeyValue] {
        var out = [KeyValue]()
        for kv in try array(v, "attributes") {
            try object(kv, "attribute")
            out.append(KeyValue(try string(kv["key"], "key"), try decodeAnyValue(kv["value"], depth: depth)))
        }
        return out
    }

    static func decodeAnyValue(_ v: JSONValue?, depth: Int) throws(DecodeError) -> AttributeValue {
        guard depth < OTLPProtobuf.maxValueDepth else { throw DecodeError("attribute values nested too deeply") }
        guard case .object(let members)? = v else {
            if v == nil || v == .null { return .empty }
            throw DecodeError("attribute value must be an object")
        }
        var result = AttributeValue.empty
        for (key, value) in members {
            switch key {
            case "stringValue": result = .string(try string(value, key))
            case "boolValue":
                guard case .bool(let b) = value else { throw DecodeError("boolValue must be true or false") }
                result = .bool(b)
            case "intValue": result = .int(try int64(value, key))
            case "doubleValue":
                switch value {
                case .number(let t), .string(let t):
                    guard let d = Double(t) ?? specialDouble(t) else { throw DecodeError("doubleValue is not a number") }
                    result = .double(d)
                default: throw DecodeError("doubleValue must be a number")
                }
            case "bytesValue":
                guard let b = Base64.decode(try string(value, key)) else { throw DecodeError("bytesValue is not base64") }
                result = .bytes(b)
            case "arrayValue":
                var values = [AttributeValue]()
                for e in try array(value["values"], "arrayValue.values") {
                    values.append(try decodeAnyValue(e, depth: depth + 1))
                }
                result = .array(values)
            case "kvlistValue":
                result = .kvlist(try decodeAttributes(value["values"], depth: depth + 1))
            default: continue
            }
        }
        return result
    }

    static func specialDouble(_ t: String) -> Double? {
        switch t {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return nil
        }
    }

    static func decodeResource(_ v: JSONValue?, schemaURL: String) throws(DecodeError) -> OwnedResource {
        guard let v, !v.isNull else { return OwnedResource(schemaURL: schemaURL) }
        try object(v, "resource")
        return OwnedResource(
            attributes: try decodeAttributes(v["attributes"]),
            droppedAttributesCount: try uint32(v["droppedAttributesCount"], "droppedAttributesCount"),
            schemaURL: schemaURL)
    }

    static func decodeScope(_ v: JSONValue?, schemaURL: String) throws(DecodeError) -> OwnedScope {
        guard let v, !v.isNull else { return OwnedScope(schemaURL: schemaURL) }
        try object(v, "scope")
        return OwnedScope(
            name: try string(v["name"], "scope.name"), version: try string(v["version"], "scope.version"),
            attributes: try decodeAttributes(v["attributes"]),
            droppedAttributesCount: try uint32(v["droppedAttributesCount"], "droppedAttributesCount"),
            schemaURL: schemaURL)
    }

    /// Decodes one span; the second value names a span-level problem (an id of the wrong length).
    static func decodeSpan(_ v: JSONValue) throws(DecodeError) -> (Span, String?) {
        try object(v, "span")
        var problem: String? = nil
        let traceBytes = try hexID(v["traceId"], "traceId")
        let spanBytes = try hexID(v["spanId"], "spanId")
        let parentBytes = try hexID(v["parentSpanId"], "parentSpanId")
        let traceID = TraceID(bytes: traceBytes) ?? .zero
        if traceBytes.count != 16 { problem = "traceId must be 32 hex digits" }
        let spanID = SpanID(bytes: spanBytes) ?? .zero
        if spanBytes.count != 8 { problem = "spanId must be 16 hex digits" }
        let parent = parentBytes.isEmpty ? SpanID.zero : (SpanID(bytes: parentBytes) ?? .zero)
        if !parentBytes.isEmpty && parentBytes.count != 8 { problem = "parentSpanId must be empty or 16 hex digits" }

        var events = [Span.Event]()
        for e in try array(v["events"], "events") {
            try object(e, "event")
            events.append(
                Span.Event(
                    time: try uint64(e["timeUnixNano"], "timeUnixNano"), name: try string(e["name"], "event.name"),
                    attributes: try decodeAttributes(e["attributes"]),
                    droppedAttributesCount: try uint32(e["droppedAttributesCount"], "droppedAttributesCount")))
        }
        var links = [Span.Link]()
        for l in try array(v["links"], "links") {
            try object(l, "link")
            let lt = try hexID(l["traceId"], "link.traceId")
            let ls = try hexID(l["spanId"], "link.spanId")
            if lt.count != 16 || ls.count != 8 { problem = "link ids must be 32 and 16 hex digits" }
            links.append(
                Span.Link(
                    traceID: TraceID(bytes: lt) ?? .zero, spanID: SpanID(bytes: ls) ?? .zero,
                    traceState: try string(l["traceState"], "link.traceState"),
                    attributes: try decodeAttributes(l["attributes"]),
                    droppedAttributesCount: try uint32(l["droppedAttributesCount"], "droppedAttributesCount"),
                    flags: try uint32(l["flags"], "link.flags")))
        }
        var statusCode: Int32 = 0
        var statusMessage = ""
        if let status = v["status"], !status.isNull {
            try object(status, "status")
            statusCode = try enumValue(status["code"], "status.code", names: statusNames)
            statusMessage = try string(status["message"], "status.message")
        }
        let span = Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent,
            traceState: try string(v["traceState"], "traceState"), name: try string(v["name"], "name"),
            kind: SpanKind(rawValue: try enumValue(v["kind"], "kind", names: kindNames)),
            startTime: try uint64(v["startTimeUnixNano"], "startTimeUnixNano"),
            endTime: try uint64(v["endTimeUnixNano"], "endTimeUnixNano"),
            attributes: try decodeAttributes(v["attributes"]),
            droppedAttributesCount: try uint32(v["droppedAttributesCount"], "droppedAttributesCount"),
            events: events, droppedEventsCount: try uint32(v["droppedEventsCount"], "droppedEventsCount"),
            links: links, droppedLinksCount: try uint32(v["droppedLinksCount"], "droppedLinksCount"),
            statusCode: StatusCode(rawValue: statusCode), statusMessage: statusMessage,
            flags: try uint32(v["flags"], "flags"))
        return (span, problem)
    }

    // MARK: encoding

    /// Writes `{"resourceSpans":[...]}` for `batch` (an ExportTraceServiceRequest or TracesData).
    public static func encodeTracesData(_ batch: SpanBatch, into w: inout JSONWriter) {
        w.beginObject()
        w.key("resourceSpans")
        w.beginArray()
        for (r, scopes) in batch.groupedByResourceAndScope() {
            let res = batch.resources[r]
            w.beginObject()
            w.key("resource")
            w.beginObject()
            w.key("attributes")
            attributes(batch, batch.attributes, res.attributes, into: &w)
            if res.droppedAttributesCount > 0 {
                w.key("droppedAttributesCount")
                w.uint(UInt64(res.droppedAttributesCount))
            }
            w.endObject()
            w.key("scopeSpans")
            w.beginArray()
            for (s, spans) in scopes {
                let scope = batch.scopes[s]
                w.beginObject()
                w.key("scope")
                w.beginObject()
                stringField("name", batch, scope.name, into: &w)
                stringField("version", batch, scope.version, into: &w)
                if scope.attributes.count > 0 {
                    w.key("attributes")
                    attributes(batch, batch.attributes, scope.attributes, into: &w)
                }
                if scope.droppedAttributesCount > 0 {
                    w.key("droppedAttributesCount")
                    w.uint(UInt64(scope.droppedAttributesCount))
                }
                w.endObject()
                w.key("spans")
                w.beginArray()
                for i in spans { span(batch, i, into: &w) }
                w.endArray()
                stringField("schemaUrl", batch, scope.schemaURL, into: &w)
                w.endObject()
            }
            w.endArray()
            stringField("schemaUrl", batch, res.schemaURL, into: &w)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    public static func encodeTracesData(_ batch: SpanBatch) -> [UInt8] {
        var w = JSONWriter()
        encodeTracesData(batch, into: &w)
        return w.out
    }

    /// The JSON form of ExportTraceServiceResponse.
    public static func encodeExportResponse(rejectedSpans: Int64, errorMessage: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        if rejectedSpans != 0 || !errorMessage.isEmpty {
            w.key("partialSuccess")
            w.beginObject()
            w.key("rejectedSpans")
            w.string(String(rejectedSpans))
            w.field("errorMessage", errorMessage)
            w.endObject()
        }
        w.endObject()
        return w.out
    }

    /// The JSON form of google.rpc.Status.
    public static func encodeStatus(code: Int32, message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("code")
        w.int(Int64(code))
        w.field("message", message)
        w.endObject()
        return w.out
    }

    static func stringField(_ key: String, _ batch: SpanBatch, _ ref: StrRef, into w: inout JSONWriter) {
        guard ref.count > 0 else { return }
        w.key(key)
        batch.withBytes(ref) { w.string(bytes: $0) }
    }

    static func attributes(_ batch: SpanBatch, _ pool: [Attribute], _ range: PoolRange, into w: inout JSONWriter) {
        w.beginArray()
        for a in pool[range.indices] { keyValue(batch, a, into: &w) }
        w.endArray()
    }

    static func keyValue(_ batch: SpanBatch, _ a: Attribute, into w: inout JSONWriter) {
        w.beginObject()
        w.key("key")
        batch.withBytes(a.key) { w.string(bytes: $0) }
        w.key("value")
        anyValue(batch, a.value, into: &w)
        w.endObject()
    }

    static func anyValue(_ batch: SpanBatch, _ v: Value, into w: inout JSONWriter) {
        w.beginObject()
        switch v {
        case .empty: break
        case .string(let r):
            w.key("stringValue")
            batch.withBytes(r) { w.string(bytes: $0) }
        case .bool(let b):
            w.key("boolValue")
            w.bool(b)
        case .int(let i):
            w.key("intValue")
            w.string(String(i))
        case .double(let d):
            w.key("doubleValue")
            w.double(d)
        case .bytes(let r):
            w.key("bytesValue")
            w.string(Base64.encode(batch.bytes(r)))
        case .array(let range):
            w.key("arrayValue")
            w.beginObject()
            w.key("values")
            w.beginArray()
            for e in batch.arrayValues[range.indices] { anyValue(batch, e, into: &w) }
            w.endArray()
            w.endObject()
        case .kvlist(let range):
            w.key("kvlistValue")
            w.beginObject()
            w.key("values")
            attributes(batch, batch.kvlistEntries, range, into: &w)
            w.endObject()
        }
        w.endObject()
    }

    static func span(_ batch: SpanBatch, _ i: Int, into w: inout JSONWriter) {
        w.beginObject()
        w.field("traceId", batch.traceIDs[i].hex)
        w.field("spanId", batch.spanIDs[i].hex)
        stringField("traceState", batch, batch.traceStates[i], into: &w)
        if batch.parentSpanIDs[i].isValid { w.field("parentSpanId", batch.parentSpanIDs[i].hex) }
        if batch.flags[i] != 0 {
            w.key("flags")
            w.uint(UInt64(batch.flags[i]))
        }
        w.field("name", batch.string(batch.names[i]))
        w.key("kind")
        w.int(Int64(batch.kinds[i].rawValue))
        w.field("startTimeUnixNano", String(batch.startTimes[i]))
        w.field("endTimeUnixNano", String(batch.endTimes[i]))
        w.key("attributes")
        attributes(batch, batch.spanAttributes, batch.attributeRanges[i], into: &w)
        counter("droppedAttributesCount", batch.droppedAttributesCounts[i], into: &w)
        if batch.eventRanges[i].count > 0 {
            w.key("events")
            w.beginArray()
            for e in batch.events[batch.eventRanges[i].indices] {
                w.beginObject()
                w.field("timeUnixNano", String(e.time))
                stringField("name", batch, e.name, into: &w)
                w.key("attributes")
                attributes(batch, batch.attributes, e.attributes, into: &w)
                counter("droppedAttributesCount", e.droppedAttributesCount, into: &w)
                w.endObject()
            }
            w.endArray()
        }
        counter("droppedEventsCount", batch.droppedEventsCounts[i], into: &w)
        if batch.linkRanges[i].count > 0 {
            w.key("links")
            w.beginArray()
            for l in batch.links[batch.linkRanges[i].indices] {
                w.beginObject()
                w.field("traceId", l.traceID.hex)
                w.field("spanId", l.spanID.hex)
                stringField("traceState", batch, l.traceState, into: &w)
                w.key("attributes")
                attributes(batch, batch.attributes, l.attributes, into: &w)
                counter("droppedAttributesCount", l.droppedAttributesCount, into: &w)
                counter("flags", l.flags, into: &w)
                w.endObject()
            }
            w.endArray()
        }
        counter("droppedLinksCount", batch.droppedLinksCounts[i], into: &w)
        // Written only when set, like the protobuf encoder, so both forms parse to equal messages.
        if batch.statusCodes[i] != .unset || batch.statusMessages[i].count > 0 {
            w.key("status")
            w.beginObject()
            stringField("message", batch, batch.statusMessages[i], into: &w)
            if batch.statusCodes[i] != .unset {
                w.key("code")
                w.int(Int64(batch.statusCodes[i].rawValue))
            }
            w.endObject()
        }
        w.endObject()
    }

    static func counter(_ key: String, _ v: UInt32, into w: inout JSONWriter) {
        guard v > 0 else { return }
        w.key(key)
        w.uint(UInt64(v))
    }
}
