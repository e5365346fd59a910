import AriadneModel

/// Gathers the rows of concurrent writes into one insert per table, and answers each write when
/// the insert holding it has been answered: ClickHouse prefers few large inserts (each makes a
/// part to merge), senders want their spans acknowledged only once stored.
struct InsertQueue: Sendable {
    let group: GroupCommit<SpanRows>

    init(client: ClickHouseClient, maxSpans: Int, interval: Duration) {
        group = GroupCommit(
            maxCount: maxSpans, interval: interval, empty: { SpanRows() },
            merge: { pending, rows in
                pending.spans.out += rows.spans.out
                pending.traces.out += rows.traces.out
                pending.operations.out += rows.operations.out
                pending.count += rows.count
            },
            commit: { rows in
                // `traces` first: a span found by search is then always readable by id.
                try await client.insert("traces", columns: SpanRows.traceColumns, rows: rows.traces.out)
                try await client.insert("spans", columns: SpanRows.spanColumns, rows: rows.spans.out)
                try await client.insert("operations", columns: SpanRows.operationColumns, rows: rows.operations.out)
            })
    }

    /// Returns when `rows` are in ClickHouse; throws what the insert threw.
    func add(_ rows: SpanRows) async throws { try await group.submit(rows, count: rows.count) }
}
