public import AriadneModel
import Synchronization
import Yams

/// What the remote-sampling endpoint tells an SDK about one service (jaeger-idl
/// `api_v2/sampling.proto`, SamplingStrategyResponse).
public struct ServiceSamplingStrategy: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case probabilistic(Double)
        case rateLimiting(maxTracesPerSecond: Int)
    }

    public struct Operations: Sendable, Equatable {
        public var defaultProbability: Double
        public var defaultLowerBoundTracesPerSecond: Double
        public var defaultUpperBoundTracesPerSecond: Double?
        public var perOperation: [(operation: String, probability: Double)]

        public static func == (a: Operations, b: Operations) -> Bool {
            a.defaultProbability == b.defaultProbability && a.defaultLowerBoundTracesPerSecond == b.defaultLowerBoundTracesPerSecond
                && a.defaultUpperBoundTracesPerSecond == b.defaultUpperBoundTracesPerSecond
                && a.perOperation.elementsEqual(b.perOperation, by: { $0 == $1 })
        }
    }

    public var kind: Kind
    public var operations: Operations?

    public init(kind: Kind, operations: Operations? = nil) {
        self.kind = kind
        self.operations = operations
    }
}

/// Answers the remote-sampling endpoint.
public protocol SamplingStrategyProvider: Sendable {
    func strategy(for service: String) -> ServiceSamplingStrategy
}

/// Strategies from a file in Jaeger's format:
///
/// ```json
/// {"service_strategies": [{"service": "checkout", "type": "probabilistic", "param": 0.5,
///    "operation_strategies": [{"operation": "GET /health", "type": "probabilistic", "param": 0.0}]},
///   {"service": "batch", "type": "ratelimiting", "param": 5}],
///  "default_strategy": {"type": "probabilistic", "param": 0.1}}
/// ```
public struct StaticSamplingStrategies: SamplingStrategyProvider {
    public var services: [String: ServiceSamplingStrategy] = [:]
    public var defaultStrategy = ServiceSamplingStrategy(kind: .probabilistic(0.001))
    /// Jaeger's default lower bound for per-operation sampling: one trace a minute.
    static let lowerBound = 1.0 / 60

    public init() {}

    public func strategy(for service: String) -> ServiceSamplingStrategy { services[service] ?? defaultStrategy }

    /// Parses the file's text (JSON, read as YAML so that mistakes have lines).
    public static func parse(_ text: String) throws(ConfigErrors) -> StaticSamplingStrategies {
        var r = ConfigReader(environment: [:])
        var out = StaticSamplingStrategies()
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw ConfigErrors(errors: [ConfigReader.syntaxError(e)])
        } catch {
            throw ConfigErrors(errors: [ConfigError(line: 1, column: 1, message: "\(error)")])
        }
        guard let root, let top = r.mapping(root, "the strategies file") else {
            throw ConfigErrors(errors: r.errors.isEmpty ? [ConfigError(line: 1, column: 1, message: "the strategies file is empty")] : r.errors)
        }
        for (k, v) in top {
            switch k.string ?? "" {
            case "default_strategy":
                if let s = strategy(v, &r, allowOperations: true) { out.defaultStrategy = s }
            case "service_strategies":
                guard let list = v.sequence else { r.fail(v, "service_strategies must be a list"); continue }
                for item in list {
                    guard let name = item.mapping?.first(where: { $0.key.string == "service" })?.value.string, !name.isEmpty else {
                        r.fail(item, "a service strategy needs a service")
                        continue
                    }
                    if let s = strategy(item, &r, allowOperations: true) { out.services[name] = s }
                }
            default: r.unknownKey(k, in: "the strategies file", expected: "service_strategies, default_strategy")
            }
        }
        if !r.errors.isEmpty { throw ConfigErrors(errors: r.errors) }
        return out
    }

    static func strategy(_ node: Node, _ r: inout ConfigReader, allowOperations: Bool) -> ServiceSamplingStrategy? {
        guard let m = r.mapping(node, "a strategy") else { return nil }
        var type: String?
        var param: Double?
        var operations: [(String, Double)] = []
        for (k, v) in m {
            switch k.string ?? "" {
            case "service": continue
            case "type": type = v.string
            case "param":
                guard let p = v.float ?? v.int.map(Double.init), p >= 0 else { r.fail(v, "param must be a non-negative number"); return nil }
                param = p
            case "operation_strategies" where allowOperations:
                guard let list = v.sequence else { r.fail(v, "operation_strategies must be a list"); return nil }
                for item in list {
                    guard let op = item.mapping?.first(where: { $0.key.string == "operation" })?.value.string else {
                        r.fail(item, "an operation strategy needs an operation")
                        return nil
                    }
                    guard let s = strategy(item, &r, allowOperations: false) else { return nil }
                    guard case .probabilistic(let p) = s.kind else {
                        r.fail(item, "operation strategies are probabilistic (as in Jaeger)")
                        return nil
                    }
                    operations.append((op, p))
                }
            case "operation": if !allowOperations { continue } else { fallthrough }
            default: r.unknownKey(k, in: "a strategy", expected: "service, type, param, operation_strategies")
            }
        }
        guard let param else { r.fail(node, "a strategy needs a param"); return nil }
        let kind: ServiceSamplingStrategy.Kind
        switch type ?? "" {
        case "probabilistic":
            guard param <= 1 else { r.fail(node, "a probabilistic param is a probability from 0 to 1, got \(param)"); return nil }
            kind = .probabilistic(param)
        case "ratelimiting": kind = .rateLimiting(maxTracesPerSecond: Int(param))
        default:
            r.fail(node, "type must be probabilistic or ratelimiting, got '\(type ?? "")'")
            return nil
        }
        var s = ServiceSamplingStrategy(kind: kind)
        if !operations.isEmpty {
            let p: Double
            if case .probabilistic(let d) = kind { p = d } else { p = 0.001 }
            s.operations = .init(
                defaultProbability: p, defaultLowerBoundTracesPerSecond: lowerBound, defaultUpperBoundTracesPerSecond: nil,
                perOperation: operations.map { (operation: $0.0, probability: $0.1) })
        }
        return s
    }
}
