/// A 16-byte trace identifier, held as two big-endian 64-bit halves so that it compares and
/// hashes without touching the heap.
///
/// The all-zero value is invalid per W3C Trace Context and OTLP; receivers reject it.
public struct TraceID: Hashable, Comparable, Sendable {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    @inlinable
    public static var zero: TraceID { TraceID(high: 0, low: 0) }

    @inlinable
    public var isValid: Bool { high != 0 || low != 0 }

    @inlinable
    public static func < (lhs: TraceID, rhs: TraceID) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }

    /// Reads 16 big-endian bytes; nil when the buffer is not exactly 16 bytes long.
    @inlinable
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        self.high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        self.low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    public init?(bytes: [UInt8]) {
        guard let id = bytes.withUnsafeBytes({ TraceID(bytes: $0) }) else { return nil }
        self = id
    }

    /// The 16 big-endian bytes.
    public var bytes: [UInt8] { Hex.bytes(high) + Hex.bytes(low) }

    /// 32 lowercase hex digits, as W3C and OTLP/JSON write it.
    public var hex: String { Hex.string(high) + Hex.string(low) }

    /// Parses 1 to 32 hex digits, either case. Shorter ids are left-padded with zeros, as Jaeger
    /// and Zipkin accept 64-bit trace ids.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard !utf8.isEmpty, utf8.count <= 32 else { return nil }
        let split = max(0, utf8.count - 16)
        guard let low = Hex.parse(utf8[split...]) else { return nil }
        let high: UInt64
        if split > 0 {
            guard let h = Hex.parse(utf8[..<split]) else { return nil }
            high = h
        } else {
            high = 0
        }
        self.init(high: high, low: low)
    }
}

extension TraceID: CustomStringConvertible {
    public var description: String { hex }
}

/// An 8-byte span identifier. Zero means "no span" (for example, no parent).
public struct SpanID: Hashable, Comparable, Sendable {
    public var value: UInt64

    @inlinable
    public init(_ value: UInt64) { self.value = value }

    @inlinable
    public static var zero: SpanID { SpanID(0) }

    @inlinable
    public var isValid: Bool { value != 0 }

    @inlinable
    public static func < (lhs: SpanID, rhs: SpanID) -> Bool { lhs.value < rhs.value }

    /// Reads 8 big-endian bytes; nil when the buffer is not exactly 8 bytes long.
    @inlinable
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 8 else { return nil }
        self.value = UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
    }

    public init?(bytes: [UInt8]) {
        guard let id = bytes.withUnsafeBytes({ SpanID(bytes: $0) }) else { return nil }
        self = id
    }

    public var bytes: [UInt8] { Hex.bytes(value) }

    /// 16 lowercase hex digits.
    public var hex: String { Hex.string(value) }

    /// Parses 1 to 16 hex digits, either case.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard !utf8.isEmpty, utf8.count <= 16, let v = Hex.parse(utf8[...]) else { return nil }
        self.value = v
    }
}

extension SpanID: CustomStringConvertible {
    public var description: String { hex }
}

/// Hex helpers shared by the id types and the wire codecs.
public enum Hex {
    @usableFromInline
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// 16 lowercase hex digits of `value`.
    public static func string(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for i in 0..<16 {
                let nibble = Int((value >> UInt64((15 - i) * 4)) & 0xF)
                buffer[i] = digits[nibble]
            }
            return 16
        }
    }

    /// Two lowercase hex digits per byte: digests, tokens.
    public static func string(bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func bytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64((7 - $0) * 8)) }
    }

    /// The value of one hex digit, or nil.
    @inlinable
    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// Parses at most 16 hex digits into a number.
    public static func parse(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard digits.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in digits {
            guard let n = nibble(c) else { return nil }
            v = v << 4 | UInt64(n)
        }
        return v
    }

    /// Decodes an even-length hex string into bytes.
    public static func decode(_ s: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(s.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let h = nibble(utf8[i]), let l = nibble(utf8[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
