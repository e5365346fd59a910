import AriadneModel
import AriadneStorage

/// A search as a condition on the `spans` table.
///
/// Every condition is translated to SQL as the engine evaluates it (``SpanMatcher`` and
/// ``ValuePredicate``): values compare in their display form, numbers across int and float,
/// and attribute conditions look at the scopes the query names. What SQL cannot say the same
/// way (regular expressions in our dialect, string ordering by Unicode rather than bytes) is
/// translated to a wider condition that every match meets, and the search is marked inexact:
/// the store then checks each candidate trace with the matcher itself, so answers are the
/// engine's either way.
struct SearchSQL {
    /// Conditions on one row of `spans`, joined with AND.
    var condition: String
    /// False when some condition was widened and candidates must be checked by the matcher.
    var exact: Bool

    init(_ query: TraceQuery) throws {
        var parts = [String]()
        var exact = true
        if let s = query.service { parts.append("service = \(SQL.string(s))") }
        if let op = query.operation { parts.append("name = \(SQL.string(op))") }
        if let k = query.spanKind { parts.append("kind = \(k.rawValue)") }
        if let m = query.startMin {
            parts.append("day >= \(Self.date(m))")
            parts.append("start >= \(m)")
        }
        if let m = query.startMax {
            parts.append("day <= \(Self.date(m))")
            parts.append("start <= \(m)")
        }
        if let m = query.durationMin { parts.append("duration >= \(m)") }
        if let m = query.durationMax { parts.append("duration <= \(m)") }
        for (key, value) in query.tags.sorted(by: { $0.key < $1.key }) { parts.append(Self.tag(key, value)) }
        if let filter = query.filter {
            let f = try Self.filter(filter)
            parts.append(f.sql)
            exact = exact && f.exact
        }
        condition = parts.isEmpty ? "1" : parts.joined(separator: " AND ")
        self.exact = exact
    }

    /// `toDate('YYYY-MM-DD')` of the UTC day holding a Unix-nanosecond time, for partition pruning.
    /// Times past 2100 are taken as 2100-01-01: ClickHouse's Date ends in 2105 (2149 on newer
    /// releases) and wraps around past it, which made a window ending in 2286 match nothing.
    static func date(_ ns: UInt64) -> String { "toDate('\(CivilDate.day(ofNanoseconds: min(ns, lastPrunedDay)))')" }

    /// 2100-01-01T00:00:00Z in Unix nanoseconds.
    static let lastPrunedDay: UInt64 = 4_102_444_800_000_000_000

    // MARK: Tags (Jaeger's key=value search)

    /// A tag matches a pseudo-tag field or any attribute (span, resource, scope, event, link)
    /// whose display form is the value.
    static func tag(_ key: String, _ value: String) -> String {
        var any = [String]()
        switch key {
        case "error": if value == "true" { any.append("status = \(StatusCode.error.rawValue)") }
        case "span.kind": if let k = SpanKind(jaegerName: value), k.jaegerName == value { any.append("kind = \(k.rawValue)") }
        case "otel.status_code":
            if value == "ERROR" { any.append("status = \(StatusCode.error.rawValue)") }
            if value == "OK" { any.append("status = \(StatusCode.ok.rawValue)") }
        case "otel.status_description": any.append("status_message = \(SQL.string(value))")
        case "otel.scope.name": any.append("scope_name = \(SQL.string(value))")
        default: break
        }
        let all: [Schema.AttributeOrigin] = [.span, .resource, .scope, .event, .link]
        let literal = FilterValue.string(value)
        for column in [ValueColumn.str, .int, .float, .bool, .other] {
            if let p = column.equal(literal, on: "v"), p != "0" { any.append(attribute(column, key, origins: all, p)) }
        }
        return "(" + any.joined(separator: " OR ") + ")"
    }

    // MARK: The filter language

    static func filter(_ f: SpanFilter) throws -> (sql: String, exact: Bool) {
        switch f {
        case .and(let parts), .or(let parts):
            let translated = try parts.map(filter)
            let joiner: String
            if case .and = f { joiner = " AND " } else { joiner = " OR " }
            guard !translated.isEmpty else { return (joiner == " AND " ? "1" : "0", true) }
            return ("(" + translated.map(\.sql).joined(separator: joiner) + ")", translated.allSatisfy(\.exact))
        case .compare(let field, let op, let literal):
            return try compare(field, op, literal)
        }
    }

    static func compare(_ field: SpanField, _ op: FilterOp, _ literal: FilterValue?) throws -> (sql: String, exact: Bool) {
        switch field {
        case .status, .kind:
            // Few values: the predicate itself decides which codes qualify, regular expressions included.
            let p = try ValuePredicate(op: op, literal: literal)
            let codes: [Int32] =
                field == .status
                ? [StatusCode.unset, .ok, .error].filter { p.matches(.string(SpanBatch.statusName($0))) }.map(\.rawValue)
                : (0...5).map { SpanKind(rawValue: $0) }.filter { p.matches(.string(SpanBatch.kindName($0))) }.map(\.rawValue)
            return ("\(field == .status ? "status" : "kind") IN \(SQL.list(codes.map(String.init)))", true)
        case .name, .service:
            let column = field == .name ? "name" : "service"
            switch op {
            case .exists: return ("1", true)
            case .notExists: return ("0", true)
            default:
                guard let p = ValueColumn.str.predicate(op, literal, on: column) else { return ("1", false) }
                return (p, true)
            }
        case .duration:
            switch op {
            case .exists: return ("1", true)
            case .notExists: return ("0", true)
            default:
                guard let p = ValueColumn.int.predicate(op, literal, on: "toInt64(duration)") else { return ("1", false) }
                return (p, true)
            }
        case .attribute(let scope, let key):
            let origins: [Schema.AttributeOrigin] =
                switch scope {
                case .span: [.span]
                case .resource: [.resource]
                case .event: [.event]
                case .any: [.span, .resource, .event]
                }
            let columns: [ValueColumn] = [.str, .int, .float, .bool]
            switch op {
            case .exists, .notExists:
                let present = (columns + [.other]).map { attribute($0, key, origins: origins, "1") }.joined(separator: " OR ")
                return (op == .exists ? "(\(present))" : "NOT (\(present))", true)
            default:
                var any = [String]()
                var exact = true
                for c in columns {
                    if let p = c.predicate(op, literal, on: "v") {
                        if p != "0" { any.append(attribute(c, key, origins: origins, p)) }
                    } else {
                        // Widened: any value of the key in this column may match.
                        exact = false
                        any.append(attribute(c, key, origins: origins, "1"))
                    }
                }
                return (any.isEmpty ? "0" : "(" + any.joined(separator: " OR ") + ")", exact)
            }
        }
    }

    /// Whether some attribute of `key` from `origins` in `column` meets `predicate` (SQL over `v`).
    static func attribute(_ column: ValueColumn, _ key: String, origins: [Schema.AttributeOrigin], _ predicate: String) -> String {
        let c = column.rawValue
        let origin = origins.count == 5 ? "" : "s IN \(SQL.list(origins.map { String($0.rawValue) })) AND "
        return "arrayExists((s, k, v) -> \(origin)k = \(SQL.string(key)) AND \(predicate), \(c).scope, \(c).key, \(c).value)"
    }

    /// The typed attribute arrays, and what a comparison means on each: ``ValuePredicate``'s rules.
    enum ValueColumn: String {
        case str = "attr_str", int = "attr_int", float = "attr_float", bool = "attr_bool", other = "attr_other"

        /// SQL over the value expression `v` (a lambda parameter or a column) for values of this
        /// column meeting the comparison; "0" when none can; nil when SQL cannot decide it as the
        /// engine does.
        func predicate(_ op: FilterOp, _ literal: FilterValue?, on v: String) -> String? {
            switch op {
            case .exists: return "1"
            case .notExists: return "0"
            case .eq: return equal(literal, on: v)
            case .ne: return equal(literal, on: v).map { $0 == "0" ? "1" : "NOT (\($0))" }
            case .regex, .notRegex: return nil
            case .lt, .le, .gt, .ge:
                guard let literal else { return "0" }
                switch (self, literal.number) {
                case (.int, let n?), (.float, let n?): return "\(v) \(op.rawValue) \(SQL.number(n))"
                case (.str, nil): if case .string = literal { return nil } else { return "0" }
                default: return "0"
                }
            }
        }

        /// Values equal to `literal`: numbers by value, booleans as booleans, and otherwise a
        /// value whose display form is the literal's.
        func equal(_ literal: FilterValue?, on v: String) -> String? {
            guard let literal else { return "0" }
            let text = literal.displayString
            switch self {
            case .str, .other: return "\(v) = \(SQL.string(text))"
            case .int:
                if let n = literal.number { return "\(v) = \(SQL.number(n))" }
                if case .string(let s) = literal, let n = Int64(s), String(n) == s { return "\(v) = \(n)" }
                return "0"
            case .float:
                if let n = literal.number { return n.isNaN ? nil : "\(v) = \(SQL.number(n))" }
                if case .string(let s) = literal, let d = Double(s), AttributeValue.format(d) == s {
                    return d.isNaN ? nil : "\(v) = \(SQL.number(d))"
                }
                return "0"
            case .bool:
                if case .bool(let b) = literal { return "\(v) = \(b ? 1 : 0)" }
                if case .string(let s) = literal, s == "true" || s == "false" { return "\(v) = \(s == "true" ? 1 : 0)" }
                return "0"
            }
        }
    }
}
