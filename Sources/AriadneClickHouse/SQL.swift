/// The one way user input enters SQL: as a quoted literal. Every value a query carries (service
/// names, operations, attribute keys and values, trace ids) goes through these functions; SQL is
/// never assembled from unquoted input.
public enum SQL {
    /// `s` as a ClickHouse string literal. Quotes and backslashes are escaped, and so is every
    /// byte outside printable ASCII (`\xHH`), so that the literal is plain ASCII whatever it holds:
    /// NUL, newlines and invalid or multi-byte UTF-8 arrive byte for byte.
    public static func string(_ s: String) -> String {
        bytes(Array(s.utf8))
    }

    /// Bytes (a FixedString id, a blob) as a string literal.
    public static func bytes(_ b: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(b.count + 2)
        out.append(UInt8(ascii: "'"))
        let hex = Array("0123456789abcdef".utf8)
        for c in b {
            switch c {
            case UInt8(ascii: "'"), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(c)
            case 0x20..<0x7F:
                out.append(c)
            default:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(c >> 4)], hex[Int(c & 15)]]
            }
        }
        out.append(UInt8(ascii: "'"))
        return String(decoding: out, as: UTF8.self)
    }

    /// An unsigned number; numbers are formatted, never copied from input text.
    public static func number(_ n: UInt64) -> String { String(n) }
    public static func number(_ n: Int64) -> String { String(n) }

    /// A double as a literal ClickHouse reads back exactly (`inf`/`nan` spelled as it knows them).
    public static func number(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return "\(d)"
    }

    /// A list of literals for `IN (...)`; an empty list is a set nothing is in.
    public static func list(_ items: [String]) -> String {
        items.isEmpty ? "(NULL)" : "(" + items.joined(separator: ", ") + ")"
    }

    /// A database or table name given by the operator: letters, digits and `_` only, checked
    /// when the options are read (never quoted around arbitrary text).
    public static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return s.utf8.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "_")
        }
    }
}
