public import AriadneModel
import Yams

/// A mistake in a configuration file, with where it is.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Every mistake found in one file (all are reported, not only the first).
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// One configured processor, by the name the file gives it (`type` or `type/label`).
public struct ProcessorSpec: Sendable {
    public enum Kind: Sendable {
        case memoryLimiter(MemoryLimiter.Settings)
        case attributes(AttributesProcessor.Settings)
        case redaction(RedactionPolicy)
    }

    public var name: String
    public var kind: Kind
}

/// The processors of the traces pipeline, in order, from the YAML configuration file:
///
/// ```yaml
/// processors:
///   memory_limiter: {limit_mib: 1024, spike_limit_mib: 256}
///   attributes/tenant:
///     include: {services: [checkout], span_names: ["GET .*"]}
///     actions:
///       - {key: tenant, action: insert, value: acme}
///       - {key: user.id, action: hash}
///   redaction: {mode: hash, hash_key_env: ARIADNE_REDACTION_KEY}
/// service:
///   pipelines:
///     traces:
///       processors: [memory_limiter, attributes/tenant, redaction]
/// ```
public struct PipelineConfiguration: Sendable {
    public var processors: [ProcessorSpec] = []

    public init(processors: [ProcessorSpec] = []) { self.processors = processors }

    /// The consumer that runs every processor in order, then `next`.
    public func build(next: any SpanConsumer) -> any SpanConsumer {
        processors.reversed().reduce(next) { next, spec in
            switch spec.kind {
            case .memoryLimiter(let s): MemoryLimiter(s, next: next)
            case .attributes(let s): AttributesProcessor(s, next: next)
            case .redaction(let p): RedactionProcessor(p, next: next)
            }
        }
    }

    /// Reads a configuration file's text; `environment` resolves `hash_key_env`.
    public static func parse(_ yaml: String, environment: [String: String] = [:]) throws(ConfigErrors) -> PipelineConfiguration {
        var r = ConfigReader(environment: environment)
        let config = r.read(yaml)
        if !r.errors.isEmpty { throw ConfigErrors(errors: r.errors) }
        return config
    }
}

/// Walks the YAML tree, collecting every error with its line instead of stopping at the first.
struct ConfigReader {
    var errors: [ConfigError] = []
    let environment: [String: String]

    init(environment: [String: String]) { self.environment = environment }

    mutating func fail(_ node: Node?, _ message: String) {
        let mark = node?.mark
        errors.append(ConfigError(line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    mutating func read(_ yaml: String) -> PipelineConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            errors.append(Self.syntaxError(e))
            return PipelineConfiguration()
        } catch {
            errors.append(ConfigError(line: 1, column: 1, message: "\(error)"))
            return PipelineConfiguration()
        }
        guard let root else { return PipelineConfiguration() }  // an empty file: every default
        guard let top = mapping(root, "the configuration") else { return PipelineConfiguration() }
        var defined = [String: (Node, ProcessorSpec)]()
        var invalid = Set<String>()  // defined with mistakes, already reported
        var order: [(String, Node)]? = nil
        for (k, v) in top {
            switch k.string ?? "" {
            case "processors":
                guard let m = mapping(v, "processors") else { continue }
                for (name, body) in m {
                    guard let n = name.string else { fail(name, "a processor name must be a string"); continue }
                    if let spec = processor(n, body, at: name) { defined[n] = (name, spec) } else { invalid.insert(n) }
                }
            case "service":
                guard let service = mapping(v, "service") else { continue }
                for (sk, sv) in service {
                    guard sk.string == "pipelines" else { fail(sk, "unknown key '\(sk.string ?? "")' in service: expected pipelines"); continue }
                    guard let pipelines = mapping(sv, "service.pipelines") else { continue }
                    for (pk, pv) in pipelines {
                        guard pk.string == "traces" else { fail(pk, "unknown pipeline '\(pk.string ?? "")': Ariadne has one, traces"); continue }
                        guard let traces = mapping(pv, "the traces pipeline") else { continue }
                        for (tk, tv) in traces {
                            switch tk.string ?? "" {
                            case "processors": order = strings(tv, "processors").map { names in zip(names, tv.sequence.map(Array.init) ?? []).map { ($0, $1) } }
                            case "receivers", "exporters":
                                fail(tk, "'\(tk.string!)' is not configurable yet: receivers are set with serve's port flags and spans go to the store")
                            default: fail(tk, "unknown key '\(tk.string ?? "")' in the traces pipeline: expected processors")
                            }
                        }
                    }
                }
            case "receivers", "exporters":
                fail(k, "'\(k.string!)' is not configurable yet: receivers are set with serve's port flags and spans go to the store")
            default:
                fail(k, "unknown section '\(k.string ?? "")': expected processors or service")
            }
        }
        var config = PipelineConfiguration()
        if let order {
            var seen = Set<String>()
            for (name, node) in order {
                guard let (_, spec) = defined[name] else {
                    if !invalid.contains(name) { fail(node, "processor '\(name)' is not defined under processors") }
                    continue
                }
                guard seen.insert(name).inserted else { fail(node, "processor '\(name)' is listed twice"); continue }
                config.processors.append(spec)
            }
            for (name, (node, _)) in defined where !seen.contains(name) {
                fail(node, "processor '\(name)' is defined but not used in service.pipelines.traces.processors")
            }
        } else {
            // Without a pipeline, the processors run in the order the file defines them.
            config.processors = defined.values.sorted { ($0.0.mark?.line ?? 0) < ($1.0.mark?.line ?? 0) }.map(\.1)
        }
        return config
    }

    static func syntaxError(_ e: YamlError) -> ConfigError {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigError(line: mark.line, column: mark.column, message: "YAML: \(problem)")
        default:
            return ConfigError(line: 1, column: 1, message: "YAML: \(e)")
        }
    }

    // MARK: processors

    mutating func processor(_ name: String, _ body: Node, at nameNode: Node) -> ProcessorSpec? {
        let type = String(name.split(separator: "/", maxSplits: 1).first ?? "")
        let fields = body.null != nil ? Node.Mapping([]) : mapping(body, "processor '\(name)'")
        guard let fields else { return nil }
        switch type {
        case "memory_limiter":
            guard let s = memoryLimiter(fields, at: nameNode) else { return nil }
            return ProcessorSpec(name: name, kind: .memoryLimiter(s))
        case "attributes", "resource":
            guard let s = attributes(fields, defaultTarget: type == "resource" ? .resource : .span, processor: name, at: nameNode) else {
                return nil
            }
            return ProcessorSpec(name: name, kind: .attributes(s))
        case "redaction":
            guard let p = redaction(fields, processor: name) else { return nil }
            return ProcessorSpec(name: name, kind: .redaction(p))
        default:
            fail(nameNode, "unknown processor type '\(type)': expected memory_limiter, attributes, resource or redaction")
            return nil
        }
    }

    mutating func memoryLimiter(_ m: Node.Mapping, at nameNode: Node) -> MemoryLimiter.Settings? {
        var limit: Int?
        var limitGiven = false
        var spike: Int?
        var interval: Duration = .milliseconds(100)
        for (k, v) in m {
            switch k.string ?? "" {
            case "limit_mib":
                limit = positiveInt(v, "limit_mib")
                limitGiven = true
            case "spike_limit_mib": spike = positiveInt(v, "spike_limit_mib")
            case "check_interval": if let d = duration(v, "check_interval") { interval = d }
            default: unknownKey(k, in: "memory_limiter", expected: "limit_mib, spike_limit_mib, check_interval")
            }
        }
        guard let limit else {
            if !limitGiven { fail(nameNode, "memory_limiter needs limit_mib") }
            return nil
        }
        if let spike, spike >= limit { fail(nameNode, "spike_limit_mib (\(spike)) must be less than limit_mib (\(limit))"); return nil }
        return MemoryLimiter.Settings(limitBytes: limit << 20, spikeBytes: spike.map { $0 << 20 }, checkInterval: interval)
    }

    mutating func attributes(
        _ m: Node.Mapping, defaultTarget: AttributesProcessor.Target, processor: String, at nameNode: Node
    ) -> AttributesProcessor.Settings? {
        var s = AttributesProcessor.Settings()
        s.target = defaultTarget
        var ok = true
        for (k, v) in m {
            switch k.string ?? "" {
            case "target", "scope":
                guard let t = v.string, let target = AttributesProcessor.Target(rawValue: t) else {
                    fail(v, "target must be span, resource or event"); ok = false; continue
                }
                s.target = target
            case "include":
                guard let inc = mapping(v, "include") else { ok = false; continue }
                for (ik, iv) in inc {
                    switch ik.string ?? "" {
                    case "services": s.services = Set(strings(iv, "services") ?? [])
                    case "span_names":
                        for (text, node) in zip(strings(iv, "span_names") ?? [], iv.sequence.map(Array.init) ?? []) {
                            if let r = regex(text, at: node) { s.spanNames.append(r) } else { ok = false }
                        }
                    default: unknownKey(ik, in: "include", expected: "services, span_names")
                    }
                }
            case "actions":
                guard let list = v.sequence else { fail(v, "actions must be a list"); ok = false; continue }
                for item in list {
                    if let rule = action(item) { s.rules.append(rule) } else { ok = false }
                }
            default: unknownKey(k, in: processor, expected: "target, include, actions")
            }
        }
        if s.rules.isEmpty && ok {
            fail(nameNode, "\(processor) has no actions")
            return nil
        }
        return ok ? s : nil
    }

    mutating func action(_ node: Node) -> AttributesProcessor.Rule? {
        guard let m = mapping(node, "an action") else { return nil }
        var key: String?
        var kind: String?
        var value: AttributeValue?
        var from: String?
        var pattern: (String, Node)?
        for (k, v) in m {
            switch k.string ?? "" {
            case "key": key = v.string
            case "action": kind = v.string
            case "value": value = attributeValue(v)
            case "from_attribute": from = v.string
            case "pattern": pattern = v.string.map { ($0, v) }
            default: unknownKey(k, in: "an action", expected: "key, action, value, from_attribute, pattern")
            }
        }
        guard let key, !key.isEmpty else { fail(node, "an action needs a key"); return nil }
        switch kind ?? "" {
        case "insert", "update", "upsert":
            if let from { return .init(key: key, action: .copy(from: from)) }
            guard let value else { fail(node, "action \(kind!) on '\(key)' needs a value or from_attribute"); return nil }
            return .init(key: key, action: kind == "insert" ? .insert(value) : kind == "update" ? .update(value) : .upsert(value))
        case "delete": return .init(key: key, action: .delete)
        case "hash": return .init(key: key, action: .hash)
        case "extract":
            guard let (text, at) = pattern else { fail(node, "action extract on '\(key)' needs a pattern with named groups"); return nil }
            guard let r = regex(text, at: at) else { return nil }
            return .init(key: key, action: .extract(r))
        default:
            fail(node, "action must be insert, update, upsert, delete, hash or extract, got '\(kind ?? "")'")
            return nil
        }
    }

    mutating func redaction(_ m: Node.Mapping, processor: String) -> RedactionPolicy? {
        var p = RedactionPolicy()
        var ok = true
        var mode = "mask"
        var modeNode: Node?
        var key: [UInt8]?
        for (k, v) in m {
            switch k.string ?? "" {
            case "mode": mode = v.string ?? ""; modeNode = v
            case "hash_key": key = v.string.map { Array($0.utf8) }
            case "hash_key_env":
                guard let name = v.string, let value = environment[name], !value.isEmpty else {
                    fail(v, "hash_key_env names an environment variable that is not set: \(v.string ?? "")"); ok = false; continue
                }
                key = Array(value.utf8)
            case "detectors":
                var set = Set<PIIKind>()
                for (text, node) in zip(strings(v, "detectors") ?? [], v.sequence.map(Array.init) ?? []) {
                    guard let d = PIIKind(rawValue: text) else {
                        fail(node, "unknown detector '\(text)': expected \(PIIKind.allCases.map(\.rawValue).joined(separator: ", "))"); ok = false; continue
                    }
                    set.insert(d)
                }
                p.detectors = set
            case "allowed_keys": p.allowedKeys.formUnion(strings(v, "allowed_keys") ?? [])
            case "blocked_keys": p.blockedKeys += strings(v, "blocked_keys") ?? []
            case "url_keys": p.urlKeys = Set(strings(v, "url_keys") ?? [])
            case "sql_keys": p.sqlKeys = Set(strings(v, "sql_keys") ?? [])
            case "count_attribute": p.countKey = v.string ?? p.countKey
            default:
                unknownKey(k, in: processor, expected: "mode, hash_key, hash_key_env, detectors, allowed_keys, blocked_keys, url_keys, sql_keys, count_attribute")
            }
        }
        switch mode {
        case "mask": p.mode = .mask
        case "hash":
            guard let key, !key.isEmpty else { fail(modeNode, "mode hash needs hash_key or hash_key_env"); return nil }
            p.mode = .hash(key: key)
        default: fail(modeNode, "mode must be mask or hash, got '\(mode)'"); ok = false
        }
        return ok ? p : nil
    }

    // MARK: values

    mutating func mapping(_ node: Node, _ what: String) -> Node.Mapping? {
        guard let m = node.mapping else { fail(node, "\(what) must be a mapping of keys to values"); return nil }
        return m
    }

    mutating func strings(_ node: Node, _ what: String) -> [String]? {
        guard let seq = node.sequence else { fail(node, "\(what) must be a list"); return nil }
        var out = [String]()
        for item in seq {
            guard let s = item.string, item.scalar != nil else { fail(item, "\(what) must be a list of strings"); return nil }
            out.append(s)
        }
        return out
    }

    mutating func positiveInt(_ node: Node, _ what: String) -> Int? {
        guard let i = node.int, i > 0 else { fail(node, "\(what) must be a positive integer"); return nil }
        return i
    }

    mutating func duration(_ node: Node, _ what: String) -> Duration? {
        guard let text = node.string, let ns = GoDuration.parse(text) else {
            fail(node, "\(what) must be a duration such as 100ms, 1s or 2m")
            return nil
        }
        return .nanoseconds(Int64(ns))
    }

    mutating func regex(_ text: String, at node: Node) -> CompiledRegex? {
        do { return try CompiledRegex(text) } catch {
            fail(node, "invalid regular expression \"\(text)\": \(error)")
            return nil
        }
    }

    func attributeValue(_ node: Node) -> AttributeValue? {
        guard let scalar = node.scalar else { return nil }
        if scalar.style == .plain {
            if let b = node.bool { return .bool(b) }
            if let i = Int64(scalar.string) { return .int(i) }
            if let d = Double(scalar.string) { return .double(d) }
        }
        return .string(scalar.string)
    }

    mutating func unknownKey(_ k: Node, in what: String, expected: String) {
        fail(k, "unknown key '\(k.string ?? "")' in \(what): expected \(expected)")
    }

}
