public import AriadneModel
import Foundation
import Synchronization

/// What RED metrics are kept per: the spanmetrics connector's dimensions.
public struct REDKey: Hashable, Sendable, Comparable {
    public var service: String
    public var operation: String
    public var kind: SpanKind
    public var status: StatusCode

    public init(service: String, operation: String, kind: SpanKind, status: StatusCode) {
        self.service = service
        self.operation = operation
        self.kind = kind
        self.status = status
    }

    public static func < (a: REDKey, b: REDKey) -> Bool {
        (a.service, a.operation, a.kind.rawValue, a.status.rawValue) < (b.service, b.operation, b.kind.rawValue, b.status.rawValue)
    }
}

/// Rate, errors and duration of some keys over one window.
public struct REDPoint: Sendable, Equatable {
    /// Window start, Unix ns.
    public var start: UInt64
    public var errors: UInt64
    public var latency: LatencyHistogram

    public init(start: UInt64, errors: UInt64 = 0, latency: LatencyHistogram = LatencyHistogram()) {
        self.start = start
        self.errors = errors
        self.latency = latency
    }

    public var calls: UInt64 { latency.count }
    public var errorRate: Double { calls == 0 ? 0 : Double(errors) / Double(calls) }

    public mutating func merge(_ cell: LatencyHistogram, isError: Bool) {
        latency.merge(cell)
        if isError { errors += cell.count }
    }

    /// Several windows as one point starting at `start`.
    public init(start: UInt64, merging points: some Sequence<REDPoint>) {
        self.init(start: start)
        for p in points {
            latency.merge(p.latency)
            errors += p.errors
        }
    }
}

/// RED metrics of every span that enters the pipeline, before any sampling: a histogram per
/// (service, operation, kind, status) and time window, plus running totals for Prometheus.
///
/// A span counts in the window of its end time (when the call completed), so that spans arriving
/// late still land where they happened. What was recorded since the last ``takeUnsaved()`` is kept
/// apart, so that a persistence layer appends deltas instead of rewriting windows.
public final class SpanMetrics: Sendable {
    /// Window length, ns.
    public let interval: UInt64
    /// Windows older than this (ns before the newest) are dropped.
    public let retention: UInt64

    struct State {
        var windows: [UInt64: [REDKey: LatencyHistogram]] = [:]
        var unsaved: [UInt64: [REDKey: LatencyHistogram]] = [:]
        var totals: [REDKey: LatencyHistogram] = [:]
        /// Every key in `windows`, kept so that alerts need not walk every window to find services.
        var keys: Set<REDKey> = []
        var newestWindow: UInt64 = 0
        var oldestWindow: UInt64 = .max
    }

    private let state = Mutex(State())

    public init(interval: Duration = .seconds(60), retention: Duration = .seconds(48 * 3600)) {
        self.interval = max(1, UInt64(interval.inSeconds * 1e9))
        self.retention = UInt64(retention.inSeconds * 1e9)
    }

    /// The start of the window holding time `t` (Unix ns).
    public func windowStart(_ t: UInt64) -> UInt64 { t - t % interval }

    /// How far past the clock a span may end and still get a window: further, and a single span
    /// with a wrong clock would move the newest window ahead and retire every real one.
    public static let futureAllowance: UInt64 = 3600 * 1_000_000_000

    /// Counts every span of `batch`. `now` (Unix ns, default the clock) bounds how far ahead a window may be.
    /// A span's key by its operation's number in the batch, with its window.
    private struct Cell: CheaplyHashed {
        var operation: Int32
        var status: Int32
        /// `future` for a span that ends too far ahead to have a window.
        var window: UInt64

        static let future = UInt64.max

        var cheapHash: UInt64 { (UInt64(UInt32(bitPattern: operation)) << 32 | UInt64(UInt32(bitPattern: status))) ^ window }
    }

    public func record(_ batch: SpanBatch, now: UInt64? = nil) {
        guard !batch.isEmpty else { return }
        let now = now ?? UInt64(Date().timeIntervalSince1970 * 1e9)
        // Spans are grouped by operation, status and window first: a key of two strings made and
        // hashed per span was most of this. Keys are made per group.
        let services = batch.serviceNumbers()
        let operations = batch.operationNumbers(services: services.ofScope).ofSpan
        var cells = FirstSightIndex<Cell>()
        var firstRow = [Int]()
        var histograms = [LatencyHistogram]()
        for i in 0..<batch.count {
            let end = batch.endTimes[i]
            let cell = Cell(
                operation: operations[i], status: batch.statusCodes[i].rawValue,
                window: end > now + Self.futureAllowance ? Cell.future : windowStart(end))
            let (c, new) = cells.insert(cell)
            if new {
                firstRow.append(i)
                histograms.append(LatencyHistogram())
            }
            histograms[c].record(nanoseconds: batch.duration(ofSpan: i))
        }
        var local = [UInt64: [REDKey: LatencyHistogram]]()
        var future = [REDKey: LatencyHistogram]()
        for (c, cell) in cells.keys.enumerated() {
            let i = firstRow[c]
            let key = REDKey(
                service: services.names[Int(services.ofScope[Int(batch.scopeIndices[i])])], operation: batch.string(batch.names[i]),
                kind: batch.kinds[i], status: batch.statusCodes[i])
            if cell.window == Cell.future {
                future[key, default: LatencyHistogram()].merge(histograms[c])
            } else {
                local[cell.window, default: [:]][key, default: LatencyHistogram()].merge(histograms[c])
            }
        }
        add(local, unsaved: true, totals: true)
        // Counted for Prometheus, which has no windows, but kept out of the rollups.
        if !future.isEmpty { state.withLock { s in for (k, h) in future { s.totals[k, default: LatencyHistogram()].merge(h) } } }
    }

    /// Adds histograms read back from disk: they join the windows (not the process's totals, which
    /// Prometheus reads as counters of this process) and are not saved again.
    public func restore(window: UInt64, key: REDKey, histogram: LatencyHistogram) {
        add([window: [key: histogram]], unsaved: false, totals: false)
    }

    private func add(_ local: [UInt64: [REDKey: LatencyHistogram]], unsaved: Bool, totals: Bool) {
        state.withLock { s in
            for (w, cells) in local {
                for (k, h) in cells {
                    s.windows[w, default: [:]][k, default: LatencyHistogram()].merge(h)
                    if unsaved { s.unsaved[w, default: [:]][k, default: LatencyHistogram()].merge(h) }
                    if totals { s.totals[k, default: LatencyHistogram()].merge(h) }
                    s.keys.insert(k)
                }
                s.newestWindow = max(s.newestWindow, w)
                s.oldestWindow = min(s.oldestWindow, w)
            }
            if retention > 0, s.newestWindow > retention {
                let oldest = s.newestWindow - retention
                if s.oldestWindow < oldest {
                    s.windows = s.windows.filter { $0.key >= oldest }
                    s.keys = s.windows.values.reduce(into: Set<REDKey>()) { $0.formUnion($1.keys) }
                    s.oldestWindow = s.windows.keys.min() ?? .max
                }
            }
        }
    }

    /// What was recorded since it was last taken, by window and key, for windows that start
    /// before `before` (by default all): a window still filling is better written once, complete.
    public func takeUnsaved(before: UInt64 = .max) -> [UInt64: [REDKey: LatencyHistogram]] {
        state.withLock { s in
            let taken = s.unsaved.filter { $0.key < before }
            for w in taken.keys { s.unsaved[w] = nil }
            return taken
        }
    }

    /// Running totals per key since this process started: Prometheus counters.
    public func totals() -> [(key: REDKey, histogram: LatencyHistogram)] {
        state.withLock { $0.totals }.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }
    }

    /// Every key with a span in any kept window.
    public func keys() -> Set<REDKey> { state.withLock { $0.keys } }

    /// Per group, one point per window in `from..<to` that has spans, oldest first: the cells of
    /// keys `include` accepts, merged under the group `groupOf` names (e.g. the service, or the
    /// service and operation).
    public func series<G: Hashable>(
        from: UInt64, to: UInt64, include: (REDKey) -> Bool = { _ in true }, groupOf: (REDKey) -> G
    ) -> [G: [REDPoint]] {
        let windows = state.withLock { s in s.windows.filter { $0.key >= windowStart(from) && $0.key < to } }
        var out = [G: [UInt64: REDPoint]]()
        for (w, cells) in windows {
            for (k, h) in cells where include(k) {
                out[groupOf(k), default: [:]][w, default: REDPoint(start: w)].merge(h, isError: k.status == .error)
            }
        }
        return out.mapValues { $0.values.sorted { $0.start < $1.start } }
    }

    /// The keys `include` accepts merged over `from..<to`.
    public func total(from: UInt64, to: UInt64, include: (REDKey) -> Bool) -> REDPoint {
        REDPoint(start: windowStart(from), merging: series(from: from, to: to, include: include, groupOf: { _ in 0 })[0] ?? [])
    }
}
