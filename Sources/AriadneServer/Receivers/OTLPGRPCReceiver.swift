import AriadnePipeline
import AriadneWire
import GRPCCore

/// Passes message bytes through untouched: the OTLP codec, not a generated message type, owns
/// the encoding.
struct RawBytesSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

struct RawBytesDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// `opentelemetry.proto.collector.trace.v1.TraceService/Export` over grpc-swift-2, with the
/// project's own codec. Partial success travels in the response; bad data is INVALID_ARGUMENT;
/// overload is UNAVAILABLE (OTLP/gRPC retryable).
struct OTLPGRPCReceiver: RegistrableRPCService {
    static let export = MethodDescriptor(
        fullyQualifiedService: "opentelemetry.proto.collector.trace.v1.TraceService", method: "Export")

    let ingestor: Ingestor
    let authenticator: Authenticator?

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        ingestor.registerUnary(Self.export, format: .otlpProtobuf, receiver: "otlp", authenticator: authenticator, with: &router) { outcome in
            OTLPProtobuf.encodeExportResponse(rejectedSpans: Int64(outcome.rejected), errorMessage: outcome.message)
        }
    }
}

/// `jaeger.api_v2.CollectorService/PostSpans` (port 14250): Jaeger's protobuf batch, answered with
/// an empty `PostSpansResponse`. Errors as for OTLP/gRPC.
struct JaegerGRPCReceiver: RegistrableRPCService {
    static let postSpans = MethodDescriptor(fullyQualifiedService: "jaeger.api_v2.CollectorService", method: "PostSpans")

    let ingestor: Ingestor
    let authenticator: Authenticator?

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        ingestor.registerUnary(Self.postSpans, format: .jaegerProtobuf, receiver: "jaeger", authenticator: authenticator, with: &router) { _ in [] }
    }
}

extension Ingestor {
    /// One unary ingest method: admit, decode, store, answer with `response(outcome)` or a gRPC error.
    func registerUnary<Transport: ServerTransport>(
        _ method: MethodDescriptor, format: IngestFormat, receiver: String, authenticator: Authenticator?,
        with router: inout RPCRouter<Transport>,
        response: @escaping @Sendable (IngestOutcome) -> [UInt8]
    ) {
        router.registerHandler(forMethod: method, deserializer: RawBytesDeserializer(), serializer: RawBytesSerializer()) {
            request, context in
            var credentialTenant: String?
            if let authenticator { credentialTenant = try await authenticator.checkIngest(request.metadata, remote: context.remotePeer) }
            let single = try await ServerRequest(stream: request)
            let answer: ServerResponse<[UInt8]>
            do throws(IngestError) {
                let tenant = try self.tenant(credentialTenant, header: request.metadata[stringValues: "x-scope-orgid"].first { _ in true })
                try self.admit(bytes: single.message.count, receiver: receiver, transport: "grpc")
                defer { self.release(bytes: single.message.count) }
                let outcome = try await self.ingest(single.message, format: format, receiver: receiver, transport: "grpc", tenant: tenant)
                answer = ServerResponse(message: response(outcome))
            } catch {
                answer = ServerResponse(error: ErrorMapping.rpcError(error))
            }
            return StreamingServerResponse(single: answer)
        }
    }
}
