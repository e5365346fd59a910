public import AriadneModel

/// Jaeger's protobuf model (jaegertracing/jaeger-idl `proto/api_v2/model.proto` and
/// `collector.proto`), read by field number: the body of
/// `jaeger.api_v2.CollectorService/PostSpans`, a `PostSpansRequest { Batch batch = 1; }`.
/// Trace ids are 16 bytes (high half first), span ids 8, both big-endian, as Jaeger marshals them.
public enum JaegerProtobuf {
    public static func decodePostSpansRequest(
        _ bytes: UnsafeRawBufferPointer, into batch: inout SpanBatch, rejections: inout [SpanRejection]
    ) throws(DecodeError) {
        do {
            var decoded: JaegerBatch?
            var r = ProtoReader(bytes)
            while !r.isAtEnd {
                let (field, wt) = try r.readTag()
                if field == 1 { decoded = try readBatch(r.bytes(wt, field, "PostSpansRequest")) } else { try r.skip(wt, field: field) }
            }
            guard let decoded else { throw DecodeError("PostSpansRequest.batch (field 1) is required") }
            decoded.append(to: &batch, rejections: &rejections)
        } catch let e as DecodeError {
            throw e
        } catch {
            throw DecodeError("\(error)")
        }
    }

    static func readBatch(_ bytes: UnsafeRawBufferPointer) throws -> JaegerBatch {
        var batch = JaegerBatch()
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: batch.spans.append(try readSpan(r.bytes(wt, field, "Batch")))
            case 2: batch.process = try readProcess(r.bytes(wt, field, "Batch"))
            default: try r.skip(wt, field: field)
            }
        }
        return batch
    }

    static func readProcess(_ bytes: UnsafeRawBufferPointer) throws -> JaegerProcess {
        var p = JaegerProcess()
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: p.serviceName = String(decoding: try r.bytes(wt, field, "Process"), as: UTF8.self)
            case 2: p.tags.append(try readKeyValue(r.bytes(wt, field, "Process")))
            default: try r.skip(wt, field: field)
            }
        }
        return p
    }

    /// `KeyValue`: the value in the field its `v_type` names (STRING 0, BOOL 1, INT64 2, FLOAT64 3, BINARY 4).
    static func readKeyValue(_ bytes: UnsafeRawBufferPointer) throws -> KeyValue {
        var key = "", type: UInt64 = 0
        var str = "", bool = false, int: Int64 = 0, double = 0.0, binary = [UInt8]()
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: key = String(decoding: try r.bytes(wt, field, "KeyValue"), as: UTF8.self)
            case 2: type = try r.varint(wt, field, "KeyValue")
            case 3: str = String(decoding: try r.bytes(wt, field, "KeyValue"), as: UTF8.self)
            case 4: bool = try r.varint(wt, field, "KeyValue") != 0
            case 5: int = Int64(bitPattern: try r.varint(wt, field, "KeyValue"))
            case 6: double = Double(bitPattern: try r.fixed64(wt, field, "KeyValue"))
            case 7: binary = Array(try r.bytes(wt, field, "KeyValue"))
            default: try r.skip(wt, field: field)
            }
        }
        switch type {
        case 0: return KeyValue(key, .string(str))
        case 1: return KeyValue(key, .bool(bool))
        case 2: return KeyValue(key, .int(int))
        case 3: return KeyValue(key, .double(double))
        case 4: return KeyValue(key, .bytes(binary))
        default: throw DecodeError("KeyValue '\(key.prefix(64))' has unknown v_type \(type)")
        }
    }

    /// A `google.protobuf.Timestamp` or `Duration` as nanoseconds; negative or out of range is a problem.
    static func readNanoseconds(_ bytes: UnsafeRawBufferPointer, _ what: String, problem: inout String?) throws -> UInt64 {
        var seconds: Int64 = 0, nanos: Int64 = 0
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: seconds = Int64(bitPattern: try r.varint(wt, field, "Timestamp"))
            case 2: nanos = Int64(Int32(truncatingIfNeeded: try r.varint(wt, field, "Timestamp")))
            default: try r.skip(wt, field: field)
            }
        }
        guard seconds >= 0, nanos >= 0, nanos < 1_000_000_000 else {
            problem = problem ?? "\(what) must not be negative"
            return 0
        }
        let (ns, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, ns <= UInt64.max - UInt64(nanos) else {
            problem = problem ?? "\(what) is out of range"
            return 0
        }
        return ns + UInt64(nanos)
    }

    static func traceID(_ bytes: UnsafeRawBufferPointer, _ what: String) throws -> TraceID {
        guard bytes.count == 16, let id = TraceID(bytes: bytes) else { throw DecodeError("\(what) must be 16 bytes, got \(bytes.count)") }
        return id
    }

    static func spanID(_ bytes: UnsafeRawBufferPointer, _ what: String) throws -> SpanID {
        guard bytes.count == 8, let id = SpanID(bytes: bytes) else { throw DecodeError("\(what) must be 8 bytes, got \(bytes.count)") }
        return id
    }

    static func readSpan(_ bytes: UnsafeRawBufferPointer) throws -> JaegerSpan {
        var s = JaegerSpan()
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: s.traceID = try traceID(r.bytes(wt, field, "Span"), "Span.trace_id")
            case 2: s.spanID = try spanID(r.bytes(wt, field, "Span"), "Span.span_id")
            case 3: s.operationName = String(decoding: try r.bytes(wt, field, "Span"), as: UTF8.self)
            case 4: s.references.append(try readReference(r.bytes(wt, field, "Span")))
            case 5: s.flags = UInt32(truncatingIfNeeded: try r.varint(wt, field, "Span"))
            case 6: s.startTime = try readNanoseconds(r.bytes(wt, field, "Span"), "start_time", problem: &s.problem)
            case 7: s.duration = try readNanoseconds(r.bytes(wt, field, "Span"), "duration", problem: &s.problem)
            case 8: s.tags.append(try readKeyValue(r.bytes(wt, field, "Span")))
            case 9: s.logs.append(try readLog(r.bytes(wt, field, "Span"), problem: &s.problem))
            case 10: s.process = try readProcess(r.bytes(wt, field, "Span"))
            default: try r.skip(wt, field: field)
            }
        }
        return s
    }

    static func readReference(_ bytes: UnsafeRawBufferPointer) throws -> JaegerReference {
        var ref = JaegerReference(kind: .childOf, traceID: .zero, spanID: .zero)
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: ref.traceID = try traceID(r.bytes(wt, field, "SpanRef"), "SpanRef.trace_id")
            case 2: ref.spanID = try spanID(r.bytes(wt, field, "SpanRef"), "SpanRef.span_id")
            case 3:
                switch try r.varint(wt, field, "SpanRef") {
                case 0: ref.kind = .childOf
                case 1: ref.kind = .followsFrom
                case let other: throw DecodeError("SpanRef has unknown ref_type \(other)")
                }
            default: try r.skip(wt, field: field)
            }
        }
        return ref
    }

    static func readLog(_ bytes: UnsafeRawBufferPointer, problem: inout String?) throws -> JaegerLog {
        var log = JaegerLog(time: 0, fields: [])
        var r = ProtoReader(bytes)
        while !r.isAtEnd {
            let (field, wt) = try r.readTag()
            switch field {
            case 1: log.time = try readNanoseconds(r.bytes(wt, field, "Log"), "log timestamp", problem: &problem)
            case 2: log.fields.append(try readKeyValue(r.bytes(wt, field, "Log")))
            default: try r.skip(wt, field: field)
            }
        }
        return log
    }
}
