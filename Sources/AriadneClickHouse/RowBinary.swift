public import AriadneModel

/// ClickHouse's RowBinary format, which inserts and reads use: little-endian numbers, strings
/// with a LEB128 length, arrays as a LEB128 count then the elements, `Date` as days since 1970.
/// Rows written one after another make one body, so batches are concatenated as they are.
public struct RowBinaryWriter: Sendable {
    public var out: [UInt8] = []

    public init() {}

    @inline(__always) public mutating func uint8(_ v: UInt8) { out.append(v) }
    @inline(__always) public mutating func int8(_ v: Int8) { out.append(UInt8(bitPattern: v)) }

    @inline(__always) public mutating func uint16(_ v: UInt16) {
        out.append(UInt8(truncatingIfNeeded: v))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    @inline(__always) public mutating func uint32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) public mutating func uint64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) public mutating func int64(_ v: Int64) { uint64(UInt64(bitPattern: v)) }
    @inline(__always) public mutating func float64(_ v: Double) { uint64(v.bitPattern) }

    public mutating func varint(_ v: Int) {
        var v = UInt64(v)
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    public mutating func bytes(_ b: UnsafeRawBufferPointer) {
        varint(b.count)
        out.append(contentsOf: b)
    }

    public mutating func bytes(_ b: [UInt8]) {
        varint(b.count)
        out.append(contentsOf: b)
    }

    /// A `FixedString(16)`: the id's big-endian bytes, so that ids sort as they compare.
    public mutating func traceID(_ id: TraceID) {
        withUnsafeBytes(of: id.high.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: id.low.bigEndian) { out.append(contentsOf: $0) }
    }

    /// A `FixedString(8)`.
    public mutating func spanID(_ id: SpanID) {
        withUnsafeBytes(of: id.value.bigEndian) { out.append(contentsOf: $0) }
    }

    /// A `Date` holding the UTC day of a Unix-nanosecond time.
    /// The UTC day of a time as a ClickHouse Date; times past 2100 in the day 2100-01-01, as
    /// searches prune them (``SearchSQL/date(_:)``).
    public mutating func day(ofNanoseconds ns: UInt64) { uint16(UInt16(min(ns, SearchSQL.lastPrunedDay) / 86_400_000_000_000)) }
}

/// Reads RowBinary answers. Every read is bounded by the bytes left; a short or malformed
/// answer throws instead of reading past the end.
public struct RowBinaryReader {
    let data: [UInt8]
    public private(set) var offset = 0

    public struct Truncated: Error, CustomStringConvertible {
        public var description: String { "ClickHouse answer ended inside a row" }
    }

    public init(_ bytes: [UInt8]) { data = bytes }

    public var isAtEnd: Bool { offset >= data.count }

    mutating func take(_ n: Int) throws -> Range<Int> {
        guard n >= 0, data.count - offset >= n else { throw Truncated() }
        defer { offset += n }
        return offset..<offset + n
    }

    public mutating func uint8() throws -> UInt8 { data[try take(1).lowerBound] }
    public mutating func int8() throws -> Int8 { Int8(bitPattern: try uint8()) }

    public mutating func uint64() throws -> UInt64 {
        let r = try take(8)
        var v: UInt64 = 0
        for k in r.reversed() { v = v << 8 | UInt64(data[k]) }
        return v
    }

    public mutating func int64() throws -> Int64 { Int64(bitPattern: try uint64()) }

    public mutating func uint32() throws -> UInt32 {
        let r = try take(4)
        var v: UInt32 = 0
        for k in r.reversed() { v = v << 8 | UInt32(data[k]) }
        return v
    }

    public mutating func uint16() throws -> UInt16 {
        let r = try take(2)
        return UInt16(data[r.lowerBound]) | UInt16(data[r.lowerBound + 1]) << 8
    }

    public mutating func varint() throws -> Int {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try uint8()
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
            guard shift < 64 else { throw Truncated() }
        }
        guard v <= UInt64(data.count) else { throw Truncated() }
        return Int(v)
    }

    public mutating func bytes() throws -> ArraySlice<UInt8> { data[try take(try varint())] }
    public mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }

    public mutating func traceID() throws -> TraceID {
        let r = try take(16)
        return data[r].withUnsafeBytes { TraceID(bytes: $0)! }
    }

    public mutating func spanID() throws -> SpanID {
        let r = try take(8)
        var v: UInt64 = 0
        for k in r { v = v << 8 | UInt64(data[k]) }
        return SpanID(v)
    }
}
