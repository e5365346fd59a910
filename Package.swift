// swift-tools-version:6.1
import PackageDescription

// Same upcoming features as Hummingbird and swift-otel: a `public import` is a decision,
// existentials are spelled `any`, and members come only from modules a file imports.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "ariadne",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ariadne", targets: ["ariadne"]),
        .executable(name: "ariadne-bench", targets: ["AriadneBench"]),
        .library(name: "AriadneModel", targets: ["AriadneModel"]),
        .library(name: "AriadneWire", targets: ["AriadneWire"]),
        .library(name: "AriadneStorage", targets: ["AriadneStorage"]),
        .library(name: "AriadneServer", targets: ["AriadneServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.30.0"),
    ],
    targets: [
        // Span model: the currency between stages. Standard library only.
        .target(name: "AriadneModel", swiftSettings: swiftSettings),

        // zlib from the system (Debian zlib1g-dev) for gzip request bodies.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Wire formats at the edges: OTLP protobuf/JSON, Zipkin v2, Jaeger JSON, gzip.
        .target(name: "AriadneWire", dependencies: ["AriadneModel", "CZlib"], swiftSettings: swiftSettings),

        // The one edge type between stages, and the processors.
        .target(
            name: "AriadnePipeline", dependencies: ["AriadneModel", "CMalloc", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),

        // The storage contract and the in-memory store.
        .target(name: "AriadneStorage", dependencies: ["AriadneModel"], swiftSettings: swiftSettings),

        // Analyses of traces: critical path, statistics, structural comparison.
        .target(name: "AriadneAnalysis", dependencies: ["AriadneModel", "AriadneStorage"], swiftSettings: swiftSettings),

        // The query service between every API dialect and the stores: validation, deadlines and
        // the bound on concurrent queries, adjusters, typed errors. Nothing above it touches a store.
        .target(name: "AriadneQuery", dependencies: ["AriadneModel", "AriadneStorage", "AriadneAnalysis"], swiftSettings: swiftSettings),

        // The web UI: HTML, CSS and JavaScript modules compiled into the binary. In their own
        // target because embedding is slow to compile, and only this target recompiles when they change.
        .target(name: "AriadneUI", resources: [.embedInCode("Assets")], swiftSettings: swiftSettings),

        // glibc's malloc.h, for mallopt in the executable.
        .systemLibrary(name: "CMalloc"),

        // zstd from the system (Debian libzstd-dev) for block compression.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // The embedded store: WAL, head, immutable blocks.
        .target(
            name: "AriadneEngine",
            dependencies: ["AriadneModel", "AriadneStorage", "AriadneWire", "CZlib", "CZstd", "CMalloc"],
            swiftSettings: swiftSettings
        ),

        // The distributed store: spans in ClickHouse over its HTTP interface.
        .target(
            name: "AriadneClickHouse",
            dependencies: [
                "AriadneModel", "AriadneStorage", "AriadneWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The NATS C client from the system (Debian libnats-dev), for the JetStream buffer.
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),

        // The buffer between collectors and ingesters: spans through NATS JetStream.
        .target(
            name: "AriadneBuffer",
            dependencies: ["AriadneModel", "AriadneWire", "AriadnePipeline", "CNATS", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        // The realistic multi-service workload: for the loadgen, benchmarks, tests and fuzzing.
        .target(name: "AriadneWorkload", dependencies: ["AriadneModel"], swiftSettings: swiftSettings),

        // OTLP senders (gRPC, HTTP) and the OTLP exporter that forwards spans to another backend.
        .target(
            name: "AriadneExport",
            dependencies: [
                "AriadneModel", "AriadneWire", "AriadnePipeline",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The load generator: the workload sent through the OTLP senders.
        .target(
            name: "AriadneLoadgen",
            dependencies: [
                "AriadneModel", "AriadneWire", "AriadneWorkload", "AriadneExport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Receivers, query API, composition root and lifecycle.
        .target(
            name: "AriadneServer",
            dependencies: [
                "AriadneModel", "AriadneWire", "AriadnePipeline", "AriadneStorage", "AriadneEngine", "AriadneClickHouse",
                "AriadneBuffer", "AriadneAnalysis", "AriadneQuery", "AriadneUI", "AriadneExport", "CMalloc",
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The executable: argument parsing and subcommands only.
        .executableTarget(
            name: "ariadne",
            dependencies: [
                "AriadneServer", "AriadneQuery", "AriadneLoadgen", "AriadneWorkload", "AriadneEngine", "AriadneClickHouse", "AriadneBuffer",
                "AriadneStorage",
                "AriadnePipeline",
                "AriadneWire",
                "AriadneAnalysis",
                "AriadneExport", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The benchmarks behind the README's figures (scripts/bench.sh), apart from the server.
        .executableTarget(
            name: "AriadneBench",
            dependencies: [
                "AriadneEngine", "AriadneStorage", "AriadnePipeline", "AriadneWire", "AriadneWorkload", "AriadneAnalysis",
                "AriadneModel", "CMalloc", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // Fuzz harness for every wire decoder and the engine's files (scripts/fuzz.sh).
        .executableTarget(
            name: "AriadneFuzz",
            dependencies: ["AriadneEngine", "AriadneWorkload", "AriadneModel", "AriadneWire", "AriadnePipeline", "AriadneTesting"],
            swiftSettings: swiftSettings
        ),

        // Test doubles as products: span builders and the storage conformance suite.
        .target(
            name: "AriadneTesting",
            dependencies: ["AriadneModel", "AriadneStorage"],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "AriadneAnalysisTests", dependencies: ["AriadneAnalysis", "AriadneModel", "AriadneTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AriadnePipelineTests", dependencies: ["AriadnePipeline", "AriadneModel", "AriadneTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "AriadneModelTests", dependencies: ["AriadneModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AriadneQueryTests", dependencies: ["AriadneQuery", "AriadneModel", "AriadneStorage", "AriadneTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AriadneWireTests",
            dependencies: ["AriadneModel", "AriadneWire", "AriadneTesting", "AriadneWorkload"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AriadneStorageTests",
            dependencies: ["AriadneModel", "AriadneStorage", "AriadneTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AriadneClickHouseTests",
            dependencies: ["AriadneModel", "AriadneStorage", "AriadneTesting", "AriadneClickHouse", "AriadneWorkload"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AriadneEngineTests",
            dependencies: ["AriadneModel", "AriadneStorage", "AriadneTesting", "AriadneEngine", "AriadneWire", "AriadneWorkload"],
            exclude: ["Fixtures"], swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AriadneServerTests",
            dependencies: [
                "AriadneServer", "AriadneTesting", "AriadneWire", "AriadneLoadgen", "AriadneExport", "AriadneWorkload", "AriadneStorage",
                "AriadnePipeline",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
