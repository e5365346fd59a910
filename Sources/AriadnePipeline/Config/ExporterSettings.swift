/// Where the traces pipeline sends spans after its processors: the local store, and/or other
/// OTLP backends. Data only: the server builds the exporters (they need network clients).
public struct ExporterSpec: Sendable {
    public enum Kind: Sendable {
        /// The store of this server (the engine, or memory).
        case store
        case otlp(OTLPExportSettings)
    }

    public var name: String
    public var kind: Kind

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

public struct OTLPExportSettings: Sendable, Equatable {
    public enum Transport: String, Sendable {
        case grpc, http
    }

    /// `host:port` for gRPC; a URL (`http://host:4318/v1/traces`) for HTTP.
    public var endpoint: String
    public var transport: Transport = .grpc
    public var gzip = false
    /// Spans waiting to be sent; beyond it the pipeline pushes back on the receivers.
    public var queueSpans = 200_000
    /// Requests in flight at once.
    public var consumers = 2
    public var initialInterval: Duration = .seconds(1)
    public var maxInterval: Duration = .seconds(30)
    /// Give up on a request after retrying this long (its spans are counted as failed).
    public var maxElapsed: Duration = .seconds(300)
    /// TLS to the backend (nil: plaintext, or the URL's https with the system's roots).
    public var tls: ClientTLS?
    /// Sent with every request (gRPC metadata, HTTP headers), e.g. `authorization`.
    public var headers: [String: String] = [:]
    /// A file whose content (trimmed) is sent as `authorization: Bearer …`, read when the
    /// exporter starts; relative to the configuration file.
    public var bearerTokenFile: String?

    /// Files for a TLS client, relative to the configuration file until resolved.
    public struct ClientTLS: Sendable, Equatable {
        /// The CA that signed the backend's certificate (nil: the system's roots).
        public var caFile: String?
        /// A client certificate and key, for a backend that requires mTLS.
        public var certFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public init(endpoint: String, transport: Transport = .grpc) {
        self.endpoint = endpoint
        self.transport = transport
    }
}

/// The listeners the file configures. nil fields leave serve's flags (or defaults) in charge.
public struct ReceiverSettings: Sendable, Equatable {
    public struct Endpoint: Sendable, Equatable {
        /// nil: serve's --host.
        public var host: String?
        public var port: Int

        public init(host: String?, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public var otlpGRPC: Endpoint?
    public var otlpHTTP: Endpoint?
    public var zipkin: Endpoint?
    /// Jaeger's listeners that name an endpoint, by listener: jaeger_grpc, jaeger_thrift_http,
    /// jaeger_thrift_compact, jaeger_thrift_binary.
    public var jaeger: [String: Endpoint] = [:]
    /// Which of otlp_grpc, otlp_http, zipkin (and the jaeger_* listeners) listen; nil: the first three.
    public var enabled: Set<String>?

    public init() {}

    /// Parses `host:port` (`[::1]:4317` for IPv6) or `:port`.
    public static func endpoint(_ text: String) -> Endpoint? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return Endpoint(host: host.isEmpty ? nil : host, port: port)
    }
}
