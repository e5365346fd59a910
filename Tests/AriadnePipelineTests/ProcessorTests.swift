import AriadneModel
import AriadnePipeline
import AriadneTesting
import Synchronization
import Testing

/// Keeps what it is given.
final class Collect: SpanConsumer {
    let batches = Mutex<[SpanBatch]>([])
    func consume(_ batch: SpanBatch) async throws { batches.withLock { $0.append(batch) } }
    var spans: [Span] { batches.withLock { $0.flatMap { b in (0..<b.count).map { b.span(at: $0) } } } }
}

func sample() -> SpanBatch {
    var t = TraceBuilder(traceID: TraceID(high: 5, low: 1), start: 1_000)
    let root = t.span(
        "GET /checkout", service: "api-gateway", kind: .server, at: 0, duration: 100,
        attributes: [KeyValue("user.id", "u-42"), KeyValue("url.full", "https://shop.example.com/checkout?x=1")],
        events: [Span.Event(time: 1_010, name: "retry", attributes: [KeyValue("attempt", 1)])])
    t.span("SELECT", service: "db", kind: .client, parent: root, at: 10, duration: 20, attributes: [KeyValue("user.id", "u-42")])
    return t.batch
}

@Suite struct AttributesProcessorTests {
    func run(_ yaml: String) async throws -> [Span] {
        let config = try PipelineConfiguration.parse(yaml)
        let sink = Collect()
        try await config.build(next: sink).consumer.consume(sample())
        return sink.spans.sorted { $0.spanID < $1.spanID }
    }

    @Test func actionsOnSpansOfTheIncludedService() async throws {
        let spans = try await run(
            """
            processors:
              attributes/gw:
                include: {services: [api-gateway], span_names: ["GET .*"]}
                actions:
                  - {key: tenant, action: insert, value: acme}
                  - {key: user.id, action: hash}
                  - {key: url.full, action: extract, pattern: '^https?://(?<url_host>[^/]+)'}
                  - {key: url.scheme, action: update, value: https}
                  - {key: copied, action: upsert, from_attribute: tenant}
                  - {key: retries, action: upsert, value: 3}
            """)
        let gw = Dictionary(uniqueKeysWithValues: spans[0].attributes.map { ($0.key, $0.value) })
        #expect(gw["tenant"] == .string("acme"))
        #expect(gw["copied"] == .string("acme"))
        #expect(gw["retries"] == .int(3))
        #expect(gw["url_host"] == .string("shop.example.com"))
        #expect(gw["url.scheme"] == nil)  // update does not add
        let hashed = SHA256.hash(Array("u-42".utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(gw["user.id"] == .string(hashed))
        // The db span is another service: untouched.
        #expect(spans[1].attributes == [KeyValue("user.id", "u-42")])
    }

    @Test func resourceAndEventTargetsAndDelete() async throws {
        let spans = try await run(
            """
            processors:
              resource:
                actions: [{key: deployment.environment, action: upsert, value: prod}]
              attributes/events:
                target: event
                actions: [{key: attempt, action: delete}, {key: note, action: insert, value: "x"}]
              attributes/spans:
                actions: [{key: user.id, action: delete}]
            """)
        #expect(spans.allSatisfy { $0.resource.attributes.contains(KeyValue("deployment.environment", "prod")) })
        #expect(spans[0].events[0].attributes == [KeyValue("note", "x")])
        #expect(spans[1].attributes.isEmpty)
        #expect(spans[0].attributes.map(\.key) == ["url.full"])
    }
}

@Suite struct MemoryLimiterTests {
    @Test func refusesAboveTheSoftLimitAsRetryable() async throws {
        let rss = Atomic<Int>(100 << 20)
        let sink = Collect()
        let limiter = MemoryLimiter(
            .init(limitBytes: 200 << 20, spikeBytes: 50 << 20, checkInterval: .zero), next: sink, measure: { rss.load(ordering: .relaxed) })
        try await limiter.consume(sample())
        rss.store(160 << 20, ordering: .relaxed)
        await #expect(throws: IngestError.self) { try await limiter.consume(sample()) }
        do {
            try await limiter.consume(sample())
        } catch let e as IngestError {
            #expect(e.isRetryable)
            #expect(e.message.contains("160 MiB") && e.message.contains("150 MiB"))
        }
        rss.store(140 << 20, ordering: .relaxed)
        try await limiter.consume(sample())
        #expect(sink.batches.withLock { $0.count } == 2)
        #expect(MemoryLimiter.residentBytes() > 1 << 20)  // this process, read from /proc
        // Other tests allocate and free meanwhile: only an absolute floor is certain.
        let block = [UInt8](repeating: 1, count: 64 << 20)
        #expect(MemoryLimiter.heapInUse() >= 64 << 20)
        #expect(block.count == 64 << 20)
    }
}

@Suite struct PipelineConfigTests {
    func errors(_ yaml: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try PipelineConfiguration.parse(yaml, environment: environment)
            return []
        } catch {
            return error.errors.map { "\($0.line):\($0.column) \($0.message)" }
        }
    }

    @Test func emptyFileMeansNoProcessors() throws {
        #expect(try PipelineConfiguration.parse("").processors.isEmpty)
        #expect(try PipelineConfiguration.parse("# nothing\n").processors.isEmpty)
    }

    @Test func orderComesFromThePipeline() throws {
        let c = try PipelineConfiguration.parse(
            """
            processors:
              redaction: {mode: hash, hash_key_env: K}
              memory_limiter: {limit_mib: 512}
            service: {pipelines: {traces: {processors: [memory_limiter, redaction]}}}
            """, environment: ["K": "secret"])
        #expect(c.processors.map(\.name) == ["memory_limiter", "redaction"])
        guard case .redaction(let policy) = c.processors[1].kind else { Issue.record("not redaction"); return }
        #expect(policy.mode == .hash(key: Array("secret".utf8)))
    }

    @Test func everyMistakeIsNamedWithItsLine() {
        let found = errors(
            """
            processors:
              memory_limiter: {limit_mib: 100, spike_limit_mib: 100}
              attributes/a:
                actions:
                  - {key: a, action: explode}
              redaction: {mode: hash, detectors: [email, dna]}
              bogus: {}
            receivers: {otlp: {}}
            service:
              pipelines: {traces: {processors: [attributes/a, missing]}}
            """)
        #expect(found.contains { $0.hasPrefix("2:3 spike_limit_mib (100) must be less than limit_mib (100)") })
        #expect(found.contains { $0.hasPrefix("5:9 action must be insert") })
        #expect(found.contains { $0.hasPrefix("6:46 unknown detector 'dna'") })
        #expect(found.contains { $0.hasPrefix("6:21 mode hash needs hash_key") })
        #expect(found.contains { $0.hasPrefix("7:3 unknown processor type 'bogus'") })
        #expect(found.contains { $0.hasPrefix("8:13 otlp needs protocols") })
        #expect(found.contains { $0.hasPrefix("10:51 processor 'missing' is not defined") })
        #expect(!found.contains { $0.contains("'attributes/a' is not defined") })  // reported once, where it is wrong
        #expect(errors("processors:\n  a: [1\n").first?.hasPrefix("3:1 YAML:") == true)
        #expect(errors("- 1\n- 2\n") == ["1:1 the configuration must be a mapping of keys to values"])
    }
}

@Suite struct BatchProcessorTests {
    /// Fails every batch, to check that every caller hears of it.
    struct Failing: SpanConsumer {
        func consume(_ batch: SpanBatch) async throws { throw IngestError(.throttled, "store is full") }
    }

    @Test func gathersBySizeAndAnswersEveryCaller() async throws {
        let sink = Collect()
        let metrics = PipelineMetrics()
        let batcher = BatchProcessor(.init(sendBatchSize: 4, timeout: .seconds(60)), next: sink, metrics: metrics)
        // Two-span batches from two callers: together they reach the size; both return only then.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 { group.addTask { try await batcher.consume(sample()) } }
            try await group.waitForAll()
        }
        #expect(sink.batches.withLock { $0.map(\.count) } == [4])
        #expect(metrics.value("ariadne_batch_batches_sent_total", ["trigger": "size"]) == 1)
    }

    @Test func sendsWhatWaitsAfterTheTimeoutAndPassesErrorsBack() async throws {
        let sink = Collect()
        let batcher = BatchProcessor(.init(sendBatchSize: 1000, timeout: .milliseconds(50)), next: sink)
        let started = ContinuousClock.now
        try await batcher.consume(sample())
        #expect(ContinuousClock.now - started >= .milliseconds(50))
        #expect(sink.spans.count == 2)

        let failing = BatchProcessor(.init(sendBatchSize: 2, timeout: .seconds(60)), next: Failing())
        await #expect(throws: IngestError.self) { try await failing.consume(sample()) }
    }
}

@Suite struct ExporterConfigTests {
    @Test func exportersAndTheirOrder() throws {
        let c = try PipelineConfiguration.parse(
            """
            exporters:
              otlp/gw: {endpoint: "gw:4317", sending_queue: {queue_size_spans: 1000, num_consumers: 4}, retry_on_failure: {max_elapsed_time: 1m}}
              otlphttp/vendor: {endpoint: "https://vendor.example/v1/traces", compression: gzip}
            service: {pipelines: {traces: {exporters: [store, otlp/gw]}}}
            """)
        #expect(c.exporters.map(\.name) == ["store", "otlp/gw"])
        guard case .otlp(let gw) = c.exporters[1].kind else { Issue.record("not otlp"); return }
        #expect(gw.transport == .grpc && gw.queueSpans == 1000 && gw.consumers == 4 && gw.maxElapsed == .seconds(60))
        #expect(try PipelineConfiguration.parse("").exporters.map(\.name) == ["store"])
        do {
            _ = try PipelineConfiguration.parse(
                """
                exporters:
                  otlp/a: {endpoint: "http://x:4317"}
                  otlphttp/b: {endpoint: "x:4318"}
                  kafka: {}
                service: {pipelines: {traces: {exporters: [nowhere]}}}
                """)
            Issue.record("accepted")
        } catch {
            let text = error.errors.map { "\($0.line): \($0.message)" }
            #expect(text.contains { $0.hasPrefix("2: exporter 'otlp/a': a gRPC endpoint is host:port") })
            #expect(text.contains { $0.hasPrefix("3: exporter 'otlphttp/b': an HTTP endpoint is a URL") })
            #expect(text.contains { $0.hasPrefix("4: unknown exporter type 'kafka'") })
            #expect(text.contains { $0.hasPrefix("5: exporter 'nowhere' is not defined") })
        }
    }
}

@Suite struct ReceiverConfigTests {
    @Test func onlyNamedReceiversAndProtocolsListen() throws {
        let c = try PipelineConfiguration.parse(
            """
            receivers:
              otlp:
                protocols:
                  grpc: {endpoint: "0.0.0.0:14317"}
                  http:
              zipkin: {endpoint: ":19411"}
            service: {pipelines: {traces: {receivers: [otlp]}}}
            """)
        #expect(c.receivers.enabled == ["otlp_grpc", "otlp_http"])
        #expect(c.receivers.otlpGRPC == .init(host: "0.0.0.0", port: 14317))
        #expect(c.receivers.otlpHTTP == nil)  // listed without an endpoint: the default port
        #expect(c.receivers.zipkin == .init(host: nil, port: 19411))
        #expect(try PipelineConfiguration.parse("").receivers.enabled == nil)
        #expect(ReceiverSettings.endpoint("[::1]:4317") == .init(host: "::1", port: 4317))
        // Jaeger's protocols, as the Collector names them; each listens, on its default port unless given one.
        let j = try PipelineConfiguration.parse(
            """
            receivers:
              jaeger: {protocols: {grpc: , thrift_compact: {endpoint: ":16831"}}}
            service: {pipelines: {traces: {receivers: [jaeger]}}}
            """)
        #expect(j.receivers.enabled == ["jaeger_grpc", "jaeger_thrift_compact"])
        #expect(j.receivers.jaeger == ["jaeger_thrift_compact": .init(host: nil, port: 16831)])
        do {
            _ = try PipelineConfiguration.parse(
                """
                receivers:
                  otlp: {protocols: {grpc: {endpoint: "localhost"}, thrift: {}}}
                  jaeger: {}
                  kafka: {}
                service: {pipelines: {traces: {receivers: [zipkin]}}}
                """)
            Issue.record("accepted")
        } catch {
            let text = error.errors.map { "\($0.line): \($0.message)" }
            #expect(text.contains { $0.hasPrefix("2: endpoint must be host:port") })
            #expect(text.contains { $0.hasPrefix("2: unknown key 'thrift' in protocols") })
            #expect(text.contains { $0.hasPrefix("3: jaeger needs protocols") })
            #expect(text.contains { $0.hasPrefix("4: unknown receiver 'kafka'") })
            #expect(text.contains { $0.hasPrefix("5: receiver 'zipkin' is not defined") })
        }
    }
}
