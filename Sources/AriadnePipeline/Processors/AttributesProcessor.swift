public import AriadneModel

/// Inserts, updates, upserts, deletes, hashes or extracts attributes of spans, resources or
/// events, on spans whose service and name meet the conditions — the OpenTelemetry Collector's
/// attributes and resource processors in one.
public struct AttributesProcessor: SpanConsumer {
    public enum Target: String, Sendable, CaseIterable {
        case span, resource, event
    }

    public enum Action: Sendable {
        /// Add when absent.
        case insert(AttributeValue)
        /// Replace when present.
        case update(AttributeValue)
        /// Set either way.
        case upsert(AttributeValue)
        /// Copy another attribute's value (upsert), when that one is present.
        case copy(from: String)
        case delete
        /// Replace the value by the hex SHA-256 of its text.
        case hash
        /// Match a regular expression on the value; each named group becomes an attribute (upsert).
        case extract(CompiledRegex)
    }

    public struct Rule: Sendable {
        public var key: String
        public var action: Action

        public init(key: String, action: Action) {
            self.key = key
            self.action = action
        }
    }

    public struct Settings: Sendable {
        public var target: Target = .span
        /// Only spans of these services (empty: every service).
        public var services: Set<String> = []
        /// Only spans whose name wholly matches one of these (empty: every name).
        public var spanNames: [CompiledRegex] = []
        public var rules: [Rule] = []

        public init() {}
    }

    public let settings: Settings
    public let next: any SpanConsumer

    public init(_ settings: Settings, next: any SpanConsumer) {
        self.settings = settings
        self.next = next
    }

    public func consume(_ batch: SpanBatch) async throws {
        var b = batch
        apply(to: &b)
        try await next.consume(b)
    }

    public func apply(to batch: inout SpanBatch) {
        let services = batch.serviceNamesByScope()
        var resourcesDone = Set<UInt32>()
        for i in 0..<batch.count {
            let scope = Int(batch.scopeIndices[i])
            if !settings.services.isEmpty, !settings.services.contains(services[scope]) { continue }
            if !settings.spanNames.isEmpty {
                let name = batch.string(batch.names[i])
                if !settings.spanNames.contains(where: { $0.matches(name) }) { continue }
            }
            switch settings.target {
            case .span:
                batch.attributeRanges[i] = rewrite(\.spanAttributes, batch.attributeRanges[i], in: &batch)
            case .event:
                for e in batch.eventRanges[i].indices {
                    batch.events[e].attributes = rewrite(\.attributes, batch.events[e].attributes, in: &batch)
                }
            case .resource:
                let r = batch.scopes[scope].resource
                if resourcesDone.insert(r).inserted {
                    batch.resources[Int(r)].attributes = rewrite(\.attributes, batch.resources[Int(r)].attributes, in: &batch)
                }
            }
        }
    }

    /// The attributes of `range` after the rules; written back in place when they fit, at the end
    /// of the pool when they grew.
    func rewrite(_ pool: WritableKeyPath<SpanBatch, [Attribute]>, _ range: PoolRange, in batch: inout SpanBatch) -> PoolRange {
        var attrs = Array(batch[keyPath: pool][range.indices])
        var changed = false
        func index(_ key: String) -> Int? { attrs.firstIndex { batch.equals($0.key, key) } }
        func set(_ key: String, _ value: Value, insert: Bool, update: Bool) {
            if let k = index(key) {
                if update { attrs[k].value = value; changed = true }
            } else if insert {
                attrs.append(Attribute(key: batch.intern(key), value: value))
                changed = true
            }
        }
        for rule in settings.rules {
            switch rule.action {
            case .insert(let v): if index(rule.key) == nil { set(rule.key, batch.store(v), insert: true, update: false) }
            case .update(let v): if index(rule.key) != nil { set(rule.key, batch.store(v), insert: false, update: true) }
            case .upsert(let v): set(rule.key, batch.store(v), insert: true, update: true)
            case .copy(let from):
                if let f = index(from) { set(rule.key, attrs[f].value, insert: true, update: true) }
            case .delete:
                if let k = index(rule.key) {
                    attrs.remove(at: k)
                    changed = true
                }
            case .hash:
                if let k = index(rule.key) {
                    let text = batch.attributeValue(attrs[k].value).displayString
                    let digest = Hex.string(bytes: SHA256.hash(Array(text.utf8)))
                    attrs[k].value = .string(batch.intern(digest))
                    changed = true
                }
            case .extract(let regex):
                guard let k = index(rule.key) else { continue }
                for (name, value) in regex.namedGroups(in: batch.attributeValue(attrs[k].value).displayString) {
                    set(name, .string(batch.intern(String(value))), insert: true, update: true)
                }
            }
        }
        guard changed else { return range }
        if attrs.count <= Int(range.count) {
            for (k, a) in attrs.enumerated() { batch[keyPath: pool][Int(range.start) + k] = a }
            return PoolRange(start: range.start, count: UInt32(attrs.count))
        }
        let start = batch[keyPath: pool].count
        batch[keyPath: pool].append(contentsOf: attrs)
        return PoolRange(start: UInt32(start), count: UInt32(attrs.count))
    }
}
