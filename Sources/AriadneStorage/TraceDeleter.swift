public import AriadneModel

/// A store that can delete traces.
public protocol TraceDeleter: Sendable {
    /// Deletes every trace with a span matching `query` (its limit ignored) and the traces named
    /// in `ids`; durable and hidden from every read when it returns. Returns the ids deleted.
    func delete(matching query: TraceQuery?, ids: [TraceID]) async throws -> [TraceID]
}
