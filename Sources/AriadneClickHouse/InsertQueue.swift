/// Gathers the rows of concurrent writes into one insert per table, and answers each write when
/// the insert holding it has been answered: ClickHouse prefers few large inserts (each makes a
/// part to merge), senders want their spans acknowledged only once stored.
actor InsertQueue {
    let client: ClickHouseClient
    let maxSpans: Int
    let interval: Duration

    private var pending = SpanRows()
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    private var timer: Task<Void, Never>?

    init(client: ClickHouseClient, maxSpans: Int, interval: Duration) {
        self.client = client
        self.maxSpans = maxSpans
        self.interval = interval
    }

    /// Returns when `rows` are in ClickHouse; throws what the insert threw.
    func add(_ rows: SpanRows) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            pending.spans.out += rows.spans.out
            pending.traces.out += rows.traces.out
            pending.operations.out += rows.operations.out
            pending.count += rows.count
            waiters.append(c)
            if pending.count >= maxSpans {
                flush()
            } else if timer == nil {
                timer = Task { [interval] in
                    try? await Task.sleep(for: interval)
                    self.flush()
                }
            }
        }
    }

    /// Hands what is pending to an insert of its own (several may be in flight).
    private func flush() {
        timer?.cancel()
        timer = nil
        guard !waiters.isEmpty else { return }
        let rows = pending
        let answered = waiters
        pending = SpanRows()
        waiters = []
        Task { [client] in
            do {
                // `traces` first: a span found by search is then always readable by id.
                try await client.insert("traces", columns: SpanRows.traceColumns, rows: rows.traces.out)
                try await client.insert("spans", columns: SpanRows.spanColumns, rows: rows.spans.out)
                try await client.insert("operations", columns: SpanRows.operationColumns, rows: rows.operations.out)
                for c in answered { c.resume() }
            } catch {
                for c in answered { c.resume(throwing: error) }
            }
        }
    }
}
