public import AriadneModel

/// Jaeger's Thrift messages (jaegertracing/jaeger-idl `thrift/jaeger.thrift` and `agent.thrift`),
/// read by field id with our own readers:
/// - the collector's `POST /api/traces` body: one `Batch` in TBinaryProtocol;
/// - the agent's UDP packets: an `Agent.emitBatch` oneway call, compact (6831) or binary (6832).
public enum JaegerThrift {
    public enum ThriftProtocol: Sendable {
        case binary, compact
    }

    /// Decodes a `Batch` struct (the HTTP collector's body).
    public static func decodeBatch(
        _ bytes: UnsafeRawBufferPointer, protocol p: ThriftProtocol, into batch: inout SpanBatch, rejections: inout [SpanRejection]
    ) throws(DecodeError) {
        try decode(bytes, p, agentMessage: false).append(to: &batch, rejections: &rejections)
    }

    /// Decodes an agent packet: the `emitBatch` call message whose first argument is the batch.
    public static func decodeAgentMessage(
        _ bytes: UnsafeRawBufferPointer, protocol p: ThriftProtocol, into batch: inout SpanBatch, rejections: inout [SpanRejection]
    ) throws(DecodeError) {
        try decode(bytes, p, agentMessage: true).append(to: &batch, rejections: &rejections)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, _ p: ThriftProtocol, agentMessage: Bool) throws(DecodeError) -> JaegerBatch {
        func read<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> JaegerBatch {
            agentMessage ? try readEmitBatch(&r) : try readBatch(&r)
        }
        switch p {
        case .binary:
            var r = ThriftBinaryReader(bytes)
            return try read(&r)
        case .compact:
            var r = ThriftCompactReader(bytes)
            return try read(&r)
        }
    }

    static func readEmitBatch<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> JaegerBatch {
        let (name, type) = try r.readMessageBegin()
        guard name == "emitBatch" else {
            if name == "emitZipkinBatch" { throw DecodeError("emitZipkinBatch (Zipkin Thrift spans) is not supported: send Jaeger batches") }
            throw DecodeError("unknown agent method '\(name.prefix(64))': expected emitBatch")
        }
        guard type == 1 || type == 4 else { throw DecodeError("emitBatch must be a call or oneway message, got type \(type)") }
        var batch: JaegerBatch?
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            if id == 1 && t == .structure { batch = try readBatch(&r) } else { try r.skip(t) }
        }
        r.readStructEnd()
        guard let batch else { throw DecodeError("emitBatch carries no batch") }
        return batch
    }

    static func readBatch<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> JaegerBatch {
        var batch = JaegerBatch()
        var sawSpans = false
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            switch (id, t) {
            case (1, .structure): batch.process = try readProcess(&r)
            case (2, .list):
                sawSpans = true
                let n = try r.readList(of: .structure, "Batch.spans")
                batch.spans.reserveCapacity(n)
                for _ in 0..<n { batch.spans.append(try readSpan(&r)) }
            default: try r.skip(t)
            }
        }
        r.readStructEnd()
        guard batch.process != nil else { throw DecodeError("Batch.process (field 1) is required") }
        guard sawSpans else { throw DecodeError("Batch.spans (field 2) is required") }
        return batch
    }

    static func readProcess<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> JaegerProcess {
        var p = JaegerProcess()
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            switch (id, t) {
            case (1, .binary): p.serviceName = try r.readString()
            case (2, .list): p.tags = try readTags(&r, "Process.tags")
            default: try r.skip(t)
            }
        }
        r.readStructEnd()
        return p
    }

    static func readTags<R: ThriftReader>(_ r: inout R, _ what: StaticString) throws(DecodeError) -> [KeyValue] {
        let n = try r.readList(of: .structure, what)
        var tags = [KeyValue]()
        tags.reserveCapacity(n)
        for _ in 0..<n { tags.append(try readTag(&r)) }
        return tags
    }

    /// `Tag`: the value in the field its `vType` names (STRING 0, DOUBLE 1, BOOL 2, LONG 3, BINARY 4).
    static func readTag<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> KeyValue {
        var key = ""
        var vType: Int32 = -1
        var str = "", double = 0.0, bool = false, long: Int64 = 0, binary = [UInt8]()
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            switch (id, t) {
            case (1, .binary): key = try r.readString()
            case (2, .i32): vType = try r.readI32()
            case (3, .binary): str = try r.readString()
            case (4, .double): double = try r.readDouble()
            case (5, .bool): bool = try r.readBool()
            case (6, .i64): long = try r.readI64()
            case (7, .binary): binary = Array(try r.readBinary())
            default: try r.skip(t)
            }
        }
        r.readStructEnd()
        switch vType {
        case 0: return KeyValue(key, .string(str))
        case 1: return KeyValue(key, .double(double))
        case 2: return KeyValue(key, .bool(bool))
        case 3: return KeyValue(key, .int(long))
        case 4: return KeyValue(key, .bytes(binary))
        case -1: throw DecodeError("Tag '\(key.prefix(64))' has no vType")
        default: throw DecodeError("Tag '\(key.prefix(64))' has unknown vType \(vType)")
        }
    }

    static func readSpan<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> JaegerSpan {
        var s = JaegerSpan()
        var traceLow: Int64 = 0, traceHigh: Int64 = 0
        var start: Int64 = 0, duration: Int64 = 0
        // traceIdLow, traceIdHigh, spanId, parentSpanId, operationName, flags, startTime, duration.
        var required: UInt16 = 0
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            switch (id, t) {
            case (1, .i64): traceLow = try r.readI64(); required |= 1 << 1
            case (2, .i64): traceHigh = try r.readI64(); required |= 1 << 2
            case (3, .i64): s.spanID = SpanID(UInt64(bitPattern: try r.readI64())); required |= 1 << 3
            case (4, .i64): s.parentSpanID = SpanID(UInt64(bitPattern: try r.readI64())); required |= 1 << 4
            case (5, .binary): s.operationName = try r.readString(); required |= 1 << 5
            case (6, .list):
                let n = try r.readList(of: .structure, "Span.references")
                for _ in 0..<n { s.references.append(try readReference(&r)) }
            case (7, .i32): s.flags = UInt32(bitPattern: try r.readI32()); required |= 1 << 7
            case (8, .i64): start = try r.readI64(); required |= 1 << 8
            case (9, .i64): duration = try r.readI64(); required |= 1 << 9
            case (10, .list): s.tags = try readTags(&r, "Span.tags")
            case (11, .list):
                let n = try r.readList(of: .structure, "Span.logs")
                s.logs.reserveCapacity(n)
                for _ in 0..<n { s.logs.append(try readLog(&r, problem: &s.problem)) }
            default: try r.skip(t)
            }
        }
        r.readStructEnd()
        let requiredFields = [
            (1, "traceIdLow"), (2, "traceIdHigh"), (3, "spanId"), (4, "parentSpanId"), (5, "operationName"), (7, "flags"),
            (8, "startTime"), (9, "duration"),
        ]
        for (bit, name) in requiredFields where required & (1 << bit) == 0 {
            throw DecodeError("Span.\(name) (field \(bit)) is required")
        }
        s.traceID = TraceID(high: UInt64(bitPattern: traceHigh), low: UInt64(bitPattern: traceLow))
        s.startTime = JaegerSpan.nanoseconds(micros: start, "startTime", problem: &s.problem)
        s.duration = JaegerSpan.nanoseconds(micros: duration, "duration", problem: &s.problem)
        return s
    }

    static func readReference<R: ThriftReader>(_ r: inout R) throws(DecodeError) -> JaegerReference {
        var kind: Int32 = 0, low: Int64 = 0, high: Int64 = 0, span: Int64 = 0
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            switch (id, t) {
            case (1, .i32): kind = try r.readI32()
            case (2, .i64): low = try r.readI64()
            case (3, .i64): high = try r.readI64()
            case (4, .i64): span = try r.readI64()
            default: try r.skip(t)
            }
        }
        r.readStructEnd()
        guard kind == 0 || kind == 1 else { throw DecodeError("SpanRef has unknown refType \(kind)") }
        return JaegerReference(
            kind: kind == 0 ? .childOf : .followsFrom, traceID: TraceID(high: UInt64(bitPattern: high), low: UInt64(bitPattern: low)),
            spanID: SpanID(UInt64(bitPattern: span)))
    }

    static func readLog<R: ThriftReader>(_ r: inout R, problem: inout String?) throws(DecodeError) -> JaegerLog {
        var time: Int64 = 0
        var fields = [KeyValue]()
        r.readStructBegin()
        while true {
            let (t, id) = try r.readFieldBegin()
            if t == .stop { break }
            switch (id, t) {
            case (1, .i64): time = try r.readI64()
            case (2, .list): fields = try readTags(&r, "Log.fields")
            default: try r.skip(t)
            }
        }
        r.readStructEnd()
        return JaegerLog(time: JaegerSpan.nanoseconds(micros: time, "log timestamp", problem: &problem), fields: fields)
    }
}
