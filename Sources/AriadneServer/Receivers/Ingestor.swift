public import AriadneModel
public import AriadnePipeline
public import AriadneWire
import HTTPTypes
import Synchronization

/// The wire formats a receiver can hand to the ingestor.
public enum IngestFormat: Sendable {
    case otlpProtobuf
    case otlpJSON
    case zipkinJSON
    /// Jaeger's collector body: one Thrift `Batch` (binary protocol).
    case jaegerThriftBatch
    /// A Jaeger agent UDP packet: an `emitBatch` call in the compact or binary protocol.
    case jaegerAgent(JaegerThrift.ThriftProtocol)
    /// `jaeger.api_v2.CollectorService/PostSpans`: a protobuf `PostSpansRequest`.
    case jaegerProtobuf
}

/// What a receiver answers after a successful ingest: OTLP partial success when spans were refused.
public struct IngestOutcome: Sendable, Equatable {
    public var accepted: Int
    public var rejected: Int
    public var message: String
}

/// The receive path shared by every receiver: admission (backpressure), decode, validation,
/// hand-off to the pipeline, and the counters behind /metrics.
///
/// Backpressure: bodies in flight are limited to `maxInFlightBytes`; beyond it the request is
/// refused as retryable (`IngestError.throttled`) before any decoding, so memory stays bounded.
public final class Ingestor: Sendable {
    /// The pipeline of a tenant's spans (each tenant's spans go through a pipeline and into a
    /// store of its own).
    public let pipeline: @Sendable (_ tenant: String) async throws -> any SpanConsumer
    public let metrics: ServerMetrics
    public let maxBodyBytes: Int
    public let maxInFlightBytes: Int
    private let inFlight = Atomic<Int>(0)
    /// Per-tenant rates, when the configuration sets them.
    public let tenantLimits: TenantLimits?
    /// Whether a request without a credential may name its tenant in `X-Scope-OrgID`
    /// (`tenancy.header_trusted`: a proxy in front sets it, as for Tempo).
    public let tenantHeaderTrusted: Bool

    public init(
        pipeline: @escaping @Sendable (_ tenant: String) async throws -> any SpanConsumer, metrics: ServerMetrics, maxBodyBytes: Int,
        maxInFlightBytes: Int, tenantLimits: TenantLimits? = nil, tenantHeaderTrusted: Bool = false
    ) {
        self.tenantLimits = tenantLimits
        self.tenantHeaderTrusted = tenantHeaderTrusted
        self.pipeline = pipeline
        self.metrics = metrics
        self.maxBodyBytes = maxBodyBytes
        self.maxInFlightBytes = maxInFlightBytes
    }

    /// Every tenant's spans to one consumer.
    public convenience init(consumer: any SpanConsumer, metrics: ServerMetrics, maxBodyBytes: Int, maxInFlightBytes: Int) {
        self.init(pipeline: { _ in consumer }, metrics: metrics, maxBodyBytes: maxBodyBytes, maxInFlightBytes: maxInFlightBytes)
    }

    static let tenantHeader = HTTPField.Name("X-Scope-OrgID")!

    /// The tenant of a request: its credential's; without one, the trusted header's; else nil
    /// (the default tenant). A header naming no valid tenant is a 400.
    func tenant(_ credential: String?, header: String?) throws(IngestError) -> String? {
        if let credential {
            // A token's tenant claim is the provider's to set: one that cannot be a tenant is refused.
            if let problem = TenantName.problem(credential) { throw IngestError(.invalidData, "the credential's tenant: \(problem)") }
            return credential
        }
        guard tenantHeaderTrusted, let header else { return nil }
        if let problem = TenantName.problem(header) { throw IngestError(.invalidData, "X-Scope-OrgID: \(problem)") }
        return header
    }

    /// Reserves room for a body of `bytes`; throws `.throttled` when there is none.
    public func admit(bytes: Int, receiver: String, transport: String) throws(IngestError) {
        let now = inFlight.add(bytes, ordering: .relaxed).newValue
        if now > maxInFlightBytes && now != bytes {
            inFlight.subtract(bytes, ordering: .relaxed)
            metrics.count(.requestsThrottled, receiver: receiver, transport: transport)
            throw IngestError(.throttled, "server is over its in-flight limit; retry later", retryAfterSeconds: 1)
        }
    }

    public func release(bytes: Int) {
        inFlight.subtract(bytes, ordering: .relaxed)
    }

    /// Decodes one request body (already decompressed). Malformed bodies are counted and
    /// refused as `.invalidData`.
    public func decode(
        _ body: UnsafeRawBufferPointer, format: IngestFormat, receiver: String, transport: String
    ) throws(IngestError) -> (SpanBatch, [SpanRejection]) {
        var batch = SpanBatch()
        var findings = [SpanRejection]()
        do {
            switch format {
            case .otlpProtobuf: try OTLPProtobuf.decodeExportRequest(body, into: &batch, rejections: &findings)
            case .otlpJSON: try OTLPJSON.decodeExportRequest(body, into: &batch, rejections: &findings)
            case .zipkinJSON: try ZipkinJSON.decodeSpans(body, into: &batch, rejections: &findings)
            case .jaegerThriftBatch: try JaegerThrift.decodeBatch(body, protocol: .binary, into: &batch, rejections: &findings)
            case .jaegerAgent(let p): try JaegerThrift.decodeAgentMessage(body, protocol: p, into: &batch, rejections: &findings)
            case .jaegerProtobuf: try JaegerProtobuf.decodePostSpansRequest(body, into: &batch, rejections: &findings)
            }
        } catch {
            metrics.count(.requestsMalformed, receiver: receiver, transport: transport)
            throw IngestError(.invalidData, "malformed request: \(error.message)")
        }
        return (batch, findings)
    }

    /// Decodes, validates and forwards one request body held in an array; `tenant` is the
    /// credential's (or the trusted header's), nil for the default tenant.
    public func ingest(
        _ body: [UInt8], format: IngestFormat, receiver: String, transport: String, tenant: String? = nil
    ) async throws(IngestError) -> IngestOutcome {
        let (batch, findings) = try body.withUnsafeBytesTyped { raw throws(IngestError) in
            try decode(raw, format: format, receiver: receiver, transport: transport)
        }
        if let tenant, let tenantLimits {
            do throws(IngestError) { try tenantLimits.admit(batch.count, tenant: tenant) } catch {
                metrics.count(.requestsThrottled, receiver: receiver, transport: transport)
                throw error
            }
        }
        return try await ingest(batch, findings: findings, receiver: receiver, transport: transport, tenant: tenant)
    }

    /// Validates and forwards an already decoded batch.
    public func ingest(
        _ batch: SpanBatch, findings: [SpanRejection], receiver: String, transport: String, tenant: String? = nil
    ) async throws(IngestError) -> IngestOutcome {
        let (valid, rejected, message) = SpanValidation.partition(
            batch, decoderFindings: findings.map { ($0.index, $0.reason) })
        metrics.add(.spansReceived, batch.count, receiver: receiver, transport: transport)
        metrics.add(.spansRefused, rejected, receiver: receiver, transport: transport)
        if !valid.isEmpty {
            do {
                try await pipeline(tenant ?? TenantName.default).consume(valid)
            } catch let e as IngestError {
                metrics.add(.spansRefused, valid.count, receiver: receiver, transport: transport)
                throw e
            } catch {
                metrics.add(.spansRefused, valid.count, receiver: receiver, transport: transport)
                // Classified by what the store says of its error, not by its text.
                if let e = error as? any RetryableError, !e.isRetryable {
                    throw IngestError(.internal, "storage failed: \(error)")
                }
                throw IngestError(.unavailable, "storage unavailable: \(error)", retryAfterSeconds: 1)
            }
            metrics.add(.spansAccepted, valid.count, receiver: receiver, transport: transport)
        }
        return IngestOutcome(accepted: valid.count, rejected: rejected, message: message)
    }
}
