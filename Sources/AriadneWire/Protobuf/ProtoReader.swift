/// Why a body could not be decoded. Always a permanent error: the same bytes will never decode.
public struct DecodeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Protobuf wire types (protobuf encoding guide, "Message Structure").
@usableFromInline
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// A cursor over protobuf bytes. It never reads past its buffer: every read checks bounds and
/// throws ``DecodeError`` on truncation, so hostile input cannot crash the process.
@usableFromInline
struct ProtoReader {
    @usableFromInline let base: UnsafeRawBufferPointer
    @usableFromInline var position: Int

    @inlinable
    init(_ base: UnsafeRawBufferPointer) {
        self.base = base
        self.position = 0
    }

    @inlinable
    var isAtEnd: Bool { position >= base.count }

    @inlinable @inline(__always)
    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < base.count else { throw DecodeError("truncated varint") }
            let byte = base[position]
            position += 1
            if shift == 63 && byte > 1 { throw DecodeError("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw DecodeError("varint longer than 10 bytes") }
        }
    }

    /// Reads a field tag; returns the field number and wire type.
    @inlinable @inline(__always)
    mutating func readTag() throws -> (field: UInt32, wireType: WireType) {
        let tag = try readVarint()
        guard tag <= UInt64(UInt32.max) else { throw DecodeError("field tag out of range") }
        let field = UInt32(tag >> 3)
        guard field != 0 else { throw DecodeError("field number 0 is invalid") }
        guard let wt = WireType(rawValue: UInt8(tag & 7)) else { throw Self.invalidWireType(tag, field: field) }
        return (field, wt)
    }

    @inlinable @inline(__always)
    mutating func readFixed64() throws -> UInt64 {
        guard position + 8 <= base.count else { throw DecodeError("truncated fixed64") }
        let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        position += 8
        return v
    }

    @inlinable @inline(__always)
    mutating func readFixed32() throws -> UInt32 {
        guard position + 4 <= base.count else { throw DecodeError("truncated fixed32") }
        let v = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        position += 4
        return v
    }

    /// Reads a length prefix and returns the bytes it covers.
    @inlinable @inline(__always)
    mutating func readLengthDelimited() throws -> UnsafeRawBufferPointer {
        let length = try readVarint()
        guard length <= UInt64(base.count - position) else {
            throw Self.lengthError(length, remaining: base.count - position)
        }
        let start = position
        position += Int(length)
        return UnsafeRawBufferPointer(rebasing: base[start..<position])
    }

    /// Skips a field of an unknown number, by wire type. Groups are not valid in OTLP.
    @inlinable @inline(__always)
    mutating func skip(_ wireType: WireType, field: UInt32) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup: throw DecodeError("group wire type for field \(field) is not supported")
        }
    }

    // Reads of a known field: check the wire type the schema gives it, then read.

    @inlinable @inline(__always)
    mutating func bytes(_ wt: WireType, _ field: UInt32, _ message: StaticString) throws -> UnsafeRawBufferPointer {
        try Self.expect(wt, .lengthDelimited, field: field, in: message)
        return try readLengthDelimited()
    }

    @inlinable @inline(__always)
    mutating func varint(_ wt: WireType, _ field: UInt32, _ message: StaticString) throws -> UInt64 {
        try Self.expect(wt, .varint, field: field, in: message)
        return try readVarint()
    }

    @inlinable @inline(__always)
    mutating func fixed64(_ wt: WireType, _ field: UInt32, _ message: StaticString) throws -> UInt64 {
        try Self.expect(wt, .fixed64, field: field, in: message)
        return try readFixed64()
    }

    @inlinable @inline(__always)
    mutating func fixed32(_ wt: WireType, _ field: UInt32, _ message: StaticString) throws -> UInt32 {
        try Self.expect(wt, .fixed32, field: field, in: message)
        return try readFixed32()
    }

    /// Throws unless `actual` is the wire type a known field must have.
    @inlinable @inline(__always)
    static func expect(_ actual: WireType, _ expected: WireType, field: UInt32, in message: StaticString) throws {
        if actual != expected { throw wrongWireType(actual, field: field, in: message) }
    }

    @usableFromInline @inline(never)
    static func lengthError(_ length: UInt64, remaining: Int) -> DecodeError {
        DecodeError("length \(length) exceeds the remaining \(remaining) bytes")
    }

    @usableFromInline @inline(never)
    static func invalidWireType(_ tag: UInt64, field: UInt32) -> DecodeError {
        DecodeError("invalid wire type \(tag & 7) for field \(field)")
    }

    /// The error, built out of line so that the checks above stay small enough to inline.
    @usableFromInline @inline(never)
    static func wrongWireType(_ actual: WireType, field: UInt32, in message: StaticString) -> DecodeError {
        DecodeError("wrong wire type \(actual.rawValue) for \(message) field \(field)")
    }
}
