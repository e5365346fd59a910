/// The search filter language, in the spirit of TraceQL's span conditions:
///
/// ```
/// { resource.service.name = "checkout" && span.http.response.status_code >= 500 }
/// span.db.system = "redis" || (event.exception.type =~ "Timeout.*" && duration > 250ms)
/// .user.id != nil && traceDuration > 2s
/// ```
///
/// Fields: `span.KEY`, `resource.KEY`, `event.KEY`, `.KEY` (any of the three), `name`, `service`,
/// `status` (unset, ok, error), `kind` (server, client, …), `duration`, and `traceDuration` (only
/// as a top-level `&&` term: it bounds the whole trace, not a span). A key with unusual characters
/// is quoted: `span."my key"`. Operators: `=`, `!=`, `=~`, `!~` (whole-value regular expressions),
/// `<`, `<=`, `>`, `>=`; `!= nil` means the attribute exists, `= nil` that it does not. Literals:
/// "strings", integers, decimals, `true`/`false`, durations (`250ms`, `1.5s`, `2m`; ns, us, ms,
/// s, m, h), and bare words for status and kind values. `&&` binds tighter than `||`.
public struct ParsedFilter: Sendable, Equatable {
    public var filter: SpanFilter?
    public var traceDurationMin: UInt64?
    public var traceDurationMax: UInt64?
}

public enum FilterParser {
    /// Filters longer than this are refused: a filter is typed by a person or built by a UI.
    public static let maxLength = 64 * 1024
    /// Parentheses nested deeper than this are refused, so that parsing and matching (both
    /// recursive) stay far from the stack's end.
    public static let maxDepth = 64

    public static func parse(_ text: String) throws(FilterError) -> ParsedFilter {
        guard text.utf8.count <= maxLength else { throw FilterError("filter: longer than \(maxLength) bytes") }
        var p = Parser(Array(text.utf8))
        p.skipSpace()
        let braced = p.eat("{")
        var result = ParsedFilter()
        p.skipSpace()
        if !(braced && p.peek("}")) && !p.atEnd {
            let expr = try p.orExpr()
            result = try hoistTraceDuration(expr)
        }
        p.skipSpace()
        if braced, !p.eat("}") { throw p.error("expected }") }
        p.skipSpace()
        if !p.atEnd { throw p.error("unexpected text") }
        return result
    }

    /// Moves `traceDuration` terms of the top-level conjunction into the trace bounds.
    static func hoistTraceDuration(_ expr: Expr) throws(FilterError) -> ParsedFilter {
        var result = ParsedFilter()
        let terms: [Expr]
        if case .and(let parts) = expr { terms = parts } else { terms = [expr] }
        var rest = [SpanFilter]()
        for t in terms {
            if case .traceDuration(let op, let ns) = t {
                switch op {
                case .gt: result.traceDurationMin = max(result.traceDurationMin ?? 0, ns &+ 1)
                case .ge: result.traceDurationMin = max(result.traceDurationMin ?? 0, ns)
                case .lt: result.traceDurationMax = min(result.traceDurationMax ?? .max, ns > 0 ? ns - 1 : 0)
                case .le: result.traceDurationMax = min(result.traceDurationMax ?? .max, ns)
                default: throw FilterError("traceDuration takes <, <=, > or >=")
                }
            } else {
                rest.append(try t.spanFilter())
            }
        }
        result.filter = rest.isEmpty ? nil : (rest.count == 1 ? rest[0] : .and(rest))
        return result
    }

    indirect enum Expr {
        case and([Expr])
        case or([Expr])
        case span(SpanFilter)
        case traceDuration(FilterOp, UInt64)

        func spanFilter() throws(FilterError) -> SpanFilter {
            switch self {
            case .span(let f): return f
            case .and(let parts): return .and(try parts.map { e throws(FilterError) in try e.spanFilter() })
            case .or(let parts): return .or(try parts.map { e throws(FilterError) in try e.spanFilter() })
            case .traceDuration: throw FilterError("traceDuration may only be combined with && at the top level")
            }
        }
    }

    struct Parser {
        let s: [UInt8]
        var i = 0
        var depth = 0

        init(_ s: [UInt8]) { self.s = s }

        var atEnd: Bool { i >= s.count }

        func error(_ message: String) -> FilterError {
            FilterError("filter: \(message) at offset \(i)")
        }

        mutating func skipSpace() {
            while i < s.count, s[i] == 0x20 || s[i] == 0x09 || s[i] == 0x0A || s[i] == 0x0D { i += 1 }
        }

        func peek(_ token: String) -> Bool {
            let t = Array(token.utf8)
            return i + t.count <= s.count && Array(s[i..<i + t.count]) == t
        }

        mutating func eat(_ token: String) -> Bool {
            skipSpace()
            guard peek(token) else { return false }
            i += token.utf8.count
            return true
        }

        mutating func orExpr() throws(FilterError) -> Expr {
            var parts = [try andExpr()]
            while eat("||") { parts.append(try andExpr()) }
            return parts.count == 1 ? parts[0] : .or(parts)
        }

        mutating func andExpr() throws(FilterError) -> Expr {
            var parts = [try unary()]
            while eat("&&") { parts.append(try unary()) }
            return parts.count == 1 ? parts[0] : .and(parts)
        }

        mutating func unary() throws(FilterError) -> Expr {
            if eat("(") {
                depth += 1
                defer { depth -= 1 }
                guard depth <= FilterParser.maxDepth else { throw error("parentheses nested deeper than \(FilterParser.maxDepth)") }
                let e = try orExpr()
                guard eat(")") else { throw error("expected )") }
                return e
            }
            return try comparison()
        }

        static func isWordByte(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2E
                || c == 0x2D || c == 0x2F || c == 0x3A || c >= 0x80
        }

        mutating func word() -> String {
            let start = i
            while i < s.count, Self.isWordByte(s[i]) { i += 1 }
            return String(decoding: s[start..<i], as: UTF8.self)
        }

        mutating func quoted() throws(FilterError) -> String {
            // At the opening quote.
            i += 1
            var out = [UInt8]()
            while i < s.count, s[i] != 0x22 {
                if s[i] == 0x5C, i + 1 < s.count {
                    i += 1
                    switch s[i] {
                    case 0x6E: out.append(0x0A)
                    case 0x74: out.append(0x09)
                    default: out.append(s[i])
                    }
                } else {
                    out.append(s[i])
                }
                i += 1
            }
            guard i < s.count else { throw error("unterminated string") }
            i += 1
            return String(decoding: out, as: UTF8.self)
        }

        enum FieldOrTrace {
            case field(SpanField)
            case traceDuration
        }

        mutating func field() throws(FilterError) -> FieldOrTrace {
            skipSpace()
            let start = i
            for (prefix, scope) in [("span.", AttributeScope.span), ("resource.", .resource), ("event.", .event), (".", .any)]
            where peek(prefix) {
                i += prefix.utf8.count
                let key: String
                if i < s.count, s[i] == 0x22 { key = try quoted() } else { key = word() }
                guard !key.isEmpty else { throw error("expected an attribute key") }
                return .field(.attribute(scope, key))
            }
            let w = word()
            switch w {
            case "name": return .field(.name)
            case "service": return .field(.service)
            case "status": return .field(.status)
            case "kind": return .field(.kind)
            case "duration": return .field(.duration)
            case "traceDuration": return .traceDuration
            default:
                i = start
                throw error(w.isEmpty ? "expected a field" : "unknown field \"\(w)\" (attributes are span.KEY, resource.KEY, event.KEY or .KEY)")
            }
        }

        mutating func op() throws(FilterError) -> FilterOp {
            skipSpace()
            for o in [FilterOp.regex, .notRegex, .ne, .le, .ge, .eq, .lt, .gt] where peek(o.rawValue) {
                i += o.rawValue.utf8.count
                return o
            }
            throw error("expected an operator (=, !=, =~, !~, <, <=, >, >=)")
        }

        /// A literal; nil for `nil`.
        mutating func literal(durationField: Bool) throws(FilterError) -> FilterValue? {
            skipSpace()
            guard i < s.count else { throw error("expected a value") }
            if s[i] == 0x22 { return .string(try quoted()) }
            let start = i
            let w = word()
            if w.isEmpty { throw error("expected a value") }
            if w == "nil" { return nil }
            if w == "true" { return .bool(true) }
            if w == "false" { return .bool(false) }
            if let first = w.utf8.first, first == 0x2D || (first >= 0x30 && first <= 0x39) {
                do throws(FilterError) {
                    if let ns = try Self.duration(w) { return .int(Int64(clamping: ns)) }
                } catch {
                    i = start
                    throw self.error(error.description)
                }
                if let n = Int64(w) { return .int(n) }
                if let d = Double(w) {
                    // 1e400 parses as infinity; no attribute can be compared with it meaningfully.
                    guard d.isFinite else {
                        i = start
                        throw error("number \"\(w)\" out of range")
                    }
                    return .double(d)
                }
                i = start
                throw error("malformed number \"\(w)\"")
            }
            return .string(w)
        }

        /// `250ms`, `1.5s`, `2m`, `100us`, `10ns`, `1h` in nanoseconds; nil when `w` is no
        /// duration; throws for a duration no span can have (negative, infinite, past 2^63 ns).
        static func duration(_ w: String) throws(FilterError) -> UInt64? {
            let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 6e10), ("h", 3.6e12)]
            for (unit, scale) in units where w.hasSuffix(unit) {
                guard let n = Double(w.dropLast(unit.count)) else { continue }
                let ns = n * scale
                // Int64.max: durations are compared as Int64 values.
                guard ns.isFinite, ns >= 0, ns < 9.2e18 else { throw FilterError("duration \"\(w)\" out of range (0 to 290 years)") }
                return UInt64(ns)
            }
            return nil
        }

        mutating func comparison() throws(FilterError) -> Expr {
            let f = try field()
            let o = try op()
            let isDuration: Bool
            if case .traceDuration = f {
                isDuration = true
            } else if case .field(.duration) = f {
                isDuration = true
            } else {
                isDuration = false
            }
            let value = try literal(durationField: isDuration)
            switch f {
            case .traceDuration:
                guard case .int(let n) = value, n >= 0 else { throw error("traceDuration needs a duration such as 2s") }
                return .traceDuration(o, UInt64(n))
            case .field(let field):
                if value == nil {
                    guard case .attribute = field else { throw error("only attributes can be compared with nil") }
                    switch o {
                    case .ne: return .span(.compare(field, .exists, nil))
                    case .eq: return .span(.compare(field, .notExists, nil))
                    default: throw error("nil takes = or !=")
                    }
                }
                if isDuration, case .int = value {} else if isDuration { throw error("duration needs a value such as 250ms") }
                return .span(.compare(field, o, value))
            }
        }
    }
}
