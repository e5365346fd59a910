/// Thrift's field and element types, named once both protocols' numbering is read
/// (Apache Thrift `doc/specs/thrift-binary-protocol.md` and `thrift-compact-protocol.md`).
enum ThriftType: Equatable {
    case stop, bool, byte, double, i16, i32, i64, binary, structure, map, set, list, uuid
}

/// A cursor over one Thrift protocol's bytes. Like ``ProtoReader`` it never reads past its
/// buffer: every read checks bounds, and collection sizes are checked against the bytes left, so
/// a hostile size cannot allocate more than the message holds.
protocol ThriftReader {
    var remaining: Int { get }
    /// A message header (`name`, message type, sequence id): the agent's UDP `emitBatch` call.
    mutating func readMessageBegin() throws(DecodeError) -> (name: String, type: UInt8)
    mutating func readStructBegin()
    mutating func readStructEnd()
    /// The next field's type and id; `.stop` ends the struct.
    mutating func readFieldBegin() throws(DecodeError) -> (type: ThriftType, id: Int16)
    mutating func readBool() throws(DecodeError) -> Bool
    mutating func readByte() throws(DecodeError) -> UInt8
    mutating func readI16() throws(DecodeError) -> Int16
    mutating func readI32() throws(DecodeError) -> Int32
    mutating func readI64() throws(DecodeError) -> Int64
    mutating func readDouble() throws(DecodeError) -> Double
    mutating func readBinary() throws(DecodeError) -> UnsafeRawBufferPointer
    /// A list or set header.
    mutating func readListBegin() throws(DecodeError) -> (element: ThriftType, count: Int)
    mutating func readMapBegin() throws(DecodeError) -> (key: ThriftType, value: ThriftType, count: Int)
    /// The fewest bytes one element of `type` takes: bounds a collection's declared size.
    func minimumSize(_ type: ThriftType) -> Int
}

extension ThriftReader {
    /// Thrift nesting allowed before a message is refused: Jaeger's deepest is four.
    static var maxDepth: Int { 64 }

    mutating func readString() throws(DecodeError) -> String {
        String(decoding: try readBinary(), as: UTF8.self)
    }

    /// Skips a value of a type the decoder does not read (a field from a newer IDL).
    mutating func skip(_ type: ThriftType, depth: Int = 0) throws(DecodeError) {
        guard depth < Self.maxDepth else { throw DecodeError("thrift value nested deeper than \(Self.maxDepth)") }
        switch type {
        case .stop: throw DecodeError("unexpected stop type")
        case .bool: _ = try readBool()
        case .byte: _ = try readByte()
        case .i16: _ = try readI16()
        case .i32: _ = try readI32()
        case .i64: _ = try readI64()
        case .double: _ = try readDouble()
        case .binary: _ = try readBinary()
        case .uuid: for _ in 0..<16 { _ = try readByte() }
        case .structure:
            readStructBegin()
            while true {
                let (t, _) = try readFieldBegin()
                if t == .stop { break }
                try skip(t, depth: depth + 1)
            }
            readStructEnd()
        case .list, .set:
            let (element, count) = try readListBegin()
            for _ in 0..<count { try skip(element, depth: depth + 1) }
        case .map:
            let (k, v, count) = try readMapBegin()
            for _ in 0..<count {
                try skip(k, depth: depth + 1)
                try skip(v, depth: depth + 1)
            }
        }
    }

    /// Reads a list header whose elements must be `expected` (an empty list of any type is fine).
    mutating func readList(of expected: ThriftType, _ what: StaticString) throws(DecodeError) -> Int {
        let (element, count) = try readListBegin()
        guard element == expected || count == 0 else { throw DecodeError("\(what): list of the wrong element type") }
        return count
    }

    /// Checks a declared collection size against the bytes left.
    func checkCount(_ count: Int, _ elements: ThriftType...) throws(DecodeError) -> Int {
        let each = elements.reduce(0) { $0 + minimumSize($1) }
        guard count >= 0, count.multipliedReportingOverflow(by: max(each, 1)).partialValue <= remaining,
            count <= remaining
        else { throw DecodeError("collection of \(count) elements exceeds the \(remaining) bytes left") }
        return count
    }
}

/// TBinaryProtocol: big-endian fixed-width integers, i32 length prefixes.
struct ThriftBinaryReader: ThriftReader {
    let base: UnsafeRawBufferPointer
    var position = 0

    init(_ base: UnsafeRawBufferPointer) { self.base = base }

    var remaining: Int { base.count - position }

    private mutating func take(_ n: Int) throws(DecodeError) -> Int {
        guard n >= 0, n <= remaining else { throw DecodeError("truncated thrift binary message") }
        defer { position += n }
        return position
    }

    private mutating func bigEndian<T: FixedWidthInteger>(_: T.Type) throws(DecodeError) -> T {
        let at = try take(MemoryLayout<T>.size)
        return T(bigEndian: base.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    static func type(_ code: UInt8) throws(DecodeError) -> ThriftType {
        switch code {
        case 0: return .stop
        case 2: return .bool
        case 3: return .byte
        case 4: return .double
        case 6: return .i16
        case 8: return .i32
        case 10: return .i64
        case 11: return .binary
        case 12: return .structure
        case 13: return .map
        case 14: return .set
        case 15: return .list
        case 16: return .uuid
        default: throw DecodeError("unknown thrift binary type \(code)")
        }
    }

    mutating func readMessageBegin() throws(DecodeError) -> (name: String, type: UInt8) {
        let first = try bigEndian(Int32.self)
        if first < 0 {
            // Strict: version 1 in the high half, the message type in the low byte.
            guard UInt32(bitPattern: first) & 0xffff_0000 == 0x8001_0000 else {
                throw DecodeError("unsupported thrift binary version \(String(UInt32(bitPattern: first) >> 16, radix: 16))")
            }
            let name = try readString()
            _ = try bigEndian(Int32.self)
            return (name, UInt8(truncatingIfNeeded: first))
        }
        // Old, non-strict: the name's length first, then its bytes, the type, the sequence id.
        position -= 4
        let name = try readString()
        let type = try readByte()
        _ = try bigEndian(Int32.self)
        return (name, type)
    }

    mutating func readStructBegin() {}
    mutating func readStructEnd() {}

    mutating func readFieldBegin() throws(DecodeError) -> (type: ThriftType, id: Int16) {
        let type = try Self.type(try readByte())
        if type == .stop { return (.stop, 0) }
        return (type, try readI16())
    }

    mutating func readBool() throws(DecodeError) -> Bool { try readByte() != 0 }
    mutating func readByte() throws(DecodeError) -> UInt8 { base[try take(1)] }
    mutating func readI16() throws(DecodeError) -> Int16 { try bigEndian(Int16.self) }
    mutating func readI32() throws(DecodeError) -> Int32 { try bigEndian(Int32.self) }
    mutating func readI64() throws(DecodeError) -> Int64 { try bigEndian(Int64.self) }
    mutating func readDouble() throws(DecodeError) -> Double { Double(bitPattern: try bigEndian(UInt64.self)) }

    mutating func readBinary() throws(DecodeError) -> UnsafeRawBufferPointer {
        let length = Int(try readI32())
        guard length >= 0, length <= remaining else {
            throw DecodeError("thrift string of \(length) bytes exceeds the \(remaining) bytes left")
        }
        let at = try take(length)
        return UnsafeRawBufferPointer(rebasing: base[at..<at + length])
    }

    mutating func readListBegin() throws(DecodeError) -> (element: ThriftType, count: Int) {
        let element = try Self.type(try readByte())
        return (element, try checkCount(Int(try readI32()), element))
    }

    mutating func readMapBegin() throws(DecodeError) -> (key: ThriftType, value: ThriftType, count: Int) {
        let k = try Self.type(try readByte())
        let v = try Self.type(try readByte())
        return (k, v, try checkCount(Int(try readI32()), k, v))
    }

    func minimumSize(_ type: ThriftType) -> Int {
        switch type {
        case .stop, .bool, .byte, .structure: return 1
        case .i16: return 2
        case .i32, .binary: return 4
        case .i64, .double: return 8
        case .map, .list, .set: return 5
        case .uuid: return 16
        }
    }
}

/// TCompactProtocol: zigzag varints, field ids as deltas, booleans folded into field headers.
struct ThriftCompactReader: ThriftReader {
    let base: UnsafeRawBufferPointer
    var position = 0
    /// The last field id of each struct being read: compact field ids are deltas from it.
    private var lastFieldIDs: [Int16] = []
    private var lastFieldID: Int16 = 0
    /// A boolean field's value, which the compact protocol carries in the field header.
    private var pendingBool: Bool?

    init(_ base: UnsafeRawBufferPointer) { self.base = base }

    var remaining: Int { base.count - position }

    static func type(_ code: UInt8) throws(DecodeError) -> ThriftType {
        switch code {
        case 0: return .stop
        case 1, 2: return .bool
        case 3: return .byte
        case 4: return .i16
        case 5: return .i32
        case 6: return .i64
        case 7: return .double
        case 8: return .binary
        case 9: return .list
        case 10: return .set
        case 11: return .map
        case 12: return .structure
        case 13: return .uuid
        default: throw DecodeError("unknown thrift compact type \(code)")
        }
    }

    /// Compact varints are protobuf's (ULEB128): one reader serves both.
    private mutating func varint() throws(DecodeError) -> UInt64 {
        var r = ProtoReader(base)
        r.position = position
        do {
            defer { position = r.position }
            return try r.readVarint()
        } catch {
            throw DecodeError("thrift \(error)")
        }
    }

    private mutating func zigzag() throws(DecodeError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    mutating func readMessageBegin() throws(DecodeError) -> (name: String, type: UInt8) {
        guard try readByte() == 0x82 else { throw DecodeError("not a thrift compact message (protocol id is not 0x82)") }
        let versionAndType = try readByte()
        guard versionAndType & 0x1f == 1 else { throw DecodeError("unsupported thrift compact version \(versionAndType & 0x1f)") }
        _ = try varint()  // sequence id
        return (try readString(), versionAndType >> 5)
    }

    mutating func readStructBegin() {
        lastFieldIDs.append(lastFieldID)
        lastFieldID = 0
    }

    mutating func readStructEnd() {
        lastFieldID = lastFieldIDs.popLast() ?? 0
    }

    mutating func readFieldBegin() throws(DecodeError) -> (type: ThriftType, id: Int16) {
        let header = try readByte()
        let code = header & 0x0f
        let type = try Self.type(code)
        if type == .stop { return (.stop, 0) }
        let delta = Int16(header >> 4)
        let id: Int16
        if delta == 0 {
            let z = try zigzag()
            guard let v = Int16(exactly: z) else { throw DecodeError("thrift field id \(z) out of range") }
            id = v
        } else {
            let (sum, overflow) = lastFieldID.addingReportingOverflow(delta)
            guard !overflow else { throw DecodeError("thrift field id out of range") }
            id = sum
        }
        lastFieldID = id
        if type == .bool { pendingBool = code == 1 }
        return (type, id)
    }

    mutating func readBool() throws(DecodeError) -> Bool {
        if let b = pendingBool {
            pendingBool = nil
            return b
        }
        return try readByte() == 1
    }

    mutating func readByte() throws(DecodeError) -> UInt8 {
        guard position < base.count else { throw DecodeError("truncated thrift compact message") }
        defer { position += 1 }
        return base[position]
    }

    mutating func readI16() throws(DecodeError) -> Int16 {
        let z = try zigzag()
        guard let v = Int16(exactly: z) else { throw DecodeError("thrift i16 \(z) out of range") }
        return v
    }

    mutating func readI32() throws(DecodeError) -> Int32 {
        let z = try zigzag()
        guard let v = Int32(exactly: z) else { throw DecodeError("thrift i32 \(z) out of range") }
        return v
    }

    mutating func readI64() throws(DecodeError) -> Int64 { try zigzag() }

    mutating func readDouble() throws(DecodeError) -> Double {
        guard remaining >= 8 else { throw DecodeError("truncated thrift double") }
        defer { position += 8 }
        return Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self)))
    }

    mutating func readBinary() throws(DecodeError) -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(remaining) else { throw DecodeError("thrift string of \(length) bytes exceeds the \(remaining) bytes left") }
        let at = position
        position += Int(length)
        return UnsafeRawBufferPointer(rebasing: base[at..<position])
    }

    mutating func readListBegin() throws(DecodeError) -> (element: ThriftType, count: Int) {
        let header = try readByte()
        let element = try Self.type(header & 0x0f)
        var count = UInt64(header >> 4)
        if count == 15 { count = try varint() }
        guard count <= UInt64(remaining) else { throw DecodeError("collection of \(count) elements exceeds the \(remaining) bytes left") }
        return (element, try checkCount(Int(count), element))
    }

    mutating func readMapBegin() throws(DecodeError) -> (key: ThriftType, value: ThriftType, count: Int) {
        let count = try varint()
        if count == 0 { return (.stop, .stop, 0) }
        guard count <= UInt64(remaining) else { throw DecodeError("map of \(count) entries exceeds the \(remaining) bytes left") }
        let types = try readByte()
        let k = try Self.type(types >> 4)
        let v = try Self.type(types & 0x0f)
        return (k, v, try checkCount(Int(count), k, v))
    }

    func minimumSize(_ type: ThriftType) -> Int {
        switch type {
        case .double: return 8
        case .uuid: return 16
        default: return 1
        }
    }
}
