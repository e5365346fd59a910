public import AriadneModel
public import Yams

/// Built processors: the consumer receivers feed, and what runs beside it.
public struct Pipeline: Sendable {
    public let consumer: any SpanConsumer
    public let metrics: PipelineMetrics
    let samplers: [TailSampler]
    let adaptive: AdaptiveSampler?
    /// What the remote-sampling endpoint serves; nil: sample everything.
    public let strategies: (any SamplingStrategyProvider)?

    /// Returns once every span consumed before the call is decided and passed on by every tail
    /// sampler (at once without one); throws if passing any on may have failed.
    public func settle() async throws {
        for s in samplers { try await s.settle() }
    }

    /// Runs the processors' timers (tail-sampling decisions) until cancelled, then decides every
    /// trace still held, so that a clean stop loses nothing.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for s in samplers { group.addTask { await s.run() } }
            if let adaptive { group.addTask { await adaptive.run() } }
            // A pipeline without timers still runs until it is stopped, like every service.
            group.addTask { while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) } }
        }
    }
}

/// Times each batch through the whole pipeline, from the receiver's hand-off to the store's or
/// exporters' acknowledgement.
struct TimedConsumer: SpanConsumer {
    let next: any SpanConsumer
    let metrics: PipelineMetrics
    static let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    init(next: any SpanConsumer, metrics: PipelineMetrics) {
        self.next = next
        self.metrics = metrics
        metrics.describe(
            "ariadne_pipeline_batch_duration_seconds", "Time from a receiver's hand-off to the pipeline's acknowledgement, per batch.",
            type: .histogram)
    }

    func consume(_ batch: SpanBatch) async throws {
        let started = ContinuousClock.now
        defer {
            metrics.observe(
                "ariadne_pipeline_batch_duration_seconds", seconds: (ContinuousClock.now - started).inSeconds, buckets: Self.buckets)
        }
        try await next.consume(batch)
    }
}

/// A mistake in a configuration file, with where it is.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var line: Int
    public var column: Int
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

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
        case tailSampling(TailSampler.Settings)
        case batch(BatchProcessor.Settings)
    }

    public var name: String
    public var kind: Kind

    /// Whether it must see a trace's spans together (in a cluster: on the ingester, not the collector).
    public var needsWholeTraces: Bool {
        if case .tailSampling = kind { return true }
        return false
    }
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
    /// Where spans go after the processors, in order; the local store unless the file says otherwise.
    public var exporters: [ExporterSpec] = [ExporterSpec(name: "store", kind: .store)]
    /// Head-sampling strategies served to SDKs on the sampling port.
    public var sampling: SamplingSetup = .none
    /// Listener addresses and which receivers run.
    public var receivers = ReceiverSettings()
    /// Top-level sections read by the components they configure (``ConfigSection``), by key.
    public var sections: [String: any ConfigSection] = [:]

    /// The section of type `S` as the file set it, or its defaults.
    public func section<S: ConfigSection>(_ type: S.Type) -> S {
        sections[S.key] as? S ?? S()
    }

    public enum SamplingSetup: Sendable {
        /// Every SDK is told to sample everything.
        case none
        /// A Jaeger strategies file; `path` as written in the configuration, `line` where.
        case file(path: String, line: Int)
        /// The file's strategies, once read.
        case strategies(StaticSamplingStrategies)
        case adaptive(AdaptiveSampler.Settings)
    }

    public init(processors: [ProcessorSpec] = []) { self.processors = processors }

    /// The longest decision wait of the tail samplers, if any.
    public var tailSamplingWait: Duration? {
        processors.compactMap { if case .tailSampling(let t) = $0.kind { t.decisionWait } else { nil } }.max()
    }

    /// The processors built in order in front of `next`.
    /// `relieveMemory` is what the memory limiter asks for when over its soft limit; `observers`
    /// see every span that enters, before any sampling (RED metrics, the service graph).
    public func build(
        next: any SpanConsumer, metrics: PipelineMetrics = PipelineMetrics(), observers: [any SpanObserver] = [],
        relieveMemory: (@Sendable () async -> Void)? = nil
    ) -> Pipeline {
        var samplers = [TailSampler]()
        var consumer = processors.reversed().reduce(next) { next, spec -> any SpanConsumer in
            switch spec.kind {
            case .memoryLimiter(let s): return MemoryLimiter(s, next: next, metrics: metrics, relieve: relieveMemory)
            case .attributes(let s): return AttributesProcessor(s, next: next)
            case .redaction(let p): return RedactionProcessor(p, next: next, metrics: metrics)
            case .batch(let s): return BatchProcessor(s, next: next, metrics: metrics)
            case .tailSampling(let s):
                let sampler = TailSampler(s, next: next, metrics: metrics)
                samplers.append(sampler)
                return sampler
            }
        }
        var strategies: (any SamplingStrategyProvider)? = nil
        var adaptive: AdaptiveSampler? = nil
        switch sampling {
        case .none, .file: break
        case .strategies(let s): strategies = s
        case .adaptive(let settings):
            // First in line: it counts what SDKs sent, before anything is sampled away.
            let a = AdaptiveSampler(settings, next: consumer)
            consumer = a
            adaptive = a
            strategies = a
        }
        if !observers.isEmpty { consumer = ObservingConsumer(observers: observers, next: consumer) }
        return Pipeline(
            consumer: TimedConsumer(next: consumer, metrics: metrics), metrics: metrics, samplers: samplers, adaptive: adaptive,
            strategies: strategies)
    }

    /// Reads a configuration file's text; `environment` resolves `hash_key_env`; `sections` are
    /// the top-level sections other components read (each next to the component it configures).
    public static func parse(
        _ yaml: String, environment: [String: String] = [:], sections: [any ConfigSection.Type] = []
    ) throws(ConfigErrors) -> PipelineConfiguration {
        var r = ConfigReader(environment: environment)
        r.sectionTypes = sections
        let config = r.read(yaml)
        if !r.errors.isEmpty { throw ConfigErrors(errors: r.errors) }
        return config
    }
}

/// A top-level section of the configuration file that a component outside the pipeline reads
/// (the analytics section, read next to the analytics), with the same line-numbered errors.
public protocol ConfigSection: Sendable {
    /// The section's key at the top of the file.
    static var key: String { get }
    /// The defaults, when the file has no such section.
    init()
    /// Reads the section; mistakes go to `reader.fail(node, message)`, and nil means it had some.
    init?(reading node: Node, with reader: inout ConfigReader)
}

/// Walks the YAML tree, collecting every error with its line instead of stopping at the first.
public struct ConfigReader {
    var errors: [ConfigError] = []
    let environment: [String: String]
    var sectionTypes: [any ConfigSection.Type] = []

    init(environment: [String: String]) { self.environment = environment }

    // Generic helpers open the existential metatype: calling `type.key` or `type.init` on
    // `any ConfigSection.Type` directly crashes Swift 6.3's SILGen.
    static func key<S: ConfigSection>(of type: S.Type) -> String { S.key }

    mutating func readSection<S: ConfigSection>(_ type: S.Type, _ node: Node) -> (any ConfigSection)? {
        var reader = self
        let section = S(reading: node, with: &reader)
        self = reader
        return section
    }

    public mutating func fail(_ node: Node?, _ message: String) {
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
        var sampling = PipelineConfiguration.SamplingSetup.none
        var receivers = ReceiverSettings()
        var definedReceivers = [String: Set<String>]()  // receiver → the listeners it opens
        var receiverOrder: [(String, Node)]? = nil
        var definedExporters = ["store": (root, ExporterSpec(name: "store", kind: .store))]
        var exporterOrder: [(String, Node)]? = nil
        var defined = [String: (Node, ProcessorSpec)]()
        var invalid = Set<String>()  // defined with mistakes, already reported
        var order: [(String, Node)]? = nil
        var sections = [String: any ConfigSection]()
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
                            case "processors":
                                order = strings(tv, "processors").map { names in zip(names, tv.sequence.map(Array.init) ?? []).map { ($0, $1) } }
                            case "exporters":
                                exporterOrder = strings(tv, "exporters").map { names in zip(names, tv.sequence.map(Array.init) ?? []).map { ($0, $1) }
                                }
                            case "receivers":
                                receiverOrder = strings(tv, "receivers").map { names in zip(names, tv.sequence.map(Array.init) ?? []).map { ($0, $1) }
                                }
                            default: fail(tk, "unknown key '\(tk.string ?? "")' in the traces pipeline: expected receivers, processors or exporters")
                            }
                        }
                    }
                }
            case "exporters":
                guard let m = mapping(v, "exporters") else { continue }
                for (name, body) in m {
                    guard let n = name.string else { fail(name, "an exporter name must be a string"); continue }
                    if let spec = exporter(n, body, at: name) { definedExporters[n] = (name, spec) }
                }
            case "sampling":
                guard let m = mapping(v, "sampling") else { continue }
                for (sk, sv) in m {
                    switch sk.string ?? "" {
                    case "strategies_file":
                        guard let path = sv.string, !path.isEmpty else { fail(sv, "strategies_file must be a path"); continue }
                        if case .adaptive = sampling { fail(sk, "choose strategies_file or adaptive, not both"); continue }
                        sampling = .file(path: path, line: sv.mark?.line ?? 1)
                    case "adaptive":
                        if case .file = sampling { fail(sk, "choose strategies_file or adaptive, not both"); continue }
                        if let a = adaptive(sv) { sampling = .adaptive(a) }
                    default: unknownKey(sk, in: "sampling", expected: "strategies_file, adaptive")
                    }
                }
            case "receivers":
                guard let m = mapping(v, "receivers") else { continue }
                for (name, body) in m { receiver(name, body, into: &receivers, defined: &definedReceivers) }
            default:
                let keys = sectionTypes.map { Self.key(of: $0) }
                if let n = keys.firstIndex(of: k.string ?? "") {
                    if let section = readSection(sectionTypes[n], v) { sections[keys[n]] = section }
                    continue
                }
                let known = ["receivers", "processors", "exporters", "sampling"] + keys
                fail(k, "unknown section '\(k.string ?? "")': expected \(known.joined(separator: ", ")) or service")
            }
        }
        var config = PipelineConfiguration()
        config.sampling = sampling
        config.sections = sections
        if !definedReceivers.isEmpty || receiverOrder != nil {
            // As in the Collector: only the receivers (and protocols) the file names listen.
            var enabled = Set<String>()
            let names = receiverOrder ?? definedReceivers.keys.map { ($0, root) }
            for (name, node) in names {
                guard let listeners = definedReceivers[name] else { fail(node, "receiver '\(name)' is not defined under receivers"); continue }
                enabled.formUnion(listeners)
            }
            if enabled.isEmpty { fail(nil, "no receiver would listen: define otlp, zipkin or jaeger under receivers") }
            receivers.enabled = enabled
        }
        config.receivers = receivers
        if let exporterOrder {
            config.exporters = []
            for (name, node) in exporterOrder {
                guard let (_, spec) = definedExporters[name] else { fail(node, "exporter '\(name)' is not defined under exporters"); continue }
                config.exporters.append(spec)
            }
            if exporterOrder.isEmpty { fail(nil, "the traces pipeline needs at least one exporter (store keeps spans here)") }
        } else if definedExporters.count > 1 {
            config.exporters = definedExporters.values.sorted { ($0.0.mark?.line ?? 0) < ($1.0.mark?.line ?? 0) }.map(\.1)
        }
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
        case "batch":
            var b = BatchProcessor.Settings()
            for (k, v) in fields {
                switch k.string ?? "" {
                case "send_batch_size": if let n = positiveInt(v, "send_batch_size") { b.sendBatchSize = n }
                case "timeout": if let d = duration(v, "timeout") { b.timeout = d }
                default: unknownKey(k, in: "batch", expected: "send_batch_size, timeout")
                }
            }
            return ProcessorSpec(name: name, kind: .batch(b))
        case "tail_sampling":
            guard let t = tailSampling(fields, at: nameNode) else { return nil }
            return ProcessorSpec(name: name, kind: .tailSampling(t))
        default:
            fail(nameNode, "unknown processor type '\(type)': expected memory_limiter, batch, attributes, resource, redaction or tail_sampling")
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
                        fail(node, "unknown detector '\(text)': expected \(PIIKind.allCases.map(\.rawValue).joined(separator: ", "))"); ok = false;
                        continue
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
                unknownKey(
                    k, in: processor,
                    expected: "mode, hash_key, hash_key_env, detectors, allowed_keys, blocked_keys, url_keys, sql_keys, count_attribute")
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

    mutating func receiver(_ nameNode: Node, _ body: Node, into r: inout ReceiverSettings, defined: inout [String: Set<String>]) {
        guard let name = nameNode.string else { fail(nameNode, "a receiver name must be a string"); return }
        let fields = body.null != nil ? Node.Mapping([]) : mapping(body, "receiver '\(name)'")
        guard let fields else { return }
        func endpoint(_ m: Node.Mapping, _ what: String) -> ReceiverSettings.Endpoint?? {
            var result: ReceiverSettings.Endpoint?? = .some(nil)
            for (k, v) in m {
                guard k.string == "endpoint" else { unknownKey(k, in: what, expected: "endpoint"); continue }
                guard let text = v.string, let e = ReceiverSettings.endpoint(text) else {
                    fail(v, "endpoint must be host:port (or :port), got '\(v.string ?? "")'")
                    result = nil
                    continue
                }
                result = .some(e)
            }
            return result
        }
        switch name {
        case "otlp":
            var listeners = Set<String>()
            for (k, v) in fields {
                guard k.string == "protocols" else { unknownKey(k, in: "otlp", expected: "protocols"); continue }
                guard let protocols = mapping(v, "protocols") else { continue }
                for (pk, pv) in protocols {
                    let proto = pk.string ?? ""
                    guard proto == "grpc" || proto == "http" else { unknownKey(pk, in: "protocols", expected: "grpc, http"); continue }
                    let m = pv.null != nil ? Node.Mapping([]) : mapping(pv, proto)
                    guard let m, let e = endpoint(m, proto) else { continue }
                    if proto == "grpc" { r.otlpGRPC = e; listeners.insert("otlp_grpc") } else { r.otlpHTTP = e; listeners.insert("otlp_http") }
                }
            }
            if listeners.isEmpty { fail(nameNode, "otlp needs protocols: grpc and/or http") }
            defined[name] = listeners
        case "zipkin":
            guard let e = endpoint(fields, "zipkin") else { return }
            r.zipkin = e
            defined[name] = ["zipkin"]
        case "jaeger":
            // The Collector's jaeger receiver: each protocol named listens, on its default port
            // unless an endpoint is given.
            var listeners = Set<String>()
            let known = ["grpc", "thrift_http", "thrift_compact", "thrift_binary"]
            for (k, v) in fields {
                guard k.string == "protocols" else { unknownKey(k, in: "jaeger", expected: "protocols"); continue }
                guard let protocols = mapping(v, "protocols") else { continue }
                for (pk, pv) in protocols {
                    let proto = pk.string ?? ""
                    guard known.contains(proto) else { unknownKey(pk, in: "protocols", expected: known.joined(separator: ", ")); continue }
                    let m = pv.null != nil ? Node.Mapping([]) : mapping(pv, proto)
                    guard let m, let e = endpoint(m, proto) else { continue }
                    r.jaeger["jaeger_" + proto] = e
                    listeners.insert("jaeger_" + proto)
                }
            }
            if listeners.isEmpty { fail(nameNode, "jaeger needs protocols: grpc, thrift_http, thrift_compact and/or thrift_binary") }
            defined[name] = listeners
        default:
            fail(nameNode, "unknown receiver '\(name)': expected otlp, zipkin or jaeger")
        }
    }

    mutating func adaptive(_ node: Node) -> AdaptiveSampler.Settings? {
        guard let m = node.null != nil ? Node.Mapping([]) : mapping(node, "adaptive") else { return nil }
        var a = AdaptiveSampler.Settings()
        func probability(_ v: Node, _ what: String) -> Double? {
            guard let p = v.float ?? v.int.map(Double.init), p > 0, p <= 1 else { fail(v, "\(what) must be a probability in (0, 1]"); return nil }
            return p
        }
        for (k, v) in m {
            switch k.string ?? "" {
            case "target_traces_per_second":
                guard let t = v.float ?? v.int.map(Double.init), t > 0 else { fail(v, "target_traces_per_second must be positive"); continue }
                a.targetTracesPerSecond = t
            case "interval": if let d = duration(v, "interval") { a.interval = d }
            case "initial_probability": if let p = probability(v, "initial_probability") { a.initialProbability = p }
            case "min_probability": if let p = probability(v, "min_probability") { a.minProbability = p }
            case "lower_bound_traces_per_second":
                guard let t = v.float ?? v.int.map(Double.init), t >= 0 else {
                    fail(v, "lower_bound_traces_per_second must be non-negative"); continue
                }
                a.lowerBoundTracesPerSecond = t
            case "delta_tolerance":
                guard let t = v.float, t >= 0, t < 1 else { fail(v, "delta_tolerance must be in [0, 1)"); continue }
                a.deltaTolerance = t
            case "buckets": if let n = positiveInt(v, "buckets") { a.buckets = n }
            default:
                unknownKey(
                    k, in: "adaptive",
                    expected:
                        "target_traces_per_second, interval, initial_probability, min_probability, lower_bound_traces_per_second, delta_tolerance, buckets"
                )
            }
        }
        return a
    }

    mutating func exporter(_ name: String, _ body: Node, at nameNode: Node) -> ExporterSpec? {
        let type = String(name.split(separator: "/", maxSplits: 1).first ?? "")
        let fields = body.null != nil ? Node.Mapping([]) : mapping(body, "exporter '\(name)'")
        guard let fields else { return nil }
        switch type {
        case "store":
            for (k, _) in fields { unknownKey(k, in: name, expected: "nothing: the store is configured with serve's flags") }
            return ExporterSpec(name: name, kind: .store)
        case "otlp", "otlphttp":
            var endpoint: String?
            var transport: OTLPExportSettings.Transport = type == "otlphttp" ? .http : .grpc
            var gzip = false
            var queue: Int?
            var consumers: Int?
            var retry: [String: Duration] = [:]
            var tls: OTLPExportSettings.ClientTLS?
            var headers = [String: String]()
            var bearerFile: String?
            for (k, v) in fields {
                switch k.string ?? "" {
                case "endpoint": endpoint = v.string
                case "tls":
                    guard let t = mapping(v, "tls") else { return nil }
                    var c = OTLPExportSettings.ClientTLS()
                    for (tk, tv) in t {
                        switch tk.string ?? "" {
                        case "ca_file": c.caFile = tv.string
                        case "cert_file": c.certFile = tv.string
                        case "key_file": c.keyFile = tv.string
                        default: unknownKey(tk, in: "tls", expected: "ca_file, cert_file, key_file")
                        }
                    }
                    if (c.certFile == nil) != (c.keyFile == nil) { fail(v, "tls: cert_file and key_file go together"); return nil }
                    tls = c
                case "headers":
                    guard let h = mapping(v, "headers") else { return nil }
                    for (hk, hv) in h {
                        guard let name = hk.string, let value = hv.string else { fail(hv, "a header is name: value"); continue }
                        headers[name.lowercased()] = value
                    }
                case "bearer_token_file": bearerFile = v.string
                case "protocol":
                    guard let t = v.string.flatMap(OTLPExportSettings.Transport.init(rawValue:)) else {
                        fail(v, "protocol must be grpc or http"); return nil
                    }
                    transport = t
                case "compression":
                    guard let c = v.string, c == "gzip" || c == "none" else { fail(v, "compression must be gzip or none"); return nil }
                    gzip = c == "gzip"
                case "sending_queue":
                    guard let q = mapping(v, "sending_queue") else { return nil }
                    for (qk, qv) in q {
                        switch qk.string ?? "" {
                        case "queue_size_spans": queue = positiveInt(qv, "queue_size_spans")
                        case "num_consumers": consumers = positiveInt(qv, "num_consumers")
                        default: unknownKey(qk, in: "sending_queue", expected: "queue_size_spans, num_consumers")
                        }
                    }
                case "retry_on_failure":
                    guard let r = mapping(v, "retry_on_failure") else { return nil }
                    for (rk, rv) in r {
                        let key = rk.string ?? ""
                        guard ["initial_interval", "max_interval", "max_elapsed_time"].contains(key) else {
                            unknownKey(rk, in: "retry_on_failure", expected: "initial_interval, max_interval, max_elapsed_time")
                            continue
                        }
                        if let d = duration(rv, key) { retry[key] = d }
                    }
                default:
                    unknownKey(
                        k, in: name, expected: "endpoint, protocol, compression, sending_queue, retry_on_failure, tls, headers, bearer_token_file")
                }
            }
            guard let endpoint, !endpoint.isEmpty else { fail(nameNode, "exporter '\(name)' needs an endpoint"); return nil }
            if transport == .grpc && (endpoint.contains("://") || endpoint.split(separator: ":").count != 2) {
                fail(nameNode, "exporter '\(name)': a gRPC endpoint is host:port, got \(endpoint)")
                return nil
            }
            if transport == .http && !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
                fail(nameNode, "exporter '\(name)': an HTTP endpoint is a URL such as http://host:4318/v1/traces, got \(endpoint)")
                return nil
            }
            var settings = OTLPExportSettings(endpoint: endpoint, transport: transport)
            settings.gzip = gzip
            settings.tls = tls
            settings.headers = headers
            settings.bearerTokenFile = bearerFile
            if let queue { settings.queueSpans = queue }
            if let consumers { settings.consumers = consumers }
            if let d = retry["initial_interval"] { settings.initialInterval = d }
            if let d = retry["max_interval"] { settings.maxInterval = d }
            if let d = retry["max_elapsed_time"] { settings.maxElapsed = d }
            return ExporterSpec(name: name, kind: .otlp(settings))
        default:
            fail(nameNode, "unknown exporter type '\(type)': expected store, otlp or otlphttp")
            return nil
        }
    }

    mutating func tailSampling(_ m: Node.Mapping, at nameNode: Node) -> TailSampler.Settings? {
        var t = TailSampler.Settings()
        var ok = true
        for (k, v) in m {
            switch k.string ?? "" {
            case "decision_wait": if let d = duration(v, "decision_wait") { t.decisionWait = d } else { ok = false }
            case "num_traces": if let n = positiveInt(v, "num_traces") { t.maxTraces = n } else { ok = false }
            case "decision_cache_size": if let n = positiveInt(v, "decision_cache_size") { t.decisionCacheSize = n } else { ok = false }
            case "policies":
                guard let list = v.sequence else { fail(v, "policies must be a list"); ok = false; continue }
                for item in list {
                    if let p = samplingPolicy(item) { t.policies.append(p) } else { ok = false }
                }
            default: unknownKey(k, in: "tail_sampling", expected: "decision_wait, num_traces, decision_cache_size, policies")
            }
        }
        if t.policies.isEmpty && ok {
            fail(nameNode, "tail_sampling needs at least one policy (a trace no policy samples is dropped)")
            return nil
        }
        return ok ? t : nil
    }

    mutating func samplingPolicy(_ node: Node) -> SamplingPolicy? {
        guard let m = mapping(node, "a policy") else { return nil }
        var fields = [String: Node]()
        for (k, v) in m { fields[k.string ?? ""] = v }
        guard let name = fields["name"]?.string, !name.isEmpty else { fail(node, "a policy needs a name"); return nil }
        guard let type = fields["type"]?.string else { fail(node, "policy '\(name)' needs a type"); return nil }
        let allowed: [String: Set<String>] = [
            "always_sample": [], "status_code": ["status_codes"], "latency": ["threshold_ms", "upper_threshold_ms"],
            "probabilistic": ["sampling_percentage"], "rate_limiting": ["traces_per_second"],
            "string_attribute": ["key", "values", "enabled_regex_matching", "invert_match"],
            "numeric_attribute": ["key", "min_value", "max_value"], "boolean_attribute": ["key", "value"],
            "span_count": ["min_spans", "max_spans"], "and": ["policies"],
            "composite": ["max_total_spans_per_second", "policies"],
        ]
        guard let keys = allowed[type] else {
            fail(fields["type"], "unknown policy type '\(type)': expected \(allowed.keys.sorted().joined(separator: ", "))")
            return nil
        }
        for (k, _) in m where !(["name", "type", "rate_percent"] + keys).contains(k.string ?? "") {
            unknownKey(k, in: "a \(type) policy", expected: (["name", "type"] + keys.sorted()).joined(separator: ", "))
        }
        func number(_ key: String, required: Bool = true) -> Double? {
            guard let v = fields[key] else {
                if required { fail(node, "policy '\(name)' needs \(key)") }
                return nil
            }
            guard let d = v.float ?? v.int.map(Double.init), d >= 0 else { fail(v, "\(key) must be a non-negative number"); return nil }
            return d
        }
        func key() -> String? {
            guard let k = fields["key"]?.string, !k.isEmpty else { fail(node, "policy '\(name)' needs a key"); return nil }
            return k
        }
        let rule: SamplingRule
        switch type {
        case "always_sample": rule = .always
        case "status_code":
            guard let v = fields["status_codes"], let codes = strings(v, "status_codes") else {
                fail(node, "policy '\(name)' needs status_codes"); return nil
            }
            var set = Set<StatusCode>()
            for c in codes {
                switch c.uppercased() {
                case "ERROR": set.insert(.error)
                case "OK": set.insert(.ok)
                case "UNSET": set.insert(.unset)
                default: fail(v, "status codes are ERROR, OK or UNSET, got '\(c)'"); return nil
                }
            }
            rule = .statusCode(set)
        case "latency":
            guard let ms = number("threshold_ms") else { return nil }
            rule = .latency(threshold: UInt64(ms * 1e6), upper: number("upper_threshold_ms", required: false).map { UInt64($0 * 1e6) })
        case "probabilistic":
            guard let p = number("sampling_percentage") else { return nil }
            guard p <= 100 else { fail(fields["sampling_percentage"], "sampling_percentage must be at most 100"); return nil }
            rule = .probabilistic(percent: p)
        case "rate_limiting":
            guard let r = number("traces_per_second") else { return nil }
            rule = .rateLimiting(tracesPerSecond: r)
        case "string_attribute":
            guard let k = key(), let v = fields["values"], let values = strings(v, "values") else {
                if fields["values"] == nil { fail(node, "policy '\(name)' needs values") }
                return nil
            }
            var patterns = [CompiledRegex]()
            if fields["enabled_regex_matching"]?.bool == true {
                for (text, n) in zip(values, v.sequence.map(Array.init) ?? []) {
                    guard let r = regex(text, at: n) else { return nil }
                    patterns.append(r)
                }
            }
            rule = .stringAttribute(
                key: k, values: patterns.isEmpty ? Set(values) : [], patterns: patterns,
                invert: fields["invert_match"]?.bool ?? false)
        case "numeric_attribute":
            guard let k = key() else { return nil }
            let lo = fields["min_value"].flatMap { $0.float ?? $0.int.map(Double.init) }
            let hi = fields["max_value"].flatMap { $0.float ?? $0.int.map(Double.init) }
            guard lo != nil || hi != nil else { fail(node, "policy '\(name)' needs min_value or max_value"); return nil }
            rule = .numericAttribute(key: k, min: lo, max: hi)
        case "boolean_attribute":
            guard let k = key(), let b = fields["value"]?.bool else {
                if fields["value"]?.bool == nil { fail(fields["value"] ?? node, "policy '\(name)' needs value: true or false") }
                return nil
            }
            rule = .booleanAttribute(key: k, value: b)
        case "span_count":
            guard let lo = number("min_spans") else { return nil }
            rule = .spanCount(min: Int(lo), max: number("max_spans", required: false).map { Int($0) })
        case "and", "composite":
            guard let list = fields["policies"]?.sequence, !list.isEmpty else { fail(node, "policy '\(name)' needs a list of policies"); return nil }
            var subs = [(SamplingPolicy, Double)]()
            for item in list {
                guard let sub = samplingPolicy(item) else { return nil }
                let share = item.mapping?.first { $0.key.string == "rate_percent" }?.value
                subs.append((sub, share.flatMap { $0.float ?? $0.int.map(Double.init) } ?? 100))
            }
            if type == "and" {
                rule = .and(subs.map(\.0))
            } else {
                guard let total = number("max_total_spans_per_second") else { return nil }
                rule = .composite(maxSpansPerSecond: Int(total), subs.map { (policy: $0.0, percent: $0.1) })
            }
        default: return nil
        }
        return SamplingPolicy(name: name, rule: rule)
    }

    // MARK: values

    public mutating func mapping(_ node: Node, _ what: String) -> Node.Mapping? {
        guard let m = node.mapping else { fail(node, "\(what) must be a mapping of keys to values"); return nil }
        return m
    }

    public mutating func strings(_ node: Node, _ what: String) -> [String]? {
        guard let seq = node.sequence else { fail(node, "\(what) must be a list"); return nil }
        var out = [String]()
        for item in seq {
            guard let s = item.string, item.scalar != nil else { fail(item, "\(what) must be a list of strings"); return nil }
            out.append(s)
        }
        return out
    }

    public mutating func positiveInt(_ node: Node, _ what: String) -> Int? {
        guard let i = node.int, i > 0 else { fail(node, "\(what) must be a positive integer"); return nil }
        return i
    }

    public mutating func duration(_ node: Node, _ what: String) -> Duration? {
        guard let text = node.string, let ns = GoDuration.parse(text) else {
            fail(node, "\(what) must be a duration such as 100ms, 1s or 2m")
            return nil
        }
        return .nanoseconds(Int64(ns))
    }

    public mutating func regex(_ text: String, at node: Node) -> CompiledRegex? {
        do { return try CompiledRegex(text) } catch {
            fail(node, "invalid regular expression \"\(text)\": \(error)")
            return nil
        }
    }

    public func attributeValue(_ node: Node) -> AttributeValue? {
        guard let scalar = node.scalar else { return nil }
        if scalar.style == .plain {
            if let b = node.bool { return .bool(b) }
            if let i = Int64(scalar.string) { return .int(i) }
            if let d = Double(scalar.string) { return .double(d) }
        }
        return .string(scalar.string)
    }

    public mutating func unknownKey(_ k: Node, in what: String, expected: String) {
        fail(k, "unknown key '\(k.string ?? "")' in \(what): expected \(expected)")
    }

}
