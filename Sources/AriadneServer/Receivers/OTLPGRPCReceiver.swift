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

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: Self.export, deserializer: RawBytesDeserializer(), serializer: RawBytesSerializer()
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            let response: ServerResponse<[UInt8]>
            do throws(IngestError) {
                try ingestor.admit(bytes: single.message.count, receiver: "otlp", transport: "grpc")
                defer { ingestor.release(bytes: single.message.count) }
                let outcome = try await ingestor.ingest(
                    single.message, format: .otlpProtobuf, receiver: "otlp", transport: "grpc")
                response = ServerResponse(
                    message: OTLPProtobuf.encodeExportResponse(
                        rejectedSpans: Int64(outcome.rejected), errorMessage: outcome.message))
            } catch {
                response = ServerResponse(error: ErrorMapping.rpcError(error))
            }
            return StreamingServerResponse(single: response)
        }
    }
}
