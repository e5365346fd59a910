public import AriadneModel

/// Where an attribute condition looks: the span's own attributes, its resource's, its events',
/// or all three.
public enum AttributeScope: String, Sendable, Hashable, CaseIterable {
    case span, resource, event, any
}

/// A comparison in a span filter.
public enum FilterOp: String, Sendable, Hashable {
    case eq = "="
    case ne = "!="
    case regex = "=~"
    case notRegex = "!~"
    case lt = "<"
    case le = "<="
    case gt = ">"
    case ge = ">="
    case exists = "!= nil"
    case notExists = "= nil"
}

/// A literal in a span filter.
public enum FilterValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)

    public var displayString: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return AttributeValue.format(d)
        case .bool(let b): return b ? "true" : "false"
        }
    }

    public var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// What a condition tests.
public enum SpanField: Sendable, Hashable {
    case attribute(AttributeScope, String)
    /// The span name (operation).
    case name
    /// The service name of the span's resource (`unknown_service` when it has none).
    case service
    /// `unset`, `ok` or `error`.
    case status
    /// `unspecified`, `internal`, `server`, `client`, `producer` or `consumer`.
    case kind
    /// Span duration in nanoseconds.
    case duration
}

/// Conditions on one span, combined with and/or. A span matches `and` when it meets every
/// part, `or` when it meets one. An attribute condition on events holds when one event meets it.
public indirect enum SpanFilter: Sendable, Hashable {
    case and([SpanFilter])
    case or([SpanFilter])
    case compare(SpanField, FilterOp, FilterValue?)

    /// Every regular expression the filter uses, so that a matcher compiles each once.
    var patterns: [String] {
        switch self {
        case .and(let parts), .or(let parts): return parts.flatMap(\.patterns)
        case .compare(_, let op, .string(let p)) where op == .regex || op == .notRegex: return [p]
        case .compare: return []
        }
    }
}

/// How search results are ordered.
public enum TraceOrder: String, Sendable, Hashable {
    /// By trace start, newest first.
    case mostRecent
    /// By trace duration (first span start to last span end), longest first.
    case longest
}

/// Evaluates one comparison against one attribute or intrinsic value. Shared by span matching and
/// by the engine's term index, so that both answer alike.
public struct ValuePredicate: Sendable {
    public let op: FilterOp
    public let literal: FilterValue?
    let regex: CompiledRegex?

    public init(op: FilterOp, literal: FilterValue?) throws {
        self.op = op
        self.literal = literal
        if op == .regex || op == .notRegex {
            guard case .string(let p) = literal else { throw FilterError("a regular expression needs a string pattern") }
            do { regex = try CompiledRegex(p) } catch { throw FilterError("invalid regular expression \"\(p)\": \(error)") }
        } else {
            regex = nil
        }
    }

    /// Whether a present value meets the comparison (existence is decided by the caller).
    public func matches(_ value: FilterValue) -> Bool {
        switch op {
        case .exists: return true
        case .notExists: return false
        case .eq: return equal(value)
        case .ne: return !equal(value)
        case .regex: return regex!.matches(value.displayString)
        case .notRegex: return !regex!.matches(value.displayString)
        case .lt, .le, .gt, .ge:
            guard let literal else { return false }
            let order: Int
            if let a = value.number, let b = literal.number {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else if case .string(let a) = value, case .string(let b) = literal {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else {
                return false
            }
            switch op {
            case .lt: return order < 0
            case .le: return order <= 0
            case .gt: return order > 0
            default: return order >= 0
            }
        }
    }

    private func equal(_ value: FilterValue) -> Bool {
        guard let literal else { return false }
        if let a = value.number, let b = literal.number { return a == b }
        if case .bool(let a) = value, case .bool(let b) = literal { return a == b }
        // A string literal matches any value whose display form it is ("500" matches the int 500),
        // as Jaeger's tag search does.
        return value.displayString == literal.displayString
    }
}

public struct FilterError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension SpanBatch {
    /// The filter form of a stored value; nil for bytes, arrays and maps, which filters do not compare.
    public func filterValue(_ value: Value) -> FilterValue? {
        switch value {
        case .string(let r): return .string(string(r))
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .bool(b)
        case .empty, .bytes, .array, .kvlist: return nil
        }
    }

    /// Whether `test` holds for a value of attribute `key` of span `i` in `scope` (its own
    /// attributes, its resource's, or one of its events'); stops at the first that does.
    public func anyAttribute(ofSpan i: Int, scope: AttributeScope, key: String, _ test: (Value) -> Bool) -> Bool {
        func inPool(_ pool: [Attribute], _ range: PoolRange) -> Bool {
            pool[range.indices].contains { equals($0.key, key) && test($0.value) }
        }
        if scope == .span || scope == .any, inPool(spanAttributes, attributeRanges[i]) { return true }
        if scope == .resource || scope == .any,
            inPool(attributes, resources[Int(scopes[Int(scopeIndices[i])].resource)].attributes)
        {
            return true
        }
        if scope == .event || scope == .any {
            return events[eventRanges[i].indices].contains { inPool(attributes, $0.attributes) }
        }
        return false
    }

    /// `anyAttribute` over everything Jaeger's tag search looks at: the span's, its resource's,
    /// its scope's, its events' and its links' attributes.
    public func anyTagAttribute(ofSpan i: Int, key: String, _ test: (Value) -> Bool) -> Bool {
        if anyAttribute(ofSpan: i, scope: .any, key: key, test) { return true }
        func inPool(_ range: PoolRange) -> Bool { attributes[range.indices].contains { equals($0.key, key) && test($0.value) } }
        if inPool(scopes[Int(scopeIndices[i])].attributes) { return true }
        return links[linkRanges[i].indices].contains { inPool($0.attributes) }
    }

    /// The filter form of a span's status.
    public static func statusName(_ code: StatusCode) -> String {
        code == .error ? "error" : (code == .ok ? "ok" : "unset")
    }

    public static func kindName(_ kind: SpanKind) -> String {
        kind == .unspecified ? "unspecified" : kind.jaegerName
    }
}

/// A ``SpanFilter`` ready to run: regular expressions compiled, comparisons prepared.
public struct CompiledFilter: Sendable {
    public indirect enum Node: Sendable {
        case and([Node])
        case or([Node])
        case compare(SpanField, ValuePredicate)
    }

    public let root: Node

    public init(_ filter: SpanFilter) throws {
        func compile(_ f: SpanFilter) throws -> Node {
            switch f {
            case .and(let parts): return .and(try parts.map(compile))
            case .or(let parts): return .or(try parts.map(compile))
            case .compare(let field, let op, let value): return .compare(field, try ValuePredicate(op: op, literal: value))
            }
        }
        root = try compile(filter)
    }

    /// Whether span `i` of `batch` meets the filter.
    public func matches(_ batch: SpanBatch, _ i: Int) -> Bool {
        eval(root, batch, i)
    }

    private func eval(_ node: Node, _ batch: SpanBatch, _ i: Int) -> Bool {
        switch node {
        case .and(let parts): return parts.allSatisfy { eval($0, batch, i) }
        case .or(let parts): return parts.contains { eval($0, batch, i) }
        case .compare(let field, let p): return Self.compare(field, p, batch, i)
        }
    }

    static func compare(_ field: SpanField, _ p: ValuePredicate, _ batch: SpanBatch, _ i: Int) -> Bool {
        switch field {
        case .name: return p.matches(.string(batch.string(batch.names[i])))
        case .service: return p.matches(.string(batch.serviceName(ofSpan: i)))
        case .status: return p.matches(.string(SpanBatch.statusName(batch.statusCodes[i])))
        case .kind: return p.matches(.string(SpanBatch.kindName(batch.kinds[i])))
        case .duration: return p.matches(.int(Int64(clamping: batch.duration(ofSpan: i))))
        case .attribute(let scope, let key):
            switch p.op {
            case .notExists: return !batch.anyAttribute(ofSpan: i, scope: scope, key: key) { _ in true }
            case .exists: return batch.anyAttribute(ofSpan: i, scope: scope, key: key) { _ in true }
            default: return batch.anyAttribute(ofSpan: i, scope: scope, key: key) { batch.filterValue($0).map(p.matches) ?? false }
            }
        }
    }
}
