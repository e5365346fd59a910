/// A reference to bytes in a ``SpanBatch``'s arena: a string (UTF-8, validated on decode) or a
/// bytes value. References are only meaningful together with the batch that made them.
public struct StrRef: Hashable, Sendable {
    public var offset: UInt32
    public var count: UInt32

    @inlinable
    public init(offset: UInt32, count: UInt32) {
        self.offset = offset
        self.count = count
    }

    // Computed, not stored: a stored static costs a lazy-initialisation check on every use in
    // the decoder's inner loops.
    @inlinable
    public static var empty: StrRef { StrRef(offset: 0, count: 0) }

    @inlinable
    public var isEmpty: Bool { count == 0 }
}

/// A contiguous run of entries in one of a batch's pools (attributes, events, links, values).
public struct PoolRange: Hashable, Sendable {
    public var start: UInt32
    public var count: UInt32

    @inlinable
    public init(start: UInt32, count: UInt32) {
        self.start = start
        self.count = count
    }

    @inlinable
    public static var empty: PoolRange { PoolRange(start: 0, count: 0) }

    @inlinable
    public var indices: Range<Int> { Int(start)..<Int(start) + Int(count) }
}

/// An attribute value as it lives inside a batch: scalars inline, strings and bytes in the arena,
/// arrays and key-value lists as ranges of the batch's nested pools. Mirrors OTLP `AnyValue`.
public enum Value: Hashable, Sendable {
    /// An `AnyValue` with no member of the oneof set.
    case empty
    case string(StrRef)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes(StrRef)
    /// Elements in ``SpanBatch/arrayValues``.
    case array(PoolRange)
    /// Entries in ``SpanBatch/kvlistEntries``.
    case kvlist(PoolRange)
}

/// A key and its value inside a batch.
public struct Attribute: Hashable, Sendable {
    public var key: StrRef
    public var value: Value

    @inlinable
    public init(key: StrRef, value: Value) {
        self.key = key
        self.value = value
    }
}

/// An owned attribute value, for building batches and for reading one value out of a batch.
/// Mirrors OTLP `AnyValue`, including nested arrays and key-value lists.
public indirect enum AttributeValue: Hashable, Sendable {
    case empty
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([AttributeValue])
    case kvlist([KeyValue])

    /// The value as a string for display or matching: scalars in their usual form, arrays and
    /// lists as JSON (the way Jaeger renders OTLP arrays as string tags).
    public var displayString: String {
        switch self {
        case .empty: return ""
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return AttributeValue.format(d)
        case .bytes(let b): return Base64.encode(b)
        case .array, .kvlist: return jsonString
        }
    }

    /// A compact JSON rendering of the value.
    public var jsonString: String {
        switch self {
        case .empty: return "null"
        case .string(let s): return JSONText.quote(s)
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? AttributeValue.format(d) : JSONText.quote(AttributeValue.format(d))
        case .bytes(let b): return JSONText.quote(Base64.encode(b))
        case .array(let values): return "[" + values.map(\.jsonString).joined(separator: ",") + "]"
        case .kvlist(let kvs):
            return "{" + kvs.map { JSONText.quote($0.key) + ":" + $0.value.jsonString }.joined(separator: ",") + "}"
        }
    }

    /// Shortest round-tripping decimal form, with integral values written without a fraction.
    public static func format(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}

/// An owned key and value.
public struct KeyValue: Hashable, Sendable {
    public var key: String
    public var value: AttributeValue

    public init(_ key: String, _ value: AttributeValue) {
        self.key = key
        self.value = value
    }
}

extension AttributeValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// OTLP span kind. Kept as the raw wire number so that values from newer protocol versions
/// survive a round trip.
public struct SpanKind: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unspecified = SpanKind(rawValue: 0)
    public static let `internal` = SpanKind(rawValue: 1)
    public static let server = SpanKind(rawValue: 2)
    public static let client = SpanKind(rawValue: 3)
    public static let producer = SpanKind(rawValue: 4)
    public static let consumer = SpanKind(rawValue: 5)

    /// The lowercase name Jaeger uses (`span.kind` tag, `spanKind` parameter); empty for unspecified.
    public var jaegerName: String {
        switch self {
        case .internal: return "internal"
        case .server: return "server"
        case .client: return "client"
        case .producer: return "producer"
        case .consumer: return "consumer"
        default: return ""
        }
    }

    public init?(jaegerName: String) {
        switch jaegerName.lowercased() {
        case "internal": self = .internal
        case "server": self = .server
        case "client": self = .client
        case "producer": self = .producer
        case "consumer": self = .consumer
        case "unspecified", "": self = .unspecified
        default: return nil
        }
    }

    /// The OTLP enum name, as the span metrics labels use it (`SPAN_KIND_SERVER`).
    public var otlpName: String {
        switch self {
        case .unspecified: return "SPAN_KIND_UNSPECIFIED"
        case .internal: return "SPAN_KIND_INTERNAL"
        case .server: return "SPAN_KIND_SERVER"
        case .client: return "SPAN_KIND_CLIENT"
        case .producer: return "SPAN_KIND_PRODUCER"
        case .consumer: return "SPAN_KIND_CONSUMER"
        default: return "SPAN_KIND_\(rawValue)"
        }
    }
}

/// OTLP status code, kept as the raw wire number.
public struct StatusCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unset = StatusCode(rawValue: 0)
    public static let ok = StatusCode(rawValue: 1)
    public static let error = StatusCode(rawValue: 2)

    public var otlpName: String {
        switch self {
        case .unset: return "STATUS_CODE_UNSET"
        case .ok: return "STATUS_CODE_OK"
        case .error: return "STATUS_CODE_ERROR"
        default: return "STATUS_CODE_\(rawValue)"
        }
    }
}
