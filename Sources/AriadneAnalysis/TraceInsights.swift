public import AriadneModel

/// Where failing traces' errors began: an error span none of whose children failed (the deepest
/// failure on its branch), grouped by service, operation and exception type.
public struct ErrorOrigin: Equatable, Sendable {
    public var service: String
    public var operation: String
    /// `exception.type` of the span's exception event (or attribute), "" when none.
    public var exceptionType: String
    public var count: Int
    /// Up to five traces where it happened.
    public var exampleTraces: [TraceID]
}

/// For one endpoint, which operations hold its critical path: per (service, operation), the
/// critical-path time it accounts for in each trace, as quantiles over the traces.
public struct Bottleneck: Equatable, Sendable {
    public var service: String
    public var operation: String
    /// Traces in which it was on the critical path.
    public var traces: Int
    /// Critical-path ns per trace (0 in traces where it was absent), over all traces of the endpoint.
    public var p50: UInt64
    public var p95: UInt64
    /// Its share of all critical-path time of the endpoint.
    public var share: Double
}

public enum TraceInsights {
    public static func errorOrigins(_ trees: [TraceTree], examples: Int = 5) -> [ErrorOrigin] {
        var groups = [String: ErrorOrigin]()
        var order = [String]()
        for tree in trees {
            let t = tree.trace
            for i in 0..<t.count where t.statusCodes[i] == .error {
                if tree.children[i].contains(where: { t.statusCodes[$0] == .error }) { continue }
                let service = t.serviceName(ofSpan: i)
                let operation = t.string(t.names[i])
                let type = exceptionType(t, i)
                let key = service + "\u{0}" + operation + "\u{0}" + type
                if groups[key] == nil {
                    groups[key] = ErrorOrigin(service: service, operation: operation, exceptionType: type, count: 0, exampleTraces: [])
                    order.append(key)
                }
                groups[key]!.count += 1
                if groups[key]!.exampleTraces.count < examples, !groups[key]!.exampleTraces.contains(t.traceIDs[i]) {
                    groups[key]!.exampleTraces.append(t.traceIDs[i])
                }
            }
        }
        return order.map { groups[$0]! }.sorted {
            $0.count != $1.count ? $0.count > $1.count : ($0.service, $0.operation) < ($1.service, $1.operation)
        }
    }

    static func exceptionType(_ t: SpanBatch, _ i: Int) -> String {
        for e in t.events[t.eventRanges[i].indices] {
            for a in t.attributes[e.attributes.indices] where t.equals(a.key, "exception.type") {
                return t.attributeValue(a.value).displayString
            }
        }
        for a in t.spanAttributes[t.attributeRanges[i].indices] where t.equals(a.key, "exception.type") || t.equals(a.key, "error.type") {
            return t.attributeValue(a.value).displayString
        }
        return ""
    }

    /// Bottlenecks of the endpoint (`service`, `operation`) over `trees`: in each trace the
    /// critical path of the endpoint's first span is split by the span that owns each segment.
    public static func bottlenecks(_ trees: [TraceTree], service: String, operation: String) -> (traces: Int, rows: [Bottleneck]) {
        var perTrace = [[String: UInt64]]()
        var names = [String: (String, String)]()
        for tree in trees {
            let t = tree.trace
            let order = tree.depthFirst()
            guard let endpoint = order.first(where: { t.serviceName(ofSpan: $0.span) == service && t.equals(t.names[$0.span], operation) })
            else { continue }
            var times = [String: UInt64]()
            for s in CriticalPath.compute(tree, from: endpoint.span) {
                let svc = t.serviceName(ofSpan: s.span)
                let op = t.string(t.names[s.span])
                let key = svc + "\u{0}" + op
                names[key] = (svc, op)
                times[key, default: 0] += s.end - s.start
            }
            perTrace.append(times)
        }
        let total = perTrace.reduce(0) { $0 + $1.values.reduce(0, +) }
        let rows = names.map { key, name -> Bottleneck in
            let values = perTrace.map { $0[key] ?? 0 }.sorted()
            let sum = values.reduce(0, +)
            return Bottleneck(
                service: name.0, operation: name.1, traces: values.filter { $0 > 0 }.count, p50: values.nearestRank(0.5),
                p95: values.nearestRank(0.95),
                share: total > 0 ? Double(sum) / Double(total) : 0)
        }
        return (
            perTrace.count,
            rows.sorted {
                if $0.p95 != $1.p95 { return $0.p95 > $1.p95 }
                if $0.share != $1.share { return $0.share > $1.share }
                return ($0.service, $0.operation) < ($1.service, $1.operation)
            }
        )
    }
}
