public import AriadnePipeline
public import AriadneWire
import AsyncHTTPClient
import Foundation
public import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP1
import NIOSSL

/// Sends ExportTraceServiceRequests to an OTLP endpoint.
public protocol OTLPSender: Sendable {
    /// Sends one encoded request. Returns the spans the server refused through partial success.
    /// Throws ``SendFailure`` when the whole request was refused.
    func send(_ request: [UInt8], spanCount: Int) async throws -> Int64
}

public struct SendFailure: Error, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
    /// How long the server asked us to wait (HTTP Retry-After), if it said.
    public var retryAfter: Duration? = nil
    public var description: String { message }
}

struct PassthroughSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

struct PassthroughDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
}

/// OTLP/gRPC sender over grpc-swift-2. `run` must be active while sending.
public final class GRPCSender: OTLPSender {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    static let export = MethodDescriptor(
        fullyQualifiedService: "opentelemetry.proto.collector.trace.v1.TraceService", method: "Export")

    let metadata: Metadata

    /// `tls` nil: plaintext. `headers` go out as metadata with every request.
    public init(host: String, port: Int, tls: OTLPExportSettings.ClientTLS? = nil, headers: [String: String] = [:]) throws {
        var security = HTTP2ClientTransport.Posix.TransportSecurity.plaintext
        if let tls {
            security = .tls { c in
                if let ca = tls.caFile { c.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                if let cert = tls.certFile, let key = tls.keyFile {
                    c.certificateChain = [.file(path: cert, format: .pem)]
                    c.privateKey = .file(path: key, format: .pem)
                }
            }
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port), transportSecurity: security,
            config: .defaults { $0.connection.maxIdleTime = nil })
        client = GRPCClient(transport: transport)
        var m = Metadata()
        for (k, v) in headers { m.addString(v, forKey: k) }
        metadata = m
    }

    /// Keeps the connections running; returns when `close` is called.
    public func run() async throws { try await client.runConnections() }

    public func close() { client.beginGracefulShutdown() }

    public func send(_ request: [UInt8], spanCount: Int) async throws -> Int64 {
        do {
            let response = try await client.unary(
                request: ClientRequest(message: request, metadata: metadata), descriptor: Self.export,
                serializer: PassthroughSerializer(), deserializer: PassthroughDeserializer(), options: .defaults
            ) { try $0.message }
            return try OTLPProtobuf.decodeExportResponse(response).rejectedSpans
        } catch let e as RPCError {
            throw SendFailure(message: "gRPC \(e.code): \(e.message)", retryable: e.code == .unavailable)
        }
    }
}

/// OTLP/HTTP protobuf sender over AsyncHTTPClient.
public final class HTTPSender: OTLPSender {
    let client: HTTPClient
    let url: String
    let gzip: Bool

    let headers: [String: String]

    /// `tls` sets the CA (and a client certificate) for an https URL; `headers` go with every request.
    public init(url: String, gzip: Bool = false, tls: OTLPExportSettings.ClientTLS? = nil, headers: [String: String] = [:]) throws {
        var configuration = HTTPClient.Configuration()
        if let tls {
            var t = TLSConfiguration.makeClientConfiguration()
            if let ca = tls.caFile { t.trustRoots = .file(ca) }
            if let cert = tls.certFile, let key = tls.keyFile {
                t.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                t.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            configuration.tlsConfiguration = t
        }
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.url = url
        self.gzip = gzip
        self.headers = headers
    }

    public func close() async throws { try await client.shutdown() }

    public func send(_ request: [UInt8], spanCount: Int) async throws -> Int64 {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/x-protobuf")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if gzip {
            req.headers.add(name: "Content-Encoding", value: "gzip")
            req.body = .bytes(ByteBuffer(bytes: Gzip.compress(request)))
        } else {
            req.body = .bytes(ByteBuffer(bytes: request))
        }
        let response = try await client.execute(req, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok else {
            let retryable = [429, 502, 503, 504].contains(Int(response.status.code))
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0) }.map { Duration.seconds($0) }
            throw SendFailure(
                message: "HTTP \(response.status.code): \(String(buffer: body).prefix(200))", retryable: retryable,
                retryAfter: retryAfter)
        }
        return try OTLPProtobuf.decodeExportResponse(Array(buffer: body)).rejectedSpans
    }
}
