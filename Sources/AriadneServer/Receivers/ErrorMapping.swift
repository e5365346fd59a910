import AriadnePipeline
import AriadneWire
import GRPCCore
import HTTPTypes

/// The one place where ingest failures become HTTP and gRPC answers, per the OTLP
/// specification (protocol/otlp.md, "Failures" and "OTLP/HTTP Throttling"):
/// bad data → 400 / INVALID_ARGUMENT (not retryable); over the size limit → 413 /
/// RESOURCE_EXHAUSTED; unknown content type → 415; load shed on purpose → 429, store unavailable →
/// 503, both with Retry-After / UNAVAILABLE (retryable); a store failing for good → 500 / INTERNAL.
enum ErrorMapping {
    static func httpStatus(_ e: IngestError) -> HTTPResponse.Status {
        switch e.code {
        case .invalidData: return .badRequest
        case .tooLarge: return .contentTooLarge
        case .unsupportedMediaType: return .unsupportedMediaType
        case .throttled: return .tooManyRequests
        case .unavailable: return .serviceUnavailable
        case .internal: return .internalServerError
        }
    }

    /// The google.rpc.Status code carried in the HTTP error body.
    static func rpcCode(_ e: IngestError) -> RPCError.Code {
        switch e.code {
        case .invalidData: return .invalidArgument
        case .tooLarge: return .resourceExhausted
        case .unsupportedMediaType: return .invalidArgument
        case .throttled, .unavailable: return .unavailable
        case .internal: return .internalError
        }
    }

    static func rpcError(_ e: IngestError) -> RPCError {
        RPCError(code: rpcCode(e), message: e.message)
    }

    /// The HTTP error body: a google.rpc.Status in the request's encoding.
    static func statusBody(_ e: IngestError, json: Bool) -> [UInt8] {
        let code = Int32(rpcCode(e).rawValue)
        return json
            ? OTLPJSON.encodeStatus(code: code, message: e.message)
            : OTLPProtobuf.encodeStatus(code: code, message: e.message)
    }
}
