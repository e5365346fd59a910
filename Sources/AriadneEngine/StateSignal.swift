import Synchronization

/// Wakes the tasks waiting for the engine's state to change — a cut finished, the head switched,
/// the last write into an old head finished — instead of their polling it with sleeps.
///
/// A waiter reads `generation`, checks its condition, and if it must wait calls
/// `wait(after:)` with the generation it read: a change signalled in between ends the wait at
/// once, so no wake-up is lost.
final class StateSignal: Sendable {
    private struct State: ~Copyable {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Something changed: every waiter checks its condition again.
    func broadcast() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation &+= 1
            guard !s.waiters.isEmpty else { return [] }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for c in woken { c.resume() }
    }

    /// Returns once the generation has moved past `seen`, or the task is cancelled.
    func wait(after seen: UInt64) async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // Cancellation before this point is seen here (its handler found nothing to resume).
                let now = state.withLock { s -> Bool in
                    if s.generation != seen || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// As `wait(after:)`, giving up after `timeout`.
    func wait(after seen: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(after: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}
