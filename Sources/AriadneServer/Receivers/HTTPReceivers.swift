import AriadneModel
import AriadnePipeline
import AriadneWire
import HTTPTypes
import Hummingbird
import NIOCore

/// OTLP/HTTP (`POST /v1/traces`, protobuf or JSON), Zipkin v2 (`POST /api/v2/spans`, JSON) and
/// Jaeger's collector (`POST /api/traces`, Thrift).
///
/// Both read the body up to the size limit, inflate `Content-Encoding: gzip` with the same
/// limit (so a gzip bomb is a 413, not an out-of-memory), admit it against the in-flight budget,
/// and answer in the request's content type (OTLP/HTTP spec, "OTLP/HTTP Response").
struct HTTPReceivers {
    let ingestor: Ingestor

    func addOTLPRoutes(to router: Router<AriadneRequestContext>) {
        router.post("/v1/traces") { request, context -> Response in
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            let format: IngestFormat
            let json: Bool
            if contentType.hasPrefix("application/x-protobuf") || contentType.hasPrefix("application/protobuf") {
                format = .otlpProtobuf
                json = false
            } else if contentType.hasPrefix("application/json") {
                format = .otlpJSON
                json = true
            } else {
                let e = IngestError(
                    .unsupportedMediaType,
                    "unsupported content type '\(contentType)': use application/x-protobuf or application/json")
                return errorResponse(e, json: false)
            }
            do throws(IngestError) {
                let outcome = try await receive(request, format: format, receiver: "otlp", transport: "http", principal: context.principal)
                let body =
                    json
                    ? OTLPJSON.encodeExportResponse(rejectedSpans: Int64(outcome.rejected), errorMessage: outcome.message)
                    : OTLPProtobuf.encodeExportResponse(rejectedSpans: Int64(outcome.rejected), errorMessage: outcome.message)
                return response(.ok, body, contentType: json ? "application/json" : "application/x-protobuf")
            } catch {
                return errorResponse(error, json: json)
            }
        }
    }

    func addZipkinRoutes(to router: Router<AriadneRequestContext>) {
        router.post("/api/v2/spans") { request, context -> Response in
            let contentType = request.headers[.contentType]?.lowercased() ?? "application/json"
            guard contentType.hasPrefix("application/json") || contentType.isEmpty else {
                return errorResponse(
                    IngestError(.unsupportedMediaType, "unsupported content type '\(contentType)': use application/json"),
                    json: true)
            }
            do throws(IngestError) {
                let outcome = try await receive(
                    request, format: .zipkinJSON, receiver: "zipkin", transport: "http", principal: context.principal)
                return accepted(outcome)
            } catch {
                return errorResponse(error, json: true)
            }
        }
    }

    /// Jaeger's collector endpoint (`POST /api/traces` on 14268): a Thrift `Batch` in the binary
    /// protocol, as jaeger-client's HTTP senders and the OTel Jaeger exporter post it; 202 when taken.
    func addJaegerThriftRoutes(to router: Router<AriadneRequestContext>) {
        router.post("/api/traces") { request, context -> Response in
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            guard contentType.hasPrefix("application/x-thrift") || contentType.hasPrefix("application/vnd.apache.thrift.binary") else {
                return errorResponse(
                    IngestError(
                        .unsupportedMediaType,
                        "unsupported content type '\(contentType)': use application/x-thrift or application/vnd.apache.thrift.binary"),
                    json: true)
            }
            if let format = request.uri.queryParameters["format"], format != "jaeger.thrift" {
                return errorResponse(IngestError(.invalidData, "unsupported format '\(format)': use jaeger.thrift"), json: true)
            }
            do throws(IngestError) {
                let outcome = try await receive(
                    request, format: .jaegerThriftBatch, receiver: "jaeger", transport: "thrift_http", principal: context.principal)
                return accepted(outcome)
            } catch {
                return errorResponse(error, json: true)
            }
        }
    }

    /// 202, saying which spans were dropped when some were (neither Zipkin nor Jaeger has partial success).
    func accepted(_ outcome: IngestOutcome) -> Response {
        guard outcome.rejected > 0 else { return Response(status: .accepted) }
        return response(
            .accepted, Array("{\"rejected\":\(outcome.rejected),\"message\":\(JSONText.quote(outcome.message))}".utf8),
            contentType: "application/json")
    }

    /// Collects, inflates, admits and ingests one body.
    func receive(
        _ request: Request, format: IngestFormat, receiver: String, transport: String, principal: Principal?
    ) async throws(IngestError) -> IngestOutcome {
        let tenant = try ingestor.tenant(principal?.tenant, header: request.headers[Ingestor.tenantHeader])
        let limit = ingestor.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw IngestError(.tooLarge, "request body of \(length) bytes exceeds the limit of \(limit) bytes")
        }
        var buffer = ByteBuffer()
        do {
            for try await chunk in request.body {
                guard buffer.readableBytes + chunk.readableBytes <= limit else {
                    throw IngestError(.tooLarge, "request body exceeds the limit of \(limit) bytes")
                }
                var chunk = chunk
                buffer.writeBuffer(&chunk)
            }
        } catch let e as IngestError {
            throw e
        } catch {
            throw IngestError(.invalidData, "could not read the request body: \(error)")
        }
        let encoding = request.headers[.contentEncoding]?.lowercased() ?? "identity"
        var body: [UInt8]
        switch encoding {
        case "gzip", "x-gzip", "deflate":
            do {
                body = try buffer.withUnsafeReadableBytes { raw throws(Gzip.Failure) in try Gzip.decompress(raw, limit: limit) }
            } catch {
                switch error {
                case .tooLarge: throw IngestError(.tooLarge, "decompressed body exceeds the limit of \(limit) bytes")
                case .malformed(let m): throw IngestError(.invalidData, m)
                }
            }
        case "identity", "":
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        default:
            throw IngestError(.unsupportedMediaType, "unsupported content encoding '\(encoding)': use gzip or none")
        }
        try ingestor.admit(bytes: body.count, receiver: receiver, transport: transport)
        defer { ingestor.release(bytes: body.count) }
        return try await ingestor.ingest(body, format: format, receiver: receiver, transport: transport, tenant: tenant)
    }

    func response(_ status: HTTPResponse.Status, _ body: [UInt8], contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    func errorResponse(_ error: IngestError, json: Bool) -> Response {
        var r = response(
            ErrorMapping.httpStatus(error), ErrorMapping.statusBody(error, json: json),
            contentType: json ? "application/json" : "application/x-protobuf")
        if error.isRetryable { r.headers[.retryAfter] = String(error.retryAfterSeconds) }
        return r
    }
}
