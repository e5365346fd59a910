import Synchronization

/// Gathers concurrent submissions into one batch and answers each when the batch holding it has
/// been committed (or failed): for sinks that prefer few large writes — a ClickHouse insert makes
/// a part to merge, a JetStream message costs the same to store and replicate whatever its size —
/// while every sender must hear back only once its own items are safe.
///
/// A batch is committed when it holds `maxCount` items or `interval` after its first item,
/// whichever comes first; several commits may be in flight at once.
public actor GroupCommit<Batch: Sendable> {
    let maxCount: Int
    let interval: Duration
    let empty: @Sendable () -> Batch
    let merge: @Sendable (inout Batch, Batch) -> Void
    let commit: @Sendable (Batch) async throws -> Void

    private var pending: Batch
    private var count = 0
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    private var timer: Task<Void, Never>?

    public init(
        maxCount: Int, interval: Duration, empty: @escaping @Sendable () -> Batch, merge: @escaping @Sendable (inout Batch, Batch) -> Void,
        commit: @escaping @Sendable (Batch) async throws -> Void
    ) {
        self.maxCount = maxCount
        self.interval = interval
        self.empty = empty
        self.merge = merge
        self.commit = commit
        pending = empty()
    }

    /// Returns when `items` (counting `n`) are committed; throws what their commit threw.
    public func submit(_ items: Batch, count n: Int) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            merge(&pending, items)
            count += n
            waiters.append(c)
            if count >= maxCount {
                flush()
            } else if timer == nil {
                timer = Task { [interval] in
                    try? await Task.sleep(for: interval)
                    self.flush()
                }
            }
        }
    }

    /// Hands what is pending to a commit of its own.
    private func flush() {
        timer?.cancel()
        timer = nil
        guard !waiters.isEmpty else { return }
        let batch = pending
        let answered = waiters
        pending = empty()
        count = 0
        waiters = []
        Task { [commit] in
            do {
                try await commit(batch)
                for c in answered { c.resume() }
            } catch {
                for c in answered { c.resume(throwing: error) }
            }
        }
    }
}

/// A flag set once and read from anywhere: a part that is ready, a loop asked to finish.
public final class Latch: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func set() { flag.store(true, ordering: .releasing) }
    public var isSet: Bool { flag.load(ordering: .acquiring) }
}
