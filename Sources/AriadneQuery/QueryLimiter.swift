import Dispatch
import Synchronization

/// Where queries run, how many at once, and for how long.
public struct QueryLimits: Sendable {
    /// A query still running after this is cancelled and answered 503 (the default is Grafana's
    /// data-source timeout).
    public var timeout: Duration
    /// Queries running at once; more wait their turn.
    public var maxConcurrent: Int
    /// Queries waiting for a turn; more are refused at once as throttled (429).
    public var maxWaiting: Int

    public init(timeout: Duration = .seconds(30), maxConcurrent: Int = 4, maxWaiting: Int = 64) {
        self.timeout = timeout
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxWaiting = max(0, maxWaiting)
    }
}

/// Runs queries on threads of their own, a bounded number at once, each within its deadline.
///
/// Searches are CPU-bound loops over blocks and batches. On the cooperative pool (one thread
/// per core) two long ones would leave no thread for ingest or `/health`; on this executor's
/// threads the OS shares the cores instead. Stores check for cancellation between blocks and
/// batches, so a query past its deadline stops and frees its turn.
public final class QueryLimiter: Sendable {
    public let limits: QueryLimits
    let executor = QueryExecutor()

    struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        var running = 0
        var waiting: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init(_ limits: QueryLimits = QueryLimits()) {
        self.limits = limits
    }

    /// Queries running now.
    public var running: Int { state.withLock { $0.running } }

    /// Runs `body` once a turn is free, on the query threads, and cancels it at the deadline.
    public func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws(QueryError) -> T {
        let timeout = limits.timeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await self.acquire()
                    defer { self.release() }
                    return try await withTaskExecutorPreference(self.executor) { try await body() }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else {
                    throw QueryError(
                        .unavailable, "the query ran longer than \(Self.text(timeout)); narrow the time range or the conditions")
                }
                return value
            }
        } catch {
            throw QueryError.classify(error)
        }
    }

    static func text(_ d: Duration) -> String {
        let s = d.components.seconds
        return s >= 1 ? "\(s)s" : "\(d.components.attoseconds / 1_000_000_000_000_000)ms"
    }

    private func acquire() async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                // One lock decides: a free turn, a place in the queue, or a refusal, so that a
                // turn freed meanwhile cannot be missed.
                let decided: Result<Void, any Error>? = state.withLock { s in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.running < limits.maxConcurrent {
                        s.running += 1
                        return .success(())
                    }
                    guard s.waiting.count < limits.maxWaiting else {
                        return .failure(QueryError(.throttled, "too many queries at once; retry shortly"))
                    }
                    s.waiting.append(Waiter(id: id, continuation: c))
                    return nil
                }
                if let decided { c.resume(with: decided) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let k = s.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiting.remove(at: k)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Hands the turn to the oldest waiter, or frees it.
    private func release() {
        let next = state.withLock { s -> Waiter? in
            if s.waiting.isEmpty {
                s.running -= 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.continuation.resume()
    }
}

/// Runs jobs on a concurrent dispatch queue: threads outside Swift's cooperative pool.
final class QueryExecutor: TaskExecutor {
    let queue = DispatchQueue(label: "ariadne.query", qos: .utility, attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
