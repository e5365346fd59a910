public import AriadneModel

/// Jaeger v1 query JSON (the `model/json` shape Jaeger v2.20's `/api/traces` serves), rendered
/// from the span model the way Jaeger renders OTLP spans: span kind, status, scope and trace
/// state as tags; events as logs with an `event` field; the parent as a CHILD_OF reference and
/// links as FOLLOWS_FROM (CHILD_OF when the link's `opentracing.ref_type` is `child_of`); resources as processes `p1`, `p2`, ...
public enum JaegerJSON {
    /// Jaeger's trace id text: 16 hex digits when the high half is zero, else 32.
    public static func traceIDString(_ id: TraceID) -> String {
        id.high == 0 ? Hex.string(id.low) : id.hex
    }

    /// Writes one trace object. `trace` holds the spans of one trace.
    public static func writeTrace(_ trace: SpanBatch, into w: inout JSONWriter) {
        // Processes: one per distinct resource, numbered in order of first use.
        var processKeys = [OwnedResource: String]()
        var processes = [(String, OwnedResource)]()
        var spanProcess = [String](repeating: "", count: trace.count)
        var resourceCache = [UInt32: String]()
        for i in 0..<trace.count {
            let r = trace.scopes[Int(trace.scopeIndices[i])].resource
            if let key = resourceCache[r] {
                spanProcess[i] = key
                continue
            }
            let resource = trace.ownedResource(Int(r))
            let key: String
            if let existing = processKeys[resource] {
                key = existing
            } else {
                key = "p\(processes.count + 1)"
                processKeys[resource] = key
                processes.append((key, resource))
            }
            resourceCache[r] = key
            spanProcess[i] = key
        }
        let order = (0..<trace.count).sorted {
            trace.startTimes[$0] != trace.startTimes[$1] ? trace.startTimes[$0] < trace.startTimes[$1] : $0 < $1
        }

        w.beginObject()
        w.field("traceID", trace.count > 0 ? traceIDString(trace.traceIDs[0]) : "")
        w.key("spans")
        w.beginArray()
        for i in order { writeSpan(trace, i, processID: spanProcess[i], into: &w) }
        w.endArray()
        w.key("processes")
        w.beginObject()
        for (key, resource) in processes {
            w.key(key)
            w.beginObject()
            w.field("serviceName", resource.serviceName)
            w.key("tags")
            w.beginArray()
            for kv in resource.attributes where kv.key != "service.name" { writeTag(kv.key, kv.value, into: &w) }
            w.endArray()
            w.endObject()
        }
        w.endObject()
        w.key("warnings")
        w.null()
        w.endObject()
    }

    static func writeSpan(_ t: SpanBatch, _ i: Int, processID: String, into w: inout JSONWriter) {
        let traceID = traceIDString(t.traceIDs[i])
        w.beginObject()
        w.field("traceID", traceID)
        w.field("spanID", t.spanIDs[i].hex)
        w.key("flags")
        w.uint(UInt64(t.flags[i] & 0xFF))
        w.field("operationName", t.string(t.names[i]))
        w.key("references")
        w.beginArray()
        if t.parentSpanIDs[i].isValid {
            writeReference("CHILD_OF", traceID, t.parentSpanIDs[i], into: &w)
        }
        for l in t.links[t.linkRanges[i].indices] {
            // A link that says it is a child-of reference (OpenTracing's `opentracing.ref_type`,
            // as Jaeger's model→OTLP translation marks extra parents) stays one.
            let childOf = t.attributes[l.attributes.indices].contains {
                t.equals($0.key, "opentracing.ref_type")
                    && { if case .string(let r) = $0.value { return t.equals(r, "child_of") } else { return false } }($0)
            }
            writeReference(childOf ? "CHILD_OF" : "FOLLOWS_FROM", traceIDString(l.traceID), l.spanID, into: &w)
        }
        w.endArray()
        w.key("startTime")
        w.uint(t.startTimes[i] / 1000)
        w.key("duration")
        w.uint(t.duration(ofSpan: i) / 1000)
        w.key("tags")
        w.beginArray()
        for a in t.spanAttributes[t.attributeRanges[i].indices] {
            writeTag(t.string(a.key), t.attributeValue(a.value), into: &w)
        }
        let scope = t.scopes[Int(t.scopeIndices[i])]
        if scope.name.count > 0 { writeTag("otel.scope.name", .string(t.string(scope.name)), into: &w) }
        if scope.version.count > 0 { writeTag("otel.scope.version", .string(t.string(scope.version)), into: &w) }
        let kind = t.kinds[i].jaegerName
        if !kind.isEmpty { writeTag("span.kind", .string(kind), into: &w) }
        switch t.statusCodes[i] {
        case .error:
            writeTag("otel.status_code", .string("ERROR"), into: &w)
            writeTag("error", .bool(true), into: &w)
        case .ok:
            writeTag("otel.status_code", .string("OK"), into: &w)
        default: break
        }
        if t.statusMessages[i].count > 0 {
            writeTag("otel.status_description", .string(t.string(t.statusMessages[i])), into: &w)
        }
        if t.traceStates[i].count > 0 { writeTag("w3c.tracestate", .string(t.string(t.traceStates[i])), into: &w) }
        w.endArray()
        w.key("logs")
        w.beginArray()
        for e in t.events[t.eventRanges[i].indices] {
            w.beginObject()
            w.key("timestamp")
            w.uint(e.time / 1000)
            w.key("fields")
            w.beginArray()
            if e.name.count > 0 { writeTag("event", .string(t.string(e.name)), into: &w) }
            for a in t.attributes[e.attributes.indices] {
                writeTag(t.string(a.key), t.attributeValue(a.value), into: &w)
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.field("processID", processID)
        w.key("warnings")
        w.null()
        w.endObject()
    }

    static func writeReference(_ type: String, _ traceID: String, _ spanID: SpanID, into w: inout JSONWriter) {
        w.beginObject()
        w.field("refType", type)
        w.field("traceID", traceID)
        w.field("spanID", spanID.hex)
        w.endObject()
    }

    /// A typed Jaeger tag: string, bool, int64, float64 or binary (base64); arrays and maps as JSON text.
    public static func writeTag(_ key: String, _ value: AttributeValue, into w: inout JSONWriter) {
        w.beginObject()
        w.field("key", key)
        switch value {
        case .bool(let b):
            w.field("type", "bool")
            w.key("value")
            w.bool(b)
        case .int(let i):
            w.field("type", "int64")
            w.key("value")
            w.int(i)
        case .double(let d):
            w.field("type", "float64")
            w.key("value")
            w.double(d)
        case .bytes(let b):
            w.field("type", "binary")
            w.field("value", Base64.encode(b))
        case .empty, .string, .array, .kvlist:
            w.field("type", "string")
            w.field("value", value.displayString)
        }
        w.endObject()
    }
}
