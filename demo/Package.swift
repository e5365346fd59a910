// swift-tools-version:6.1
import PackageDescription

// Ariadne's demo application: Swift services instrumented the way Ariadne's users would
// instrument theirs (swift-otel + swift-distributed-tracing, Hummingbird's TracingMiddleware,
// AsyncHTTPClient's client spans, W3C trace context in NATS message headers). Its own package,
// so that the main package's `swift test` never builds swift-otel.
let package = Package(
    name: "ariadne-demo",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        // Only the OTLP/HTTP exporter: the gRPC one would build grpc-swift-protobuf too.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        // The NATS C client from Debian (libnats-dev), for the queue hop.
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .executableTarget(
            name: "DemoShop",
            dependencies: [
                "CNATS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
