public import AriadneModel

/// What redaction removes and how. Applied to every string a span carries — its name, status
/// message, attributes, resource attributes, event names and attributes, link attributes — before
/// anything is stored or exported.
public struct RedactionPolicy: Sendable {
    public enum Mode: Sendable, Equatable {
        /// `[REDACTED:email]`.
        case mask
        /// `[email:1f2e3d4c5b6a7988]`: the first 8 bytes of HMAC-SHA-256 under the key, so that equal
        /// values stay equal (joinable, countable) without being readable.
        case hash(key: [UInt8])
    }

    public var detectors: Set<PIIKind> = Set(PIIKind.allCases)
    public var mode: Mode = .mask
    /// Keys never examined (exact, case-insensitive).
    public var allowedKeys: Set<String> = ["service.name", "service.namespace", "service.version", "service.instance.id"]
    /// Keys whose whole value is replaced: `*` matches any run of characters; case-insensitive.
    public var blockedKeys: [String] = [
        "*password*", "*passwd*", "*secret*", "*authorization*", "*cookie*", "*api_key*", "*apikey*", "*api-key*",
        "*access_token*", "*refresh_token*", "*private_key*",
    ]
    /// Keys holding URLs: query-string values and user info become `REDACTED` (OpenTelemetry's
    /// semantic conventions for url.full).
    public var urlKeys: Set<String> = ["url.full", "http.url", "url.query", "http.target", "url.original"]
    /// Keys holding SQL: string and number literals become `?`.
    public var sqlKeys: Set<String> = ["db.statement", "db.query.text"]
    /// The span (and resource) attribute that counts what was redacted in it; empty for none.
    public var countKey = "ariadne.redacted.count"

    public init() {}
}

/// Applies a ``RedactionPolicy`` to a batch in place: changed strings are written to the batch's
/// arena and their references swapped, so untouched data is not copied.
public struct Redactor: Sendable {
    public let policy: RedactionPolicy
    let blocked: [[UInt8]]
    let allowed: Set<String>
    let detectorOrder: [PIIKind]

    /// What a key's policy is, decided once per distinct key and batch.
    enum KeyClass {
        case allowed, blocked, url, sql, plain
    }

    /// Key decisions of one batch: keys repeat on every span, globs are not cheap.
    struct Memo {
        var classes: [String: KeyClass] = [:]
    }

    public init(_ policy: RedactionPolicy) {
        self.policy = policy
        self.blocked = policy.blockedKeys.map { Array($0.lowercased().utf8) }
        self.allowed = Set(policy.allowedKeys.map { $0.lowercased() })
        self.detectorOrder = policy.detectors.sorted()
    }

    func classify(_ key: String) -> KeyClass {
        let lower = key.lowercased()
        if allowed.contains(lower) { return .allowed }
        let k = Array(lower.utf8)
        if blocked.contains(where: { Glob.matches($0[...], k[...]) }) { return .blocked }
        if policy.sqlKeys.contains(key) { return .sql }
        if policy.urlKeys.contains(key) { return .url }
        return .plain
    }

    func classify(_ key: String, _ memo: inout Memo) -> KeyClass {
        if let c = memo.classes[key] { return c }
        let c = classify(key)
        memo.classes[key] = c
        return c
    }

    /// Redacts `batch`; returns how many values or parts of values were replaced.
    @discardableResult
    public func redact(_ batch: inout SpanBatch) -> Int {
        var memo = Memo()
        var total = 0
        for r in batch.resources.indices {
            let n = redactAttributes(\.attributes, batch.resources[r].attributes, &memo, in: &batch)
            if n > 0 {
                batch.resources[r].attributes = appendCount(n, \.attributes, batch.resources[r].attributes, in: &batch)
            }
            total += n
        }
        for s in batch.scopes.indices { total += redactAttributes(\.attributes, batch.scopes[s].attributes, &memo, in: &batch) }
        for i in 0..<batch.count {
            var n = 0
            n += redactString(\.names, i, in: &batch)
            n += redactString(\.statusMessages, i, in: &batch)
            n += redactAttributes(\.spanAttributes, batch.attributeRanges[i], &memo, in: &batch)
            for e in batch.eventRanges[i].indices {
                let (ref, c) = scrub(batch.events[e].name, keyClass: .plain, in: &batch)
                batch.events[e].name = ref
                n += c + redactAttributes(\.attributes, batch.events[e].attributes, &memo, in: &batch)
            }
            for l in batch.linkRanges[i].indices { n += redactAttributes(\.attributes, batch.links[l].attributes, &memo, in: &batch) }
            if n > 0 { batch.attributeRanges[i] = appendCount(n, \.spanAttributes, batch.attributeRanges[i], in: &batch) }
            total += n
        }
        return total
    }

    func redactString(_ column: WritableKeyPath<SpanBatch, [StrRef]>, _ i: Int, in batch: inout SpanBatch) -> Int {
        let (ref, n) = scrub(batch[keyPath: column][i], keyClass: .plain, in: &batch)
        if n > 0 { batch[keyPath: column][i] = ref }
        return n
    }

    func redactAttributes(
        _ pool: WritableKeyPath<SpanBatch, [Attribute]>, _ range: PoolRange, _ memo: inout Memo, in batch: inout SpanBatch
    ) -> Int {
        var n = 0
        for a in range.indices {
            let attribute = batch[keyPath: pool][a]
            let keyClass = classify(batch.string(attribute.key), &memo)
            if keyClass == .allowed { continue }
            let (value, c) = scrub(attribute.value, keyClass, &memo, in: &batch)
            if c > 0 { batch[keyPath: pool][a].value = value }
            n += c
        }
        return n
    }

    /// The range with a count attribute added: the entries move to the end of the pool (ranges are
    /// contiguous), leaving the old slots unused.
    func appendCount(_ n: Int, _ pool: WritableKeyPath<SpanBatch, [Attribute]>, _ range: PoolRange, in batch: inout SpanBatch) -> PoolRange {
        guard !policy.countKey.isEmpty else { return range }
        let start = batch[keyPath: pool].count
        let existing = Array(batch[keyPath: pool][range.indices])
        let key = batch.intern(policy.countKey)
        batch[keyPath: pool].append(contentsOf: existing.filter { !batch.equals($0.key, policy.countKey) })
        batch[keyPath: pool].append(Attribute(key: key, value: .int(Int64(n))))
        return PoolRange(start: UInt32(start), count: UInt32(batch[keyPath: pool].count - start))
    }

    func scrub(_ value: Value, _ keyClass: KeyClass, _ memo: inout Memo, in batch: inout SpanBatch) -> (Value, Int) {
        switch value {
        case .string(let ref):
            let (out, n) = scrub(ref, keyClass: keyClass, in: &batch)
            return (.string(out), n)
        case .array(let range):
            var n = 0
            for j in range.indices {
                let (v, c) = scrub(batch.arrayValues[j], keyClass, &memo, in: &batch)
                if c > 0 { batch.arrayValues[j] = v }
                n += c
            }
            return (value, n)
        case .kvlist(let range):
            var n = 0
            for j in range.indices {
                let entry = batch.kvlistEntries[j]
                let (v, c) = scrub(entry.value, classify(batch.string(entry.key), &memo), &memo, in: &batch)
                if c > 0 { batch.kvlistEntries[j].value = v }
                n += c
            }
            return (value, n)
        case .empty, .bool, .int, .double, .bytes:
            // Numbers and bytes under a blocked key are replaced by a string.
            if keyClass == .blocked, value != .empty {
                return (.string(batch.intern(replacement(for: "value", Array(batch.attributeValue(value).displayString.utf8)))), 1)
            }
            return (value, 0)
        }
    }

    func scrub(_ ref: StrRef, keyClass: KeyClass, in batch: inout SpanBatch) -> (StrRef, Int) {
        guard ref.count > 0, keyClass != .allowed else { return (ref, 0) }
        // Most strings hold nothing a scanner could match: decide that without copying them.
        if keyClass == .plain, !batch.withBytes(ref, { PIIScan.mayContainPII($0) }) { return (ref, 0) }
        guard let (out, n) = scrub(batch.bytes(ref), keyClass) else { return (ref, 0) }
        return (batch.appendBytes(out), n)
    }

    /// The redacted form of `text` under attribute `key` (nil: a name or message), or nil when
    /// nothing in it is sensitive.
    public func scrub(_ text: [UInt8], key: String?) -> ([UInt8], Int)? {
        scrub(text, key.map(classify) ?? .plain)
    }

    func scrub(_ text: [UInt8], _ keyClass: KeyClass) -> ([UInt8], Int)? {
        switch keyClass {
        case .allowed: return nil
        case .blocked: return (Array(replacement(for: "value", text).utf8), 1)
        case .plain, .url, .sql: break
        }
        var s = text
        var n = 0
        if keyClass == .sql, let (sql, c) = SQLSanitizer.sanitize(s) {
            s = sql
            n += c
        }
        if keyClass == .url, let (url, c) = URLSanitizer.sanitize(s) {
            s = url
            n += c
        }
        if s.withUnsafeBytes({ PIIScan.mayContainPII($0) }) {
            var found = [(range: Range<Int>, kind: PIIKind)]()
            for kind in detectorOrder { found += kind.find(in: s).map { ($0, kind) } }
            if !found.isEmpty {
                // Earliest first, longest first at one start; a later match inside an earlier one is dropped.
                found.sort {
                    $0.range.lowerBound != $1.range.lowerBound ? $0.range.lowerBound < $1.range.lowerBound : $0.range.count > $1.range.count
                }
                var out = [UInt8]()
                var at = 0
                for f in found where f.range.lowerBound >= at {
                    out += s[at..<f.range.lowerBound]
                    out += Array(replacement(for: f.kind.rawValue, Array(s[f.range])).utf8)
                    at = f.range.upperBound
                    n += 1
                }
                out += s[at...]
                s = out
            }
        }
        return n > 0 ? (s, n) : nil
    }

    func replacement(for label: String, _ original: [UInt8]) -> String {
        switch policy.mode {
        case .mask: return "[REDACTED:\(label)]"
        case .hash(let key):
            let digest = SHA256.hmac(key: key, original).prefix(8)
            return "[\(label):" + Hex.string(bytes: digest) + "]"
        }
    }

}

/// `*` matches any run of characters; everything else itself.
enum Glob {
    static func matches(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        guard let p = pattern.first else { return text.isEmpty }
        if p == 0x2A {
            let rest = pattern.dropFirst()
            if rest.isEmpty { return true }
            var t = text
            while true {
                if matches(rest, t) { return true }
                if t.isEmpty { return false }
                t = t.dropFirst()
            }
        }
        guard let c = text.first, c == p else { return false }
        return matches(pattern.dropFirst(), text.dropFirst())
    }
}

/// String and number literals in SQL become `?`, as in OpenTelemetry's db.query.text guidance.
enum SQLSanitizer {
    static func sanitize(_ s: [UInt8]) -> ([UInt8], Int)? {
        var out = [UInt8]()
        out.reserveCapacity(s.count)
        var n = 0
        var i = 0
        func identifierByte(_ b: UInt8) -> Bool { PIIScan.isAlnum(b) || b == 0x5F || b == 0x24 || b == 0x2E }
        while i < s.count {
            let b = s[i]
            if b == 0x27 {  // 'string', '' escapes a quote
                var j = i + 1
                while j < s.count {
                    if s[j] == 0x27 {
                        if j + 1 < s.count && s[j + 1] == 0x27 { j += 2; continue }
                        break
                    }
                    j += 1
                }
                out.append(0x3F)
                n += 1
                i = min(j + 1, s.count)
            } else if b == 0x22 || b == 0x60 {  // "identifier", `identifier`: kept
                var j = i + 1
                while j < s.count, s[j] != b { j += 1 }
                out += s[i..<min(j + 1, s.count)]
                i = min(j + 1, s.count)
            } else if PIIScan.isDigit(b), i == 0 || !identifierByte(s[i - 1]) {
                var j = i
                while j < s.count, PIIScan.isDigit(s[j]) || s[j] == 0x2E || (s[j] | 0x20) == 0x65 { j += 1 }
                out.append(0x3F)
                n += 1
                i = j
            } else {
                out.append(b)
                i += 1
            }
        }
        return n > 0 ? (out, n) : nil
    }
}

/// Query-string values and user info in a URL become `REDACTED`.
enum URLSanitizer {
    static let redacted = Array("REDACTED".utf8)

    static func sanitize(_ s: [UInt8]) -> ([UInt8], Int)? {
        var out = s
        var n = 0
        // scheme://user:password@host → scheme://REDACTED:REDACTED@host
        if let scheme = PIIScan.firstIndex(out, "://", from: 0) {
            let authorityStart = scheme + 3
            let authorityEnd = out[authorityStart...].firstIndex { $0 == 0x2F || $0 == 0x3F || $0 == 0x23 } ?? out.count
            if let at = out[authorityStart..<authorityEnd].lastIndex(of: 0x40) {
                out.replaceSubrange(authorityStart..<at, with: redacted + [0x3A] + redacted)
                n += 1
            }
        }
        guard let q = out.firstIndex(of: 0x3F) else { return n > 0 ? (out, n) : nil }
        let end = out[q...].firstIndex(of: 0x23) ?? out.count
        var query = [UInt8]()
        for (k, pair) in out[(q + 1)..<end].split(separator: 0x26, omittingEmptySubsequences: false).enumerated() {
            if k > 0 { query.append(0x26) }
            if let eq = pair.firstIndex(of: 0x3D), eq + 1 < pair.endIndex {
                query += pair[pair.startIndex...eq] + redacted
                n += 1
            } else {
                query += pair
            }
        }
        out.replaceSubrange((q + 1)..<end, with: query)
        return n > 0 ? (out, n) : nil
    }
}

/// A processor that redacts every batch before passing it on.
public struct RedactionProcessor: SpanConsumer {
    public let redactor: Redactor
    public let next: any SpanConsumer

    let metrics: PipelineMetrics

    public init(_ policy: RedactionPolicy, next: any SpanConsumer, metrics: PipelineMetrics = PipelineMetrics()) {
        self.redactor = Redactor(policy)
        self.next = next
        self.metrics = metrics
        metrics.describe("ariadne_redaction_values_total", "Values or parts of values the redaction processor replaced.")
    }

    public func consume(_ batch: SpanBatch) async throws {
        var b = batch
        let n = redactor.redact(&b)
        if n > 0 { metrics.add("ariadne_redaction_values_total", n) }
        try await next.consume(b)
    }
}
