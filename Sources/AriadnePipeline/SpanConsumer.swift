public import AriadneModel

/// The one edge type between pipeline stages, after the OpenTelemetry Collector's
/// `consumer.Traces`: a receiver feeds a consumer; a processor is a consumer that feeds another.
///
/// Contract: when `consume` returns, the consumer has taken responsibility for the batch (for a
/// store: it is queryable, or durable where the store promises durability). When it throws, the
/// batch was not taken and the error says whether the sender may retry (``IngestError``).
/// Implementations must be safe to call concurrently.
public protocol SpanConsumer: Sendable {
    func consume(_ batch: SpanBatch) async throws
}

/// A failure to take spans, classified once as permanent or retryable so that receivers map it
/// to HTTP and gRPC in one place (OTLP specification, "Failures" and "Throttling").
public struct IngestError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The data can never be accepted (HTTP 400, gRPC INVALID_ARGUMENT).
        case invalidData
        /// The body exceeds the size limit (HTTP 413, gRPC RESOURCE_EXHAUSTED without retry info).
        case tooLarge
        /// The content type is not one we decode (HTTP 415).
        case unsupportedMediaType
        /// Load shed on purpose (in-flight limit, memory limiter, a full queue): retry later
        /// (HTTP 429 + Retry-After, gRPC UNAVAILABLE).
        case throttled
        /// The store cannot take the spans now (it is behind, or failed in a way that may pass):
        /// retry later (HTTP 503 + Retry-After, gRPC UNAVAILABLE).
        case unavailable
        /// The store failed and will fail again: not retryable (HTTP 500, gRPC INTERNAL).
        case `internal`
    }

    public var code: Code
    public var message: String
    /// Seconds the client should wait before retrying a retryable error.
    public var retryAfterSeconds: Int

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int = 1) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var isRetryable: Bool { code == .throttled || code == .unavailable }

    public var description: String { message }
}

/// Feeds every batch to each of several consumers in turn.
public struct FanOutConsumer: SpanConsumer {
    public let consumers: [any SpanConsumer]

    public init(_ consumers: [any SpanConsumer]) { self.consumers = consumers }

    public func consume(_ batch: SpanBatch) async throws {
        for c in consumers { try await c.consume(batch) }
    }
}
