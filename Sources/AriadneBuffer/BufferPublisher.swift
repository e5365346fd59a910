public import AriadneModel
public import AriadnePipeline
import AriadneWire

/// Where the buffer between collectors and ingesters is, and its shape.
public struct BufferSettings: Sendable {
    /// NATS servers (`nats://host:port`), any of which leads to the JetStream cluster.
    public var urls: [String] = []
    /// The stream; its subjects are `<subjectPrefix>.<partition>`.
    public var stream = "ARIADNE_SPANS"
    public var subjectPrefix = "ariadne.spans"
    /// Partitions by trace id: a trace's spans are always in one, read by one ingester at a time.
    public var partitions = 16
    /// What the stream keeps at most (the design's Kafka retention: 1 h); past that, or past
    /// `maxBytes`, collectors are refused rather than old spans dropped unread.
    public var maxAge: Duration = .seconds(3600)
    public var maxBytes: Int64 = 1 << 30
    /// Copies of each message in the JetStream cluster; nil: 3 with several servers, else 1.
    public var replicas: Int?
    /// How long a collector gathers the parts of concurrent requests bound for one partition
    /// into one message (up to `coalesceSpans`); zero publishes each request's part alone.
    /// JetStream's cost is per message, and a 512-span SDK batch split 16 ways is small.
    public var coalesce: Duration = .milliseconds(5)
    public var coalesceSpans = 1024

    public init() {}

    public var effectiveReplicas: Int { replicas ?? (urls.count > 1 ? 3 : 1) }

    public func subject(_ partition: Int) -> String { "\(subjectPrefix).\(partition)" }

    public var streamSettings: JetStreamConnection.StreamSettings {
        .init(name: stream, subjects: ["\(subjectPrefix).*"], maxAge: maxAge, maxBytes: maxBytes, replicas: effectiveReplicas)
    }

    /// The partition of a trace: the same in every process (no per-process hash seed).
    public func partition(of id: TraceID) -> Int {
        var h = id.high ^ (id.low &* 0x9E37_79B9_7F4A_7C15)
        h ^= h >> 31
        return Int(h % UInt64(partitions))
    }
}

/// The collector's end of the pipeline: each batch split by trace partition, the parts bound for
/// one partition from concurrent requests gathered into one OTLP protobuf message (for
/// `coalesce`), and each batch taken only when JetStream acknowledged every message holding its
/// spans. A message's id is a hash of its bytes: without coalescing a sender's retry of the same
/// spans is stored once by JetStream; with it the retry lands in another message, and the
/// store's idempotence shows its spans once.
public final class BufferPublisher: SpanConsumer {
    let settings: BufferSettings
    let connection: JetStreamConnection
    let metrics: PipelineMetrics
    /// Per partition, the parts of concurrent requests gathered into one message.
    let partitions: [GroupCommit<SpanBatch>]
    static let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    /// Largest message published, under NATS's default max_payload of 1 MiB.
    static let maxMessageBytes = 900_000

    /// The tenant of the spans it publishes, in each message's `Ariadne-Tenant` header (nil:
    /// the default tenant, no header).
    let tenant: String?
    /// The header naming a message's tenant.
    public static let tenantHeader = "Ariadne-Tenant"

    public init(settings: BufferSettings, connection: JetStreamConnection, metrics: PipelineMetrics, tenant: String? = nil) {
        self.settings = settings
        self.connection = connection
        self.metrics = metrics
        self.tenant = tenant
        partitions = (0..<settings.partitions).map { p in
            GroupCommit(
                maxCount: settings.coalesceSpans, interval: settings.coalesce, empty: { SpanBatch() },
                merge: { pending, part in
                    if pending.isEmpty { pending = part } else { pending.append(from: part, indices: 0..<part.count) }
                },
                commit: { batch in
                    try await Self.publish(batch, partition: p, tenant: tenant, settings: settings, connection: connection, metrics: metrics)
                })
        }
        metrics.describe("ariadne_buffer_publish_duration_seconds", "Time to publish a message and have JetStream acknowledge it.", type: .histogram)
        metrics.describe("ariadne_buffer_messages_published_total", "Messages JetStream acknowledged, by whether it had them already.")
        metrics.describe("ariadne_buffer_spans_published_total", "Spans in messages JetStream acknowledged.")
        metrics.describe("ariadne_buffer_publish_failures_total", "Publishes not acknowledged, by reason (unavailable, full).")
    }

    public func consume(_ batch: SpanBatch) async throws {
        guard !batch.isEmpty else { return }
        var parts = [Int: [Int]]()
        for i in 0..<batch.count { parts[settings.partition(of: batch.traceIDs[i]), default: []].append(i) }
        let coalesce = settings.coalesce > .zero
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (p, indices) in parts {
                var part = SpanBatch()
                part.append(from: batch, indices: indices)
                group.addTask { [self] in
                    if coalesce {
                        try await partitions[p].submit(part, count: part.count)
                    } else {
                        try await Self.publish(part, partition: p, tenant: tenant, settings: settings, connection: connection, metrics: metrics)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// One message: its id a hash of its bytes, so that publishing the same bytes again inside
    /// the duplicate window (a retried publish) stores them once.
    static func publish(
        _ part: SpanBatch, partition p: Int, tenant: String?, settings: BufferSettings, connection: JetStreamConnection,
        metrics: PipelineMetrics
    ) async throws {
        let bytes = OTLPProtobuf.encodeExportRequest(part)
        if bytes.count > maxMessageBytes {
            // NATS refuses messages over its max_payload (1 MiB by default): halves, each its own message.
            guard part.count > 1 else {
                throw IngestError(.invalidData, "a span of \(bytes.count) bytes exceeds the buffer's message limit of \(maxMessageBytes) bytes")
            }
            for half in [0..<part.count / 2, part.count / 2..<part.count] {
                var h = SpanBatch()
                h.append(from: part, indices: half)
                try await publish(h, partition: p, tenant: tenant, settings: settings, connection: connection, metrics: metrics)
            }
            return
        }
        // The tenant is part of the id: the same spans from two tenants are two messages.
        let subject = settings.subject(p)
        let id = "\(p)-\(MessageID.of(bytes))" + (tenant.map { "-" + MessageID.of(Array($0.utf8)) } ?? "")
        let headers = tenant.map { [(tenantHeader, $0)] } ?? []
        let started = ContinuousClock.now
        do {
            let duplicate = try await Blocking.run { try connection.publish(subject: subject, bytes: bytes, messageID: id, headers: headers) }
            metrics.observe("ariadne_buffer_publish_duration_seconds", seconds: (ContinuousClock.now - started).inSeconds, buckets: buckets)
            metrics.add("ariadne_buffer_messages_published_total", 1, ["duplicate": duplicate ? "true" : "false"])
            if !duplicate { metrics.add("ariadne_buffer_spans_published_total", part.count) }
        } catch let e as BufferError {
            metrics.add("ariadne_buffer_publish_failures_total", 1, ["reason": e.isFull ? "full" : "unavailable"])
            // Both are for the sender to retry later (503 + Retry-After, UNAVAILABLE).
            throw e.isFull
                ? IngestError(.unavailable, "the buffer is full (stream \(settings.stream)): try again later", retryAfterSeconds: 5)
                : IngestError(.unavailable, "the buffer is unavailable: \(e.message)", retryAfterSeconds: 2)
        }
    }
}

/// 128 bits of two FNV-1a hashes of a message's bytes, as hex: the same bytes, the same id.
enum MessageID {
    static func of(_ bytes: [UInt8]) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4
        for x in bytes {
            a = (a ^ UInt64(x)) &* 0x100_0000_01b3
            b = (b ^ UInt64(x)) &* 0x0000_0100_0000_01b3 &+ 1
        }
        return hex(a) + hex(b) + "-\(bytes.count)"
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
