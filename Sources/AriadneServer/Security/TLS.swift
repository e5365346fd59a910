public import AriadnePipeline
import Foundation
import GRPCNIOTransportHTTP2
import HummingbirdCore
import HummingbirdTLS
import Logging
public import NIOCertificateReloading
import NIOSSL
import ServiceLifecycle
public import Yams

/// The `tls` section: every TCP listener (OTLP gRPC and HTTP, Zipkin, Jaeger's HTTP and gRPC,
/// query and UI, sampling) serves TLS with this certificate; with `client_ca_file`, clients must
/// present a certificate that CA signed (mTLS). The certificate and key are read again every
/// `reload_interval`, so a renewed certificate is served without a restart.
///
/// ```yaml
/// tls:
///   cert_file: server.pem
///   key_file: server-key.pem
///   client_ca_file: ca.pem        # optional
///   min_version: "1.2"            # or "1.3"
///   reload_interval: 1m
/// ```
public struct TLSSection: ConfigSection {
    public static let key = "tls"
    public var enabled = false
    public var certFile = ""
    public var keyFile = ""
    public var clientCAFile: String?
    public var minVersion = "1.2"
    public var reloadInterval: Duration = .seconds(60)
    public var line = 1

    public init() {}

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "tls") else { return nil }
        enabled = true
        line = node.mark?.line ?? 1
        for (k, v) in m {
            switch k.string ?? "" {
            case "cert_file": certFile = v.string ?? ""
            case "key_file": keyFile = v.string ?? ""
            case "client_ca_file": clientCAFile = v.string
            case "min_version":
                guard let s = v.string, s == "1.2" || s == "1.3" else {
                    reader.fail(v, "min_version must be \"1.2\" or \"1.3\"")
                    return nil
                }
                minVersion = s
            case "reload_interval":
                guard let d = reader.duration(v, "reload_interval") else { return nil }
                reloadInterval = d
            default: reader.unknownKey(k, in: "tls", expected: "cert_file, key_file, client_ca_file, min_version, reload_interval")
            }
        }
        guard !certFile.isEmpty, !keyFile.isEmpty else {
            reader.fail(node, "tls needs cert_file and key_file")
            return nil
        }
    }
}

/// The listeners' TLS, ready to serve: the reloader (a service of the server's group) and the
/// settings each kind of listener is built from.
public struct TLSSetup: Sendable {
    let reloader: TimedCertificateReloader
    let clientCAFile: String?
    let minimumVersion: TLSVersion

    /// Checks that the files exist and hold a certificate and key, relative to `configDirectory`.
    public static func load(_ s: TLSSection, configDirectory: String) throws -> TLSSetup {
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : configDirectory + "/" + path }
        let reloader: TimedCertificateReloader
        do {
            reloader = try TimedCertificateReloader.makeReloaderValidatingSources(
                refreshInterval: s.reloadInterval,
                certificateSource: .init(location: .file(path: resolve(s.certFile)), format: .pem),
                privateKeySource: .init(location: .file(path: resolve(s.keyFile)), format: .pem))
        } catch {
            throw ConfigLoadError(line: s.line, message: "tls: cannot load \(resolve(s.certFile)) and \(resolve(s.keyFile)): \(error)")
        }
        let ca = s.clientCAFile.map(resolve)
        if let ca, !FileManager.default.fileExists(atPath: ca) {
            throw ConfigLoadError(line: s.line, message: "tls: client_ca_file \(ca) cannot be read")
        }
        return TLSSetup(reloader: reloader, clientCAFile: ca, minimumVersion: s.minVersion == "1.3" ? .tlsv13 : .tlsv12)
    }

    /// An HTTP/1.1 listener over TLS.
    func httpServer() throws -> HTTPServerBuilder {
        var c: TLSConfiguration
        if let ca = clientCAFile {
            c = try .makeServerConfigurationWithMTLS(certificateReloader: reloader, trustRoots: .file(ca))
            c.certificateVerification = .noHostnameVerification
        } else {
            c = try .makeServerConfiguration(certificateReloader: reloader)
        }
        c.minimumTLSVersion = minimumVersion
        return try .tls(.http1(), tlsConfiguration: c)
    }

    /// A gRPC listener over TLS (HTTP/2, ALPN `h2`).
    func grpcSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
        if let ca = clientCAFile {
            return try .mTLS(certificateReloader: reloader) { c in
                c.trustRoots = .certificates([.file(path: ca, format: .pem)])
                c.clientCertificateVerification = .noHostnameVerification
            }
        }
        return try .tls(certificateReloader: reloader)
    }
}

/// Reads the certificate and key again every interval, until the server stops.
struct CertificateReloadService: Service {
    let reloader: TimedCertificateReloader

    func run() async throws {
        await cancelWhenGracefulShutdown { try? await reloader.run() }
    }
}
