public import AriadneModel
public import AriadnePipeline
import AriadneWire
import Foundation
import Synchronization

/// Forwards spans to another OTLP backend (an Ariadne gateway, a Collector, any vendor), so
/// that Ariadne can run as an agent. Spans are encoded and queued when consumed; workers send
/// them, retrying retryable failures with exponential backoff that honours the server's
/// Retry-After. A full queue refuses new spans as retryable, so receivers push back on their
/// clients instead of memory growing.
public final class OTLPExporter: SpanConsumer {
    struct Item {
        var request: [UInt8]
        var spans: Int
    }

    public let name: String
    public let settings: OTLPExportSettings
    let sender: any OTLPSender
    let grpc: GRPCSender?
    let http: HTTPSender?
    let queue = Mutex<(items: [Item], head: Int, spans: Int)>(([], 0, 0))
    let metrics: PipelineMetrics

    public init(name: String, settings: OTLPExportSettings, metrics: PipelineMetrics) throws {
        self.name = name
        self.settings = settings
        self.metrics = metrics
        var headers = settings.headers
        if let file = settings.bearerTokenFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SendFailure(message: "exporter \(name): bearer_token_file \(file) cannot be read", retryable: false)
            }
            headers["authorization"] = "Bearer " + String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        switch settings.transport {
        case .grpc:
            let parts = settings.endpoint.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else {
                throw SendFailure(message: "exporter \(name): a gRPC endpoint is host:port, got \(settings.endpoint)", retryable: false)
            }
            let g = try GRPCSender(host: String(parts[0]), port: port, tls: settings.tls, headers: headers)
            (sender, grpc, http) = (g, g, nil)
        case .http:
            let h = try HTTPSender(url: settings.endpoint, gzip: settings.gzip, tls: settings.tls, headers: headers)
            (sender, grpc, http) = (h, nil, h)
        }
        for (family, help) in [
            ("ariadne_exporter_sent_spans_total", "Spans an exporter delivered."),
            ("ariadne_exporter_failed_spans_total", "Spans an exporter gave up on (refused by the backend, or retried too long)."),
            ("ariadne_exporter_refused_spans_total", "Spans an exporter's full queue refused (the receivers pushed back)."),
            ("ariadne_exporter_retries_total", "Requests an exporter sent again after a retryable failure."),
        ] {
            metrics.describe(family, help)
        }
        metrics.gauge("ariadne_exporter_queue_spans", "Spans waiting in an exporter's queue.", ["exporter": name]) { [weak self] in
            self?.queuedSpans ?? 0
        }
    }

    public var queuedSpans: Int { queue.withLock { $0.spans } }

    public func consume(_ batch: SpanBatch) async throws {
        let item = Item(request: OTLPProtobuf.encodeExportRequest(batch), spans: batch.count)
        let accepted = queue.withLock { q in
            guard q.spans + item.spans <= settings.queueSpans || q.spans == 0 else { return false }
            q.items.append(item)
            q.spans += item.spans
            return true
        }
        guard accepted else {
            metrics.add("ariadne_exporter_refused_spans_total", batch.count, ["exporter": name])
            throw IngestError(.throttled, "exporter \(name): queue of \(settings.queueSpans) spans is full; retry later")
        }
    }

    func dequeue() -> Item? {
        queue.withLock { q in
            guard q.head < q.items.count else { return nil }
            let item = q.items[q.head]
            q.head += 1
            q.spans -= item.spans
            if q.head > 1024 && q.head * 2 > q.items.count {
                q.items.removeFirst(q.head)
                q.head = 0
            }
            return item
        }
    }

    /// Sends until cancelled; then for up to `drainFor` sends what is still queued.
    public func run(drainFor: Duration = .seconds(5)) async {
        await withTaskGroup(of: Void.self) { group in
            if let grpc { group.addTask { try? await grpc.run() } }
            await withTaskGroup(of: Void.self) { workers in
                for _ in 0..<max(1, settings.consumers) {
                    workers.addTask {
                        while !Task.isCancelled {
                            if let item = self.dequeue() {
                                await self.send(item, deadline: nil)
                            } else {
                                try? await Task.sleep(for: .milliseconds(10))
                            }
                        }
                    }
                }
            }
            // Stopping: one last attempt at what is queued, without waiting on backoff forever.
            let deadline = ContinuousClock.now + drainFor
            while ContinuousClock.now < deadline, let item = dequeue() {
                await Task { await self.send(item, deadline: deadline) }.value
            }
            while let item = dequeue() { metrics.add("ariadne_exporter_failed_spans_total", item.spans, ["exporter": name]) }
            grpc?.close()
            try? await http?.close()
        }
    }

    func send(_ item: Item, deadline: ContinuousClock.Instant?) async {
        let started = ContinuousClock.now
        var backoff = settings.initialInterval
        while true {
            do {
                let rejected = Int(try await sender.send(item.request, spanCount: item.spans))
                metrics.add("ariadne_exporter_sent_spans_total", item.spans - rejected, ["exporter": name])
                if rejected > 0 { metrics.add("ariadne_exporter_failed_spans_total", rejected, ["exporter": name]) }
                return
            } catch {
                // A connection refused or reset (not an answer from the backend) is worth retrying
                // too: the backend may be restarting. At shutdown only the backend's own retryable
                // answers are retried, within the deadline.
                let failure = error as? SendFailure
                let retryable = failure?.retryable ?? (deadline == nil)
                let wait = max(backoff, failure?.retryAfter ?? .zero)
                let now = ContinuousClock.now
                guard retryable, now - started + wait <= settings.maxElapsed, deadline.map({ now + wait <= $0 }) ?? true else {
                    metrics.add("ariadne_exporter_failed_spans_total", item.spans, ["exporter": name])
                    return
                }
                metrics.add("ariadne_exporter_retries_total", 1, ["exporter": name])
                try? await Task.sleep(for: wait)
                backoff = min(backoff * 2, settings.maxInterval)
            }
        }
    }
}
