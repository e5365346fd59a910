public import AriadneModel
import AriadneStorage

/// Why a query failed, in the few kinds every API dialect distinguishes. Each dialect renders
/// them in its own shape (Jaeger v1's `errors` envelope, api/v3's `{"error": …}`); the kind
/// decides the HTTP status.
public struct QueryError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The request cannot be answered as written (HTTP 400).
        case badRequest
        /// What was asked for does not exist (HTTP 404).
        case notFound
        /// Too many queries at once: try again shortly (HTTP 429 + Retry-After).
        case throttled
        /// The store cannot answer now, or the query ran past its deadline (HTTP 503 +
        /// Retry-After).
        case unavailable
        /// The store refused the operation and will again (HTTP 501/500: a store that cannot
        /// delete, a damaged file).
        case permanent
        /// Anything unexpected: an opaque 500, logged with the cause.
        case `internal`
    }

    public var code: Code
    public var message: String
    /// The error underneath, for the log; never shown to the client for `.internal`.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public static func badRequest(_ message: String) -> QueryError { QueryError(.badRequest, message) }
    public static func notFound(_ message: String) -> QueryError { QueryError(.notFound, message) }

    public var isRetryable: Bool { code == .throttled || code == .unavailable }

    public var description: String {
        cause.map { "\(code.rawValue): \(message) (\($0))" } ?? "\(code.rawValue): \(message)"
    }

    /// Any error a store or an analysis threw, classified once: query errors stay as they are,
    /// a filter that cannot run is the caller's mistake, a retryable store error is
    /// `.unavailable`, cancellation is `.unavailable` (the deadline passed or the client left),
    /// and the rest is `.internal`.
    public static func classify(_ error: any Error) -> QueryError {
        switch error {
        case let e as QueryError: return e
        case let e as FilterError: return .badRequest(e.description)
        case is CancellationError: return QueryError(.unavailable, "the query was cancelled")
        case let e as any RetryableError where e.isRetryable:
            return QueryError(.unavailable, "the store is busy; retry later", cause: e as? any Error & Sendable)
        default:
            return QueryError(.internal, "internal error", cause: error)
        }
    }
}
