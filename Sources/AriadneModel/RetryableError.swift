/// An error that knows whether trying again later can succeed: a store that is behind, a
/// buffer that is full. Receivers and the query service classify failures by it (the Collector's
/// `consumererror` makes the same split) instead of by message text.
public protocol RetryableError: Error {
    var isRetryable: Bool { get }
}
