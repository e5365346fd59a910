public import AriadneModel

/// Time spent per service and operation in one trace, as in Jaeger's trace statistics view.
public struct OperationStatistics: Equatable, Sendable {
    public var service: String
    public var operation: String
    public var count: Int
    public var errorCount: Int
    /// Sum of the spans' durations, ns.
    public var total: UInt64
    /// Sum of the time in these spans not covered by any of their children, ns.
    public var selfTime: UInt64
    public var min: UInt64
    public var max: UInt64

    public init(
        service: String, operation: String, count: Int, errorCount: Int, total: UInt64, selfTime: UInt64, min: UInt64,
        max: UInt64
    ) {
        self.service = service
        self.operation = operation
        self.count = count
        self.errorCount = errorCount
        self.total = total
        self.selfTime = selfTime
        self.min = min
        self.max = max
    }
}

public enum TraceStatistics {
    /// Each span's self time: its duration minus the union of its children's time within it.
    public static func selfTimes(_ tree: TraceTree) -> [UInt64] {
        let t = tree.trace
        return (0..<t.count).map { i in
            let s = t.startTimes[i]
            let e = max(s, t.endTimes[i])
            // Children are sorted by start, so their union is one sweep.
            var covered: UInt64 = 0
            var runStart: UInt64 = 0
            var runEnd: UInt64 = 0
            var open = false
            for c in tree.children[i] {
                let cs = Swift.max(s, t.startTimes[c])
                let ce = Swift.min(e, t.endTimes[c])
                guard ce > cs else { continue }
                if open && cs <= runEnd {
                    runEnd = Swift.max(runEnd, ce)
                } else {
                    if open { covered += runEnd - runStart }
                    (runStart, runEnd, open) = (cs, ce, true)
                }
            }
            if open { covered += runEnd - runStart }
            return (e - s) - covered
        }
    }

    /// One row per service and operation, by self time, largest first.
    public static func compute(_ tree: TraceTree) -> [OperationStatistics] {
        let t = tree.trace
        let selfTimes = selfTimes(tree)
        var rows = [String: OperationStatistics]()
        for i in 0..<t.count {
            let service = t.serviceName(ofSpan: i)
            let name = t.string(t.names[i])
            let d = t.duration(ofSpan: i)
            let key = service + "\u{0}" + name
            var row =
                rows[key]
                ?? OperationStatistics(
                    service: service, operation: name, count: 0, errorCount: 0, total: 0, selfTime: 0, min: .max, max: 0)
            row.count += 1
            if t.statusCodes[i] == .error { row.errorCount += 1 }
            row.total += d
            row.selfTime += selfTimes[i]
            row.min = Swift.min(row.min, d)
            row.max = Swift.max(row.max, d)
            rows[key] = row
        }
        return rows.values.sorted {
            $0.selfTime != $1.selfTime ? $0.selfTime > $1.selfTime : ($0.service, $0.operation) < ($1.service, $1.operation)
        }
    }
}
