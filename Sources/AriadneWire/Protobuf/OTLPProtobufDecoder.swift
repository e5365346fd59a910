public import AriadneModel

#if canImport(Glibc)
    import Glibc
#endif

/// A span that a receiver refuses while keeping the rest of its request (OTLP partial success).
public struct SpanRejection: Sendable, Equatable {
    /// Index of the span in the decoded batch.
    public var index: Int
    public var reason: String

    public init(index: Int, reason: String) {
        self.index = index
        self.reason = reason
    }
}

/// OTLP/protobuf codec for `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`,
/// written from the field numbers of opentelemetry-proto (see ../shared/REFERENCE.md).
///
/// Decoding writes straight into a ``SpanBatch``: strings and bytes are copied into the batch
/// arena, nothing is allocated per span. Unknown fields are skipped by wire type. Strings must
/// be valid UTF-8 (proto3 rule); ids of the wrong length do not fail the request but are
/// reported as rejections so that the receiver can answer with a partial success.
public enum OTLPProtobuf {
    /// Deepest nesting of array/kvlist values accepted; deeper input is malformed (and would
    /// otherwise let a small body exhaust the stack).
    public static let maxValueDepth = 64

    /// Decodes an ExportTraceServiceRequest, appending its spans to `batch`.
    public static func decodeExportRequest(
        _ bytes: UnsafeRawBufferPointer, into batch: inout SpanBatch, rejections: inout [SpanRejection]
    ) throws(DecodeError) {
        do {
            var decoder = Decoder(batch: batch)
            batch = SpanBatch()  // drop our reference so the decoder's arrays stay uniquely owned
            defer { batch = decoder.batch }
            var r = ProtoReader(bytes)
            while !r.isAtEnd {
                let (field, wt) = try r.readTag()
                if field == 1 {
                    try decoder.resourceSpans(r.bytes(wt, field, "ExportTraceServiceRequest"))
                } else {
                    try r.skip(wt, field: field)
                }
            }
            rejections.append(contentsOf: decoder.rejections)
        } catch let e as DecodeError {
            throw e
        } catch {
            throw DecodeError("\(error)")
        }
    }

    /// Convenience: decodes a request held in an array.
    public static func decodeExportRequest(_ bytes: [UInt8]) throws(DecodeError) -> (SpanBatch, [SpanRejection]) {
        var batch = SpanBatch()
        var rejections = [SpanRejection]()
        try bytes.withUnsafeBytesTyped { buf throws(DecodeError) in
            try decodeExportRequest(buf, into: &batch, rejections: &rejections)
        }
        return (batch, rejections)
    }
}

/// The state of one decode: the batch being filled and the rejections found so far.
struct Decoder {
    var batch: SpanBatch
    var rejections: [SpanRejection] = []
    /// Strings every span repeats (attribute keys, span, event and scope names), by hash: each
    /// is stored in the arena once per batch, not once per use — a tenth of a span's memory
    /// in the engine's head, and no UTF-8 check of bytes already checked.
    private var repeated = [(hash: UInt64, ref: StrRef)](repeating: (0, .empty), count: 512)

    init(batch: SpanBatch) { self.batch = batch }

    mutating func resourceSpans(_ bytes: UnsafeRawBufferPointer) throws {
        // First pass: the resource and schema URL, which may come after the scope spans.
        var resourceBytes: UnsafeRawBufferPointer? = nil
        var schemaURL = StrRef.empty
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                resourceBytes = try r.bytes(wt, field, "ResourceSpans")
            case 3:
                schemaURL = try string(r.bytes(wt, field, "ResourceSpans"))
            default:
                try r.skip(wt, field: field)
            }
        }
        let resource = try self.resource(resourceBytes, schemaURL: schemaURL)
        r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            if field == 2 {
                try scopeSpans(r.bytes(wt, field, "ResourceSpans"), resource: resource)
            } else {
                try r.skip(wt, field: field)
            }
        }
    }

    mutating func resource(_ bytes: UnsafeRawBufferPointer?, schemaURL: StrRef) throws -> UInt32 {
        let start = UInt32(batch.attributes.count)
        var dropped: UInt32 = 0
        var service = StrRef.empty
        if let bytes {
            var r = ProtoReader(bytes)
            while !r.isAtEnd {
                let (field, wt) = try r.readTag()
                switch field {
                case 1:
                    let kv = try keyValue(r.bytes(wt, field, "Resource"), depth: 0)
                    if case .string(let s) = kv.value, batch.equals(kv.key, "service.name") { service = s }
                    batch.attributes.append(kv)
                case 2:
                    dropped = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Resource"))
                default:
                    try r.skip(wt, field: field)
                }
            }
        }
        let range = PoolRange(start: start, count: UInt32(batch.attributes.count) - start)
        batch.resources.append(
            SpanBatch.Resource(
                attributes: range, droppedAttributesCount: dropped, schemaURL: schemaURL, serviceName: service))
        return UInt32(batch.resources.count - 1)
    }

    mutating func scopeSpans(_ bytes: UnsafeRawBufferPointer, resource: UInt32) throws {
        var scopeBytes: UnsafeRawBufferPointer? = nil
        var schemaURL = StrRef.empty
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                scopeBytes = try r.bytes(wt, field, "ScopeSpans")
            case 3:
                schemaURL = try string(r.bytes(wt, field, "ScopeSpans"))
            default:
                try r.skip(wt, field: field)
            }
        }
        let scope = try self.scope(scopeBytes, resource: resource, schemaURL: schemaURL)
        r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            if field == 2 {
                try span(r.bytes(wt, field, "ScopeSpans"), scope: scope)
            } else {
                try r.skip(wt, field: field)
            }
        }
    }

    mutating func scope(_ bytes: UnsafeRawBufferPointer?, resource: UInt32, schemaURL: StrRef) throws -> UInt32 {
        let start = UInt32(batch.attributes.count)
        var name = StrRef.empty
        var version = StrRef.empty
        var dropped: UInt32 = 0
        if let bytes {
            var r = ProtoReader(bytes)
            while !r.isAtEnd {
                let (field, wt) = try r.readTag()
                switch field {
                case 1:
                    name = try repeatedString(r.bytes(wt, field, "InstrumentationScope"))
                case 2:
                    version = try repeatedString(r.bytes(wt, field, "InstrumentationScope"))
                case 3:
                    batch.attributes.append(try keyValue(r.bytes(wt, field, "InstrumentationScope"), depth: 0))
                case 4:
                    dropped = UInt32(truncatingIfNeeded: try r.varint(wt, field, "InstrumentationScope"))
                default:
                    try r.skip(wt, field: field)
                }
            }
        }
        batch.scopes.append(
            SpanBatch.Scope(
                resource: resource, name: name, version: version,
                attributes: PoolRange(start: start, count: UInt32(batch.attributes.count) - start),
                droppedAttributesCount: dropped, schemaURL: schemaURL))
        return UInt32(batch.scopes.count - 1)
    }

    mutating func span(_ bytes: UnsafeRawBufferPointer, scope: UInt32) throws {
        let index = batch.count
        var traceID = TraceID.zero
        var spanID = SpanID.zero
        var parent = SpanID.zero
        var traceState = StrRef.empty
        var name = StrRef.empty
        var kind: Int32 = 0
        var start: UInt64 = 0
        var end: UInt64 = 0
        var droppedAttributes: UInt32 = 0
        var droppedEvents: UInt32 = 0
        var droppedLinks: UInt32 = 0
        var statusCode: Int32 = 0
        var statusMessage = StrRef.empty
        var flags: UInt32 = 0
        var problem: String? = nil
        let attrStart = UInt32(batch.spanAttributes.count)
        let eventStart = UInt32(batch.events.count)
        let linkStart = UInt32(batch.links.count)

        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                let b = try r.bytes(wt, field, "Span")
                if let id = TraceID(bytes: b) {
                    traceID = id
                } else {
                    traceID = .zero
                    problem = "trace_id must be 16 bytes, got \(b.count)"
                }
            case 2:
                let b = try r.bytes(wt, field, "Span")
                if let id = SpanID(bytes: b) {
                    spanID = id
                } else {
                    spanID = .zero
                    problem = "span_id must be 8 bytes, got \(b.count)"
                }
            case 3:
                traceState = try string(r.bytes(wt, field, "Span"))
            case 4:
                let b = try r.bytes(wt, field, "Span")
                if b.isEmpty {
                    parent = .zero
                } else if let id = SpanID(bytes: b) {
                    parent = id
                } else {
                    problem = "parent_span_id must be empty or 8 bytes, got \(b.count)"
                }
            case 5:
                name = try repeatedString(r.bytes(wt, field, "Span"))
            case 6:
                kind = Int32(truncatingIfNeeded: try r.varint(wt, field, "Span"))
            case 7:
                start = try r.fixed64(wt, field, "Span")
            case 8:
                end = try r.fixed64(wt, field, "Span")
            case 9:
                batch.spanAttributes.append(try keyValue(r.bytes(wt, field, "Span"), depth: 0))
            case 10:
                droppedAttributes = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Span"))
            case 11:
                try event(r.bytes(wt, field, "Span"))
            case 12:
                droppedEvents = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Span"))
            case 13:
                if let p = try link(r.bytes(wt, field, "Span")) { problem = p }
            case 14:
                droppedLinks = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Span"))
            case 15:
                var s = ProtoReader(try r.bytes(wt, field, "Span"))
                while !s.isAtEnd {
                    let (sf, swt) = try s.readTag()
                    switch sf {
                    case 2:
                        statusMessage = try string(s.bytes(swt, sf, "Status"))
                    case 3:
                        statusCode = Int32(truncatingIfNeeded: try s.varint(swt, sf, "Status"))
                    default:
                        try s.skip(swt, field: sf)
                    }
                }
            case 16:
                flags = try r.fixed32(wt, field, "Span")
            default:
                try r.skip(wt, field: field)
            }
        }
        batch.traceIDs.append(traceID)
        batch.spanIDs.append(spanID)
        batch.parentSpanIDs.append(parent)
        batch.traceStates.append(traceState)
        batch.names.append(name)
        batch.kinds.append(SpanKind(rawValue: kind))
        batch.startTimes.append(start)
        batch.endTimes.append(end)
        batch.flags.append(flags)
        batch.statusCodes.append(StatusCode(rawValue: statusCode))
        batch.statusMessages.append(statusMessage)
        batch.attributeRanges.append(PoolRange(start: attrStart, count: UInt32(batch.spanAttributes.count) - attrStart))
        batch.droppedAttributesCounts.append(droppedAttributes)
        batch.eventRanges.append(PoolRange(start: eventStart, count: UInt32(batch.events.count) - eventStart))
        batch.droppedEventsCounts.append(droppedEvents)
        batch.linkRanges.append(PoolRange(start: linkStart, count: UInt32(batch.links.count) - linkStart))
        batch.droppedLinksCounts.append(droppedLinks)
        batch.scopeIndices.append(scope)
        if let problem { rejections.append(SpanRejection(index: index, reason: problem)) }
    }

    mutating func event(_ bytes: UnsafeRawBufferPointer) throws {
        var time: UInt64 = 0
        var name = StrRef.empty
        var dropped: UInt32 = 0
        let start = UInt32(batch.attributes.count)
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                time = try r.fixed64(wt, field, "Span.Event")
            case 2:
                name = try repeatedString(r.bytes(wt, field, "Span.Event"))
            case 3:
                batch.attributes.append(try keyValue(r.bytes(wt, field, "Span.Event"), depth: 0))
            case 4:
                dropped = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Span.Event"))
            default:
                try r.skip(wt, field: field)
            }
        }
        batch.events.append(
            SpanBatch.Event(
                time: time, name: name, attributes: PoolRange(start: start, count: UInt32(batch.attributes.count) - start),
                droppedAttributesCount: dropped))
    }

    /// Decodes a link; returns a problem description when its ids have the wrong length.
    mutating func link(_ bytes: UnsafeRawBufferPointer) throws -> String? {
        var traceID = TraceID.zero
        var spanID = SpanID.zero
        var traceState = StrRef.empty
        var dropped: UInt32 = 0
        var flags: UInt32 = 0
        var problem: String? = nil
        let start = UInt32(batch.attributes.count)
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                let b = try r.bytes(wt, field, "Span.Link")
                if let id = TraceID(bytes: b) { traceID = id } else { problem = "link trace_id must be 16 bytes" }
            case 2:
                let b = try r.bytes(wt, field, "Span.Link")
                if let id = SpanID(bytes: b) { spanID = id } else { problem = "link span_id must be 8 bytes" }
            case 3:
                traceState = try string(r.bytes(wt, field, "Span.Link"))
            case 4:
                batch.attributes.append(try keyValue(r.bytes(wt, field, "Span.Link"), depth: 0))
            case 5:
                dropped = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Span.Link"))
            case 6:
                flags = try r.fixed32(wt, field, "Span.Link")
            default:
                try r.skip(wt, field: field)
            }
        }
        batch.links.append(
            SpanBatch.Link(
                traceID: traceID, spanID: spanID, traceState: traceState,
                attributes: PoolRange(start: start, count: UInt32(batch.attributes.count) - start),
                droppedAttributesCount: dropped, flags: flags))
        return problem
    }

    mutating func keyValue(_ bytes: UnsafeRawBufferPointer, depth: Int) throws -> Attribute {
        var key = StrRef.empty
        var value = Value.empty
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                key = try repeatedString(r.bytes(wt, field, "KeyValue"))
            case 2:
                value = try anyValue(r.bytes(wt, field, "KeyValue"), depth: depth)
            default:
                try r.skip(wt, field: field)
            }
        }
        return Attribute(key: key, value: value)
    }

    mutating func anyValue(_ bytes: UnsafeRawBufferPointer, depth: Int) throws -> Value {
        guard depth < OTLPProtobuf.maxValueDepth else {
            throw DecodeError("attribute values nested deeper than \(OTLPProtobuf.maxValueDepth) levels")
        }
        var value = Value.empty
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1:
                value = .string(try string(r.bytes(wt, field, "AnyValue")))
            case 2:
                value = .bool(try r.varint(wt, field, "AnyValue") != 0)
            case 3:
                value = .int(Int64(bitPattern: try r.varint(wt, field, "AnyValue")))
            case 4:
                value = .double(Double(bitPattern: try r.fixed64(wt, field, "AnyValue")))
            case 5:
                value = .array(try arrayValue(r.bytes(wt, field, "AnyValue"), depth: depth + 1))
            case 6:
                value = .kvlist(try kvlistValue(r.bytes(wt, field, "AnyValue"), depth: depth + 1))
            case 7:
                value = .bytes(batch.appendBytes(try r.bytes(wt, field, "AnyValue")))
            default:
                try r.skip(wt, field: field)
            }
        }
        return value
    }

    /// Counts the occurrences of field 1 (the repeated member of ArrayValue and KeyValueList)
    /// so that the elements can be placed contiguously before nested values append their own.
    func countRepeated(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        var n = 0
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            if field == 1 { n += 1 }
            try r.skip(wt, field: field)
        }
        return n
    }

    mutating func arrayValue(_ bytes: UnsafeRawBufferPointer, depth: Int) throws -> PoolRange {
        let n = try countRepeated(bytes)
        let start = batch.arrayValues.count
        batch.arrayValues.append(contentsOf: repeatElement(.empty, count: n))
        var k = 0
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            if field == 1 {
                batch.arrayValues[start + k] = try anyValue(r.bytes(wt, field, "ArrayValue"), depth: depth)
                k += 1
            } else {
                try r.skip(wt, field: field)
            }
        }
        return PoolRange(start: UInt32(start), count: UInt32(n))
    }

    mutating func kvlistValue(_ bytes: UnsafeRawBufferPointer, depth: Int) throws -> PoolRange {
        let n = try countRepeated(bytes)
        let start = batch.kvlistEntries.count
        batch.kvlistEntries.append(contentsOf: repeatElement(Attribute(key: .empty, value: .empty), count: n))
        var k = 0
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            if field == 1 {
                batch.kvlistEntries[start + k] = try keyValue(r.bytes(wt, field, "KeyValueList"), depth: depth)
                k += 1
            } else {
                try r.skip(wt, field: field)
            }
        }
        return PoolRange(start: UInt32(start), count: UInt32(n))
    }

    /// Copies a protobuf `string` into the arena after checking it is UTF-8.
    @inline(__always)
    mutating func string(_ bytes: UnsafeRawBufferPointer) throws -> StrRef {
        guard UTF8Validation.isValid(bytes) else { throw DecodeError("string field is not valid UTF-8") }
        return batch.appendBytes(bytes)
    }

    /// ``string(_:)`` for a string that recurs from span to span: the one stored earlier when
    /// the bytes are the same.
    mutating func repeatedString(_ bytes: UnsafeRawBufferPointer) throws -> StrRef {
        guard !bytes.isEmpty, bytes.count <= 256 else { return try string(bytes) }
        let h = ByteHash.of(bytes)
        let slot = Int(truncatingIfNeeded: h) & (repeated.count - 1)
        let seen = repeated[slot]
        if seen.hash == h, Int(seen.ref.count) == bytes.count,
            batch.arena.withUnsafeBytes({ memcmp($0.baseAddress! + Int(seen.ref.offset), bytes.baseAddress!, bytes.count) == 0 })
        {
            return seen.ref
        }
        let ref = try string(bytes)
        repeated[slot] = (h, ref)
        return ref
    }
}
