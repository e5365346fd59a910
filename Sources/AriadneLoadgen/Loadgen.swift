import AriadneModel
import AriadneWorkload
import AriadneWire
import AsyncHTTPClient
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP1
import Synchronization

/// Sends ExportTraceServiceRequests to an OTLP endpoint.
public protocol OTLPSender: Sendable {
    /// Sends one encoded request. Returns the spans the server refused through partial success.
    /// Throws ``SendFailure`` when the whole request was refused.
    func send(_ request: [UInt8], spanCount: Int) async throws -> Int64
}

public struct SendFailure: Error, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
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

    public init(host: String, port: Int) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port), transportSecurity: .plaintext,
            config: .defaults { $0.connection.maxIdleTime = nil })
        client = GRPCClient(transport: transport)
    }

    /// Keeps the connections running; returns when `close` is called.
    public func run() async throws { try await client.runConnections() }

    public func close() { client.beginGracefulShutdown() }

    public func send(_ request: [UInt8], spanCount: Int) async throws -> Int64 {
        do {
            let response = try await client.unary(
                request: ClientRequest(message: request), descriptor: Self.export,
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

    public init(url: String, gzip: Bool = false) {
        self.client = HTTPClient(eventLoopGroupProvider: .singleton)
        self.url = url
        self.gzip = gzip
    }

    public func close() async throws { try await client.shutdown() }

    public func send(_ request: [UInt8], spanCount: Int) async throws -> Int64 {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/x-protobuf")
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
            throw SendFailure(
                message: "HTTP \(response.status.code): \(String(buffer: body).prefix(200))", retryable: retryable)
        }
        return try OTLPProtobuf.decodeExportResponse(Array(buffer: body)).rejectedSpans
    }
}

/// Settings of one loadgen run.
public struct LoadgenOptions: Sendable {
    /// Target spans per second; nil sends as fast as the server acknowledges.
    public var rate: Double?
    public var duration: Double?
    public var totalSpans: Int?
    public var batchSpans = 500
    public var concurrency = 4
    public var seed: UInt64 = 42

    public init() {}
}

/// Totals of a run.
public struct LoadgenSummary: Sendable, CustomStringConvertible {
    public var sentSpans = 0
    public var acknowledgedSpans = 0
    public var refusedSpans = 0
    public var failedRequests = 0
    public var requests = 0
    public var seconds = 0.0

    public var spansPerSecond: Double { seconds > 0 ? Double(acknowledgedSpans) / seconds : 0 }

    public var description: String {
        "sent=\(sentSpans) acknowledged=\(acknowledgedSpans) refused=\(refusedSpans) failed_requests=\(failedRequests) requests=\(requests) seconds=\(String(format: "%.2f", seconds)) spans/s=\(String(format: "%.0f", spansPerSecond))"
    }
}

/// Counters shared by the workers of one run.
final class RunState: Sendable {
    let totals = Mutex(LoadgenSummary())
    let claimed = Atomic<Int>(0)
}

/// Drives a workload against a sender: `concurrency` workers, each generating a batch of whole
/// traces, sending it and counting the answer, paced to `rate` when one is set.
public enum Loadgen {
    public static func run(
        options: LoadgenOptions, sender: any OTLPSender, progress: @escaping @Sendable (LoadgenSummary) -> Void
    ) async -> LoadgenSummary {
        let state = RunState()
        let started = ContinuousClock.now
        let deadline = options.duration.map { started + .milliseconds(Int64($0 * 1000)) }
        @Sendable func elapsed() -> Double {
            let d = ContinuousClock.now - started
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<max(1, options.concurrency) {
                group.addTask {
                    var workload = Workload(seed: options.seed &+ UInt64(worker) &* 7919)
                    while !Task.isCancelled {
                        if let deadline, ContinuousClock.now >= deadline { return }
                        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
                        var batch = workload.batch(spans: options.batchSpans, start: now)
                        if let total = options.totalSpans {
                            // Claim what this batch holds; the last batch is cut to whole traces
                            // so that the run sends at most `total` spans.
                            let before = state.claimed.add(batch.count, ordering: .relaxed).oldValue
                            if before >= total { return }
                            if before + batch.count > total { batch = trimToWholeTraces(batch, max: total - before) }
                        }
                        let request = OTLPProtobuf.encodeExportRequest(batch)
                        do {
                            let refused = try await sender.send(request, spanCount: batch.count)
                            state.totals.withLock {
                                $0.sentSpans += batch.count
                                $0.requests += 1
                                $0.acknowledgedSpans += batch.count - Int(refused)
                                $0.refusedSpans += Int(refused)
                            }
                        } catch {
                            state.totals.withLock {
                                $0.sentSpans += batch.count
                                $0.requests += 1
                                $0.failedRequests += 1
                                $0.refusedSpans += batch.count
                            }
                            try? await Task.sleep(for: .milliseconds(200))
                        }
                        if let rate = options.rate, rate > 0 {
                            // Pace the whole run: sleep until the sent count is on schedule.
                            let sent = state.totals.withLock { $0.sentSpans }
                            let due = Double(sent) / rate
                            let ahead = due - elapsed()
                            if ahead > 0 { try? await Task.sleep(for: .milliseconds(Int64(ahead * 1000))) }
                        }
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    var snapshot = state.totals.withLock { $0 }
                    snapshot.seconds = elapsed()
                    progress(snapshot)
                }
            }
            // The progress task never ends by itself: stop it when the workers are done.
            var finishedWorkers = 0
            while finishedWorkers < max(1, options.concurrency) {
                await group.next()
                finishedWorkers += 1
            }
            group.cancelAll()
        }
        var summary = state.totals.withLock { $0 }
        summary.seconds = elapsed()
        return summary
    }

    /// Keeps the first traces of `batch` whose spans fit in `max`.
    static func trimToWholeTraces(_ batch: SpanBatch, max: Int) -> SpanBatch {
        guard max > 0 else { return SpanBatch() }
        var keep = [Int]()
        var current: TraceID? = nil
        var run = [Int]()
        for i in 0..<batch.count {
            if batch.traceIDs[i] != current {
                if keep.count + run.count <= max { keep += run } else { break }
                run = []
                current = batch.traceIDs[i]
            }
            run.append(i)
        }
        if keep.count + run.count <= max { keep += run }
        if keep.isEmpty { keep = Array(0..<min(max, batch.count)) }
        return batch.selecting(keep)
    }
}
