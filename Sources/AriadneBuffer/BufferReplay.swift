/// Publishes again what the stream holds since a moment, for the ingesters to take once more
/// (after a store lost data, say): they sample and store it as the first time, and the store's
/// idempotence keeps every span once in answers. Reads up to the stream's end as it was when the
/// replay began, so that it never reads its own copies.
public struct BufferReplay: Sendable {
    let settings: BufferSettings
    let connection: JetStreamConnection

    public init(settings: BufferSettings, connection: JetStreamConnection) {
        self.settings = settings
        self.connection = connection
    }

    public struct Progress: Sendable {
        public var messages = 0
        public var total = 0
    }

    /// Replays messages stored since `since` (ns since the epoch); `progress` is told as it goes.
    public func run(since: Int64, progress: @escaping @Sendable (Progress) -> Void) async throws -> Progress {
        let connection = self.connection, settings = self.settings
        let end = try await Blocking.run { try connection.streamState(settings.stream).lastSequence }
        let durable = "ariadne-replay-\(since)-\(end)"
        let subscription = try await Blocking.run { try connection.replaySubscription(stream: settings.stream, durable: durable, since: since) }
        defer { connection.deleteConsumer(stream: settings.stream, durable: durable) }
        var p = Progress()
        p.total = Int((try? await Blocking.run { try connection.consumerLag(stream: settings.stream, durable: durable).pending }) ?? 0)
        progress(p)
        var done = false
        while !done {
            let messages = try await Blocking.run { try subscription.fetch(max: 256, timeout: .seconds(2)) }
            if messages.isEmpty { break }
            for m in messages {
                let seq = m.streamSequence
                if seq > end {
                    done = true
                    break
                }
                // A new id: the original's was seen by the duplicate window and would be dropped.
                let id = "replay-\(seq)-\(since)"
                var attempt = 0
                while true {
                    do {
                        try await Blocking.run { try connection.publish(subject: m.subject, bytes: m.bytes, messageID: id, headers: m.tenantHeaders) }
                        break
                    } catch let e as BufferError where e.isRetryable && attempt < 60 {
                        // Full (the ingesters are behind) or failing over: wait and try again.
                        attempt += 1
                        try await Task.sleep(for: .seconds(1))
                    }
                }
                p.messages += 1
                if seq == end { done = true }
            }
            progress(p)
        }
        subscription.unsubscribe()
        return p
    }
}
