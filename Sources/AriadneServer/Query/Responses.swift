import AriadneAnalysis
import AriadneModel
import AriadneStorage
import AriadneWire

// The JSON form of what the query and analysis routes answer, each written once here: a route
// writes `w.value(x.json)` instead of its own run of fields. Times are nanoseconds since the epoch
// as decimal strings (as in OTLP JSON); durations are nanoseconds as numbers.

extension TraceSummary {
    /// Grafana Tempo's search-result shape, plus span and error counts and services.
    var json: JSONField {
        let duration = end >= start ? end - start : 0
        return .object([
            "traceID": .string(traceID.hex), "rootServiceName": .string(rootService), "rootTraceName": .string(rootName),
            "startTimeUnixNano": .nanos(start), "durationMs": .uint(duration / 1_000_000), "durationNanos": .uint(duration),
            "spanCount": .int(spanCount), "errorCount": .int(errorCount), "services": .strings(services),
        ])
    }
}

extension SpanOperation {
    var json: JSONField { .object(["name": .string(name), "spanKind": .string(kind.jaegerName)]) }
}

extension Bottleneck {
    var json: JSONField {
        .object([
            "service": .string(service), "operation": .string(operation), "traces": .int(traces), "p50Nanos": .uint(p50),
            "p95Nanos": .uint(p95), "share": .double(share),
        ])
    }
}

extension ErrorOrigin {
    var json: JSONField {
        .object([
            "service": .string(service), "operation": .string(operation), "exceptionType": .string(exceptionType), "count": .int(count),
            "exampleTraceIDs": .strings(exampleTraces.map(\.hex)),
        ])
    }
}

extension OperationStatistics {
    var json: JSONField {
        .object([
            "service": .string(service), "operation": .string(operation), "count": .int(count), "errorCount": .int(errorCount),
            "totalNanos": .uint(total), "selfNanos": .uint(selfTime), "minNanos": .uint(min), "maxNanos": .uint(max),
        ])
    }
}

extension TraceDiffNode {
    var json: JSONField {
        .object([
            "depth": .int(depth), "service": .string(service), "operation": .string(operation), "countA": .int(countA),
            "countB": .int(countB), "errorsA": .int(errorsA), "errorsB": .int(errorsB), "meanNanosA": .uint(meanA),
            "meanNanosB": .uint(meanB), "change": .string(change.rawValue),
        ])
    }
}

extension PopulationComparison.Side {
    var json: JSONField {
        .object([
            "spans": .int(spans), "errors": .int(errors), "errorRate": .double(errorRate), "p50Nanos": .uint(p50), "p95Nanos": .uint(p95),
            "p99Nanos": .uint(p99), "meanNanos": .double(mean),
        ])
    }
}

extension PopulationComparison.Operation {
    var json: JSONField {
        .object([
            "service": .string(service), "operation": .string(operation), "a": a.json, "b": b.json,
            "latencyPValue": .optionalDouble(latencyPValue), "errorPValue": .optionalDouble(errorPValue),
            "change": .object(["p50": .optionalDouble(change("p50")), "p95": .optionalDouble(change("p95")), "p99": .optionalDouble(change("p99"))]),
        ])
    }
}

extension ServiceGraph.Node {
    var json: JSONField { .object(["service": .string(service), "type": .string(type), "callsIn": .int(callsIn), "callsOut": .int(callsOut)]) }
}

extension DependencyLink {
    /// Jaeger's `/api/dependencies` element.
    var jaegerJSON: JSONField { .object(["parent": .string(parent), "child": .string(child), "callCount": .int(callCount)]) }

    /// A service-graph edge: rates over a window of `seconds`; the per-step series when asked for.
    func edgeJSON(seconds: Double, series withSeries: Bool) -> JSONField {
        let errorRate = callCount > 0 ? Double(errorCount) / Double(callCount) : 0
        let common: KeyValuePairs<String, JSONField> = [
            "parent": .string(parent), "child": .string(child), "connectionType": .string(connectionType), "callCount": .int(callCount),
            "errorCount": .int(errorCount), "errorRate": .double(errorRate), "ratePerSecond": .double(Double(callCount) / seconds),
            "p50Nanos": .uint(p50Duration), "p95Nanos": .uint(p95Duration), "p99Nanos": .uint(p99Duration),
        ]
        let steps = JSONField.array(series.map { .object(["start": .nanos($0.start), "calls": .int($0.calls), "errors": .int($0.errors)]) })
        return .object(common, then: withSeries ? ["series": steps] : [:])
    }
}
