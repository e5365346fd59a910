import AriadneModel
import AriadneServer
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Runs an in-process server on free ports for the duration of `body`.
func withServer<R: Sendable>(
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: @Sendable (BoundAddresses, AriadneServer) async throws -> R
) async throws -> R {
    var config = ServerConfiguration()
    config.otlpGRPCPort = 0
    config.otlpHTTPPort = 0
    config.zipkinPort = 0
    config.queryPort = 0
    config.samplingPort = 0
    config.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ariadne-test-\(UUID())").path
    configure(&config)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let server = try AriadneServer(configuration: config, logger: logger)
    let (stream, continuation) = AsyncStream.makeStream(of: BoundAddresses.self)
    let task = Task {
        try await server.run(handleSignals: false) { continuation.yield($0) }
    }
    defer { try? FileManager.default.removeItem(atPath: config.dataDirectory) }
    var iterator = stream.makeAsyncIterator()
    guard let addresses = await iterator.next() else {
        task.cancel()
        throw HarnessError("server did not start")
    }
    let result: Result<R, any Error>
    do { result = .success(try await body(addresses, server)) } catch { result = .failure(error) }
    await server.shutdown()
    try await task.value
    return try result.get()
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct HTTPResult {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// One-shot HTTP requests to the server under test.
func http(
    _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []
) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (k, v) in headers { request.headers.add(name: k, value: v) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let collected = try await response.body.collect(upTo: 64 << 20)
    return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Array(buffer: collected))
}
