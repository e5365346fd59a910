import AriadneModel

/// A parsed JSON document. Numbers keep their source text so that 64-bit integers and doubles
/// are each parsed exactly once, in the type the schema asks for.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member named `key` of an object (the last one, if repeated), or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Parses a complete JSON text (RFC 8259). Nesting is limited to `maxDepth`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws(DecodeError) -> JSONValue {
        var p = JSONParser(bytes: bytes, maxDepth: maxDepth)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == bytes.count else { throw DecodeError("unexpected data after JSON value at offset \(p.i)") }
        return v
    }

    public static func parse(_ bytes: [UInt8]) throws(DecodeError) -> JSONValue {
        try bytes.withUnsafeBytesTyped { buf throws(DecodeError) in try parse(buf) }
    }

    public static func parse(_ text: String) throws(DecodeError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var i = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    func fail(_ what: String) -> DecodeError { DecodeError("invalid JSON at offset \(i): \(what)") }

    mutating func value(depth: Int) throws(DecodeError) -> JSONValue {
        guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members = [(String, JSONValue)]()
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let key = try string()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end in object") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(members)
                } else {
                    throw fail("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            i += 1
            var elements = [JSONValue]()
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end in array") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(elements)
                } else {
                    throw fail("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try number())
        default:
            throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(DecodeError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func number() throws(DecodeError) -> String {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while p.i < p.bytes.count, p.bytes[p.i] >= UInt8(ascii: "0"), p.bytes[p.i] <= UInt8(ascii: "9") { p.i += 1 }
            return p.i - s
        }
        guard digits(&self) > 0 else { throw fail("invalid number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    mutating func string() throws(DecodeError) -> String {
        i += 1  // opening quote
        var out = [UInt8]()
        var runStart = i
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
                i += 1
                break
            }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw fail("invalid escape")
                }
                runStart = i
                continue
            }
            i += 1
        }
        let valid = out.withUnsafeBytes { UTF8Validation.isValid($0) }
        guard valid else { throw fail("string is not valid UTF-8") }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws(DecodeError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let n = Hex.nibble(bytes[i + k]) else { throw fail("invalid \\u escape") }
            v = v << 4 | UInt32(n)
        }
        i += 4
        return v
    }
}

/// A small JSON writer: appends tokens to a byte array and places the commas. Used by every
/// JSON encoder in the project.
public struct JSONWriter {
    public var out: [UInt8] = []
    /// Per open container: whether the next member or element needs a comma before it.
    var needsComma: [Bool] = [false]
    /// A member name was just written; the next value belongs to it.
    var afterKey = false

    public init() {}

    mutating func valueSeparator() {
        if afterKey {
            afterKey = false
        } else if needsComma[needsComma.count - 1] {
            out.append(UInt8(ascii: ","))
        }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() {
        valueSeparator()
        out.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        out.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        valueSeparator()
        out.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        out.append(UInt8(ascii: "]"))
    }

    /// Writes a member name; the next value written is its value.
    public mutating func key(_ k: String) {
        valueSeparator()
        JSONText.appendQuoted(k, to: &out)
        out.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ s: String) {
        valueSeparator()
        JSONText.appendQuoted(s, to: &out)
    }

    /// Writes already valid UTF-8 bytes as a JSON string.
    public mutating func string(bytes: UnsafeRawBufferPointer) {
        valueSeparator()
        out.append(UInt8(ascii: "\""))
        JSONText.appendEscaped(bytes, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// Writes a raw token (a number, `true`, `null`, or pre-rendered JSON).
    public mutating func raw(_ token: String) {
        valueSeparator()
        out.append(contentsOf: token.utf8)
    }

    public mutating func null() { raw("null") }
    public mutating func bool(_ b: Bool) { raw(b ? "true" : "false") }
    public mutating func int(_ i: Int64) { raw(String(i)) }
    public mutating func uint(_ i: UInt64) { raw(String(i)) }

    /// A double as JSON: non-finite values become the strings protobuf JSON uses.
    public mutating func double(_ d: Double) {
        if d.isFinite { raw("\(d)") } else { string(AttributeValue.format(d)) }
    }

    public mutating func field(_ k: String, _ s: String) {
        key(k)
        string(s)
    }

    public mutating func field(_ k: String, _ i: Int) {
        key(k)
        int(Int64(i))
    }

    public mutating func field(_ k: String, _ i: UInt64) {
        key(k)
        uint(i)
    }

    public mutating func field(_ k: String, _ d: Double) {
        key(k)
        double(d)
    }

    public var text: String { String(decoding: out, as: UTF8.self) }
}

/// A value for ``JSONWriter/object(_:)``: a response lists its fields once, as data, instead of
/// a run of `key`/`value` calls per endpoint.
public indirect enum JSONField {
    case string(String)
    case int(Int)
    case uint(UInt64)
    case double(Double)
    case bool(Bool)
    /// `null` when nil.
    case optionalDouble(Double?)
    case strings([String])
    case array([JSONField])
    /// The fields, then more (for a field only some answers have).
    case object(KeyValuePairs<String, JSONField>, then: KeyValuePairs<String, JSONField> = [:])
    /// Unix nanoseconds as a decimal string, as OTLP JSON writes 64-bit times.
    case nanos(UInt64)
}

extension JSONWriter {
    public mutating func value(_ v: JSONField) {
        switch v {
        case .string(let s): string(s)
        case .int(let i): int(Int64(i))
        case .uint(let u): uint(u)
        case .double(let d): double(d)
        case .bool(let b): bool(b)
        case .optionalDouble(let d): if let d { double(d) } else { null() }
        case .strings(let list):
            beginArray()
            for s in list { string(s) }
            endArray()
        case .array(let list):
            beginArray()
            for e in list { value(e) }
            endArray()
        case .object(let fields, let more):
            beginObject()
            for (k, v) in fields {
                key(k)
                value(v)
            }
            for (k, v) in more {
                key(k)
                value(v)
            }
            endObject()
        case .nanos(let ns): string(String(ns))
        }
    }

    /// `{"k": v, ...}` in the order given.
    public mutating func object(_ fields: KeyValuePairs<String, JSONField>) { value(.object(fields)) }

    /// `[...]`, one element per item.
    public mutating func array<S: Sequence>(_ items: S, _ element: (inout JSONWriter, S.Element) -> Void) {
        beginArray()
        for item in items { element(&self, item) }
        endArray()
    }
}
