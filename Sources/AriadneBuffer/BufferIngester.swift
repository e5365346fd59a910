import AriadneModel
public import AriadnePipeline
import AriadneWire
import Synchronization

/// The ingester's side of the buffer: it holds leases on a fair share of the partitions, pulls
/// each one's messages through a durable consumer, hands their spans to the pipeline (tail
/// sampling, the store), and acknowledges a message only once its spans are stored (or dropped
/// by a sampling decision). A message not acknowledged — the store refused, the ingester died —
/// is delivered again; the store's idempotence keeps answers free of copies.
///
/// Leases live in a JetStream key-value bucket whose entries expire `leaseTTL` after their last
/// renewal: an ingester that dies loses its partitions to the others within that time, and the
/// messages it had not acknowledged come back after the consumer's `ackWait`.
public final class BufferIngester: Sendable {
    public struct Options: Sendable {
        /// This ingester's name in the leases (unique among running ingesters).
        public var id: String
        public var leaseTTL: Duration = .seconds(10)
        public var renewEvery: Duration = .seconds(3)
        /// How long JetStream waits for an acknowledgement before delivering again.
        public var ackWait: Duration = .seconds(30)
        /// Messages fetched, decoded and handed on together.
        public var fetchMessages = 64
        /// Groups of messages per partition handed on and waiting for their spans to settle.
        public var maxGroupsInFlight = 64
        /// Bytes of messages fetched and not yet acknowledged, over every partition: past it,
        /// partitions wait for their groups to settle before fetching more.
        public var maxBytesInFlight = 256 << 20

        public init(id: String) { self.id = id }
    }

    let settings: BufferSettings
    let options: Options
    let connection: JetStreamConnection
    /// The pipeline of a tenant's spans (nil: the default tenant), each message's named by its
    /// `Ariadne-Tenant` header.
    let pipeline: @Sendable (_ tenant: String?) async throws -> Pipeline
    let metrics: PipelineMetrics
    let log: @Sendable (String) -> Void
    /// Partitions held, and each one's lag as last read.
    let owned = Mutex<Set<Int>>([])
    let lags = Mutex<[Int: Int]>([:])
    let bytesInFlight = Atomic<Int>(0)
    /// The stream's messages and bytes, as last read.
    let stream = Mutex((messages: 0, bytes: 0))
    static let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    static let sizeBuckets: [Double] = [10, 100, 1000, 5000, 10000, 50000, 100_000]

    public init(
        settings: BufferSettings, options: Options, connection: JetStreamConnection,
        pipeline: @escaping @Sendable (_ tenant: String?) async throws -> Pipeline, metrics: PipelineMetrics,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.settings = settings
        self.options = options
        self.connection = connection
        self.pipeline = pipeline
        self.metrics = metrics
        self.log = log
        metrics.describe("ariadne_buffer_messages_consumed_total", "Messages whose spans were stored (or dropped by sampling) and acknowledged.")
        metrics.describe("ariadne_buffer_spans_consumed_total", "Spans taken from the buffer and settled.")
        metrics.describe("ariadne_buffer_redeliveries_total", "Messages JetStream delivered more than once.")
        metrics.describe("ariadne_buffer_messages_malformed_total", "Messages that could not be decoded (terminated, never redelivered).")
        metrics.describe("ariadne_buffer_purges_total", "Consumed messages of a partition removed to make room in the stream.")
        metrics.describe("ariadne_buffer_insert_failures_total", "Groups of messages the pipeline or store refused (delivered again later).")
        metrics.describe(
            "ariadne_buffer_insert_duration_seconds", "From handing a group of messages on to its spans being settled.", type: .histogram)
        metrics.describe("ariadne_buffer_insert_batch_spans", "Spans per group of messages handed on (a histogram of counts).", type: .histogram)
        metrics.gauge("ariadne_buffer_stream_messages", "Messages the stream holds (consumed ones until purged), as last read.") {
            [weak self] in self?.stream.withLock { $0.messages } ?? 0
        }
        metrics.gauge("ariadne_buffer_stream_bytes", "Bytes the stream holds, as last read; past 70% of its limit consumed messages are purged.") {
            [weak self] in self?.stream.withLock { $0.bytes } ?? 0
        }
        metrics.gauge("ariadne_buffer_partitions_owned", "Partitions this ingester holds the lease of.") { [weak self] in
            self?.owned.withLock { $0.count } ?? 0
        }
        for p in 0..<settings.partitions {
            metrics.gauge(
                "ariadne_buffer_consumer_lag",
                "Messages of the partition not yet acknowledged (pending + awaiting acknowledgement), as this ingester last read it.",
                ["partition": String(p)]
            ) { [weak self] in self?.lags.withLock { $0[p] } ?? 0 }
        }
    }

    public var partitionsOwned: Set<Int> { owned.withLock { $0 } }

    /// Whether this ingester holds the leader lease: one ingester at a time does what must be
    /// done once for the cluster (evaluating alerts and notifying their transitions).
    public var isLeader: Bool { leader.load(ordering: .acquiring) }
    let leader = Atomic<Bool>(false)
    static let leaderKey = "leader"

    func durable(_ p: Int) -> String { "ariadne-ingest-\(p)" }
    static func leaseKey(_ p: Int) -> String { "partition.\(p)" }
    static func memberKey(_ id: String) -> String { "member.\(id)" }

    /// Holds leases and consumes until cancelled; then finishes what it handed on and gives
    /// its leases back, so that another ingester takes over at once.
    public func run() async {
        let leases: KeyValueBucket
        do {
            leases = try await retrying("lease bucket") { [connection, settings, options] in
                try connection.ensureStream(settings.streamSettings)
                return try connection.keyValue(
                    bucket: settings.stream + "_LEASES", ttl: options.leaseTTL, replicas: settings.effectiveReplicas)
            }
        } catch { return }
        var tasks = [Int: (stop: Latch, task: Task<Void, Never>)]()
        var revisions = [Int: UInt64]()
        var leaderRevision: UInt64?
        let me = options.id
        let first = Int(MessageID.of(Array(me.utf8)).prefix(8), radix: 16)! % settings.partitions
        while !Task.isCancelled {
            do {
                try await Blocking.run { try leases.put(Self.memberKey(me), me) }
                if let rev = leaderRevision {
                    leaderRevision = try await Blocking.run { try leases.update(Self.leaderKey, me, last: rev) }
                } else {
                    leaderRevision = try await Blocking.run { try leases.create(Self.leaderKey, me) }
                    if leaderRevision != nil { log("buffer: this ingester leads (evaluates alerts)") }
                }
                leader.store(leaderRevision != nil, ordering: .releasing)
                let members = max(1, try await Blocking.run { try leases.keys() }.filter { $0.hasPrefix("member.") }.count)
                let fair = (settings.partitions + members - 1) / members
                // Renew what we hold; a lease that moved on is lost (we were too slow): stop it.
                for (p, rev) in revisions {
                    let renewed = try await Blocking.run { try leases.update(Self.leaseKey(p), me, last: rev) }
                    if let renewed {
                        revisions[p] = renewed
                    } else {
                        log("buffer: lost the lease of partition \(p)")
                        revisions[p] = nil
                        await stop(p, &tasks)
                    }
                }
                // More than a fair share while others wait: give the extra back.
                while revisions.count > fair, let p = revisions.keys.max() {
                    await stop(p, &tasks)
                    revisions[p] = nil
                    leases.delete(Self.leaseKey(p))
                    log("buffer: gave partition \(p) back (\(members) ingesters share \(settings.partitions) partitions)")
                }
                // Fewer: take free ones, starting at our own place in the ring.
                var taken = [Int]()
                defer { if !taken.isEmpty { log("buffer: took partitions \(taken.sorted().map(String.init).joined(separator: ", "))") } }
                var k = 0
                while revisions.count < fair, k < settings.partitions {
                    let p = (first + k) % settings.partitions
                    k += 1
                    if revisions[p] != nil { continue }
                    if let rev = try await Blocking.run({ try leases.create(Self.leaseKey(p), me) }) {
                        revisions[p] = rev
                        let flag = Latch()
                        tasks[p] = (flag, Task { await self.consume(partition: p, stop: flag) })
                        taken.append(p)
                    }
                }
                owned.withLock { $0 = Set(revisions.keys) }
                try await account(Array(revisions.keys))
            } catch {
                log("buffer: leases: \(error)")
                // Not renewed in time, the lease may pass to another: stop leading until renewed.
                leaderRevision = nil
                leader.store(false, ordering: .releasing)
            }
            try? await Task.sleep(for: options.renewEvery)
        }
        for p in Array(tasks.keys) { await stop(p, &tasks) }
        for p in revisions.keys { leases.delete(Self.leaseKey(p)) }
        if leaderRevision != nil { leases.delete(Self.leaderKey) }
        leader.store(false, ordering: .releasing)
        leases.delete(Self.memberKey(me))
        owned.withLock { $0 = [] }
    }

    /// Reads each held partition's lag; when the stream nears its byte limit, removes what every
    /// held partition has consumed, so that collectors are refused only for a real backlog.
    func account(_ partitions: [Int]) async throws {
        let connection = self.connection, settings = self.settings
        let state = try await Blocking.run { try connection.streamState(settings.stream) }
        stream.withLock { $0 = (Int(state.messages), Int(state.bytes)) }
        let makeRoom = Double(state.bytes) > Double(settings.maxBytes) * Self.purgeAbove
        for p in partitions {
            let durable = durable(p)
            guard let lag = try? await Blocking.run({ try connection.consumerLag(stream: settings.stream, durable: durable) }) else { continue }
            lags.withLock { $0[p] = Int(lag.pending) + Int(lag.ackPending) }
            if makeRoom, lag.ackFloor > 0 {
                try await Blocking.run { try connection.purge(stream: settings.stream, subject: settings.subject(p), below: lag.ackFloor + 1) }
                metrics.add("ariadne_buffer_purges_total", 1)
            }
        }
    }

    /// Share of the stream's byte limit past which consumed messages are purged.
    static let purgeAbove = 0.7

    func stop(_ p: Int, _ tasks: inout [Int: (stop: Latch, task: Task<Void, Never>)]) async {
        guard let t = tasks.removeValue(forKey: p) else { return }
        t.stop.set()
        await t.task.value
        owned.withLock { _ = $0.remove(p) }
        lags.withLock { $0[p] = nil }
    }

    /// Retries a setup step until it works or the task is cancelled.
    func retrying<T: Sendable>(_ what: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        while true {
            do { return try await Blocking.run(body) } catch {
                if Task.isCancelled { throw CancellationError() }
                log("buffer: \(what): \(error); trying again in 2 s")
                try await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// One partition: fetch, hand on, and acknowledge each group once it settled; several
    /// groups in flight at once, so that the decision wait of tail sampling does not pace fetching.
    func consume(partition p: Int, stop: Latch) async {
        let subscription: PullSubscription
        do {
            subscription = try await retrying("consumer of partition \(p)") { [connection, settings, options] in
                try connection.pullSubscription(
                    stream: settings.stream, subject: settings.subject(p), durable: self.durable(p), ackWait: options.ackWait,
                    maxAckPending: options.fetchMessages * options.maxGroupsInFlight)
            }
        } catch { return }
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            while !stop.isSet {
                while inFlight >= options.maxGroupsInFlight
                    || (bytesInFlight.load(ordering: .relaxed) > options.maxBytesInFlight && !stop.isSet)
                {
                    if inFlight > 0 {
                        await group.next()
                        inFlight -= 1
                    } else {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                }
                let messages: [BufferMessage]
                do {
                    messages = try await Blocking.run { [options] in try subscription.fetch(max: options.fetchMessages, timeout: .seconds(1)) }
                } catch {
                    // The server is away or the consumer is being moved: try again shortly.
                    try? await Task.sleep(for: .milliseconds(500))
                    continue
                }
                guard !messages.isEmpty else { continue }
                let size = messages.reduce(0) { $0 + $1.size }
                bytesInFlight.add(size, ordering: .relaxed)
                // One batch per tenant, each to its tenant's pipeline.
                var batches = [String?: SpanBatch]()
                var good = [BufferMessage]()
                for m in messages {
                    if m.deliveries > 1 { metrics.add("ariadne_buffer_redeliveries_total", 1) }
                    do {
                        let (part, _) = try OTLPProtobuf.decodeExportRequest(m.bytes)
                        let tenant = m.header(BufferPublisher.tenantHeader)
                        if batches[tenant] == nil {
                            batches[tenant] = part
                        } else {
                            batches[tenant]!.append(from: part, indices: 0..<part.count)
                        }
                        good.append(m)
                    } catch {
                        metrics.add("ariadne_buffer_messages_malformed_total", 1)
                        log("buffer: partition \(p): a message could not be decoded (\(error)); it will not be delivered again")
                        m.term()
                    }
                }
                let started = ContinuousClock.now
                let spans = batches.values.reduce(0) { $0 + $1.count }
                var pipelines = [Pipeline]()
                do {
                    for (tenant, batch) in batches {
                        let p = try await pipeline(tenant)
                        try await p.consumer.consume(batch)
                        pipelines.append(p)
                    }
                } catch {
                    bytesInFlight.subtract(size, ordering: .relaxed)
                    await refused(good, p, error)
                    continue
                }
                inFlight += 1
                group.addTask { [self] in
                    defer { bytesInFlight.subtract(size, ordering: .relaxed) }
                    do {
                        for p in pipelines { try await p.settle() }
                    } catch {
                        await refused(good, p, error)
                        return
                    }
                    for m in good { try? m.ack() }
                    metrics.add("ariadne_buffer_messages_consumed_total", good.count)
                    metrics.add("ariadne_buffer_spans_consumed_total", spans)
                    metrics.observe(
                        "ariadne_buffer_insert_duration_seconds", seconds: (ContinuousClock.now - started).inSeconds, buckets: Self.buckets)
                    metrics.observe("ariadne_buffer_insert_batch_spans", seconds: Double(spans), buckets: Self.sizeBuckets)
                }
            }
            await group.waitForAll()
        }
        subscription.unsubscribe()
    }

    /// The pipeline or store refused a group: it comes back after a pause, and fetching slows.
    func refused(_ messages: [BufferMessage], _ p: Int, _ error: any Error) async {
        metrics.add("ariadne_buffer_insert_failures_total", 1)
        log("buffer: partition \(p): \(messages.count) messages refused (\(error)); delivered again in 2 s")
        for m in messages { m.nak(delay: .seconds(2)) }
        try? await Task.sleep(for: .seconds(1))
    }
}
