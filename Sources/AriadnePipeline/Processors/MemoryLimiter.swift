public import AriadneModel
import CMalloc
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Refuses spans while the process's heap in use is above a soft limit (the limit minus the
/// spike allowance), as the OpenTelemetry Collector's memory_limiter does with Go's heap:
/// receivers answer 429/503 + Retry-After or UNAVAILABLE, and clients retry once memory is back
/// under it. Heap in use (glibc's mallinfo2), not RSS, because freed memory glibc keeps for reuse
/// would otherwise hold the limiter shut after the memory was given back.
public final class MemoryLimiter: SpanConsumer {
    public struct Settings: Sendable, Equatable {
        public var limitBytes: Int
        public var spikeBytes: Int
        /// How stale the memory reading may be.
        public var checkInterval: Duration = .milliseconds(100)

        public init(limitBytes: Int, spikeBytes: Int? = nil, checkInterval: Duration = .milliseconds(100)) {
            self.limitBytes = limitBytes
            self.spikeBytes = spikeBytes ?? limitBytes / 5
            self.checkInterval = checkInterval
        }

        public var softLimitBytes: Int { limitBytes - spikeBytes }
    }

    public let settings: Settings
    public let next: any SpanConsumer
    let reading: Mutex<(at: ContinuousClock.Instant, bytes: Int)?> = Mutex(nil)
    let measure: @Sendable () -> Int
    /// Asked to free memory when over the soft limit (the server cuts the engine's head into a
    /// block and returns freed pages to the system), at most once a second; without it, memory
    /// held by buffers would keep refusing spans until they drained by themselves.
    let relieve: (@Sendable () async -> Void)?
    let relieving = Mutex<ContinuousClock.Instant?>(nil)

    let metrics: PipelineMetrics

    public init(
        _ settings: Settings, next: any SpanConsumer, metrics: PipelineMetrics = PipelineMetrics(),
        measure: @escaping @Sendable () -> Int = MemoryLimiter.heapInUse, relieve: (@Sendable () async -> Void)? = nil
    ) {
        self.settings = settings
        self.next = next
        self.metrics = metrics
        self.measure = measure
        self.relieve = relieve
        metrics.describe("ariadne_memory_limiter_refused_spans_total", "Spans the memory limiter refused.")
        metrics.gauge("ariadne_memory_limiter_in_use_bytes", "Heap in use at the memory limiter's last reading.") { [weak self] in
            self?.reading.withLock { $0?.bytes } ?? 0
        }
    }

    public func consume(_ batch: SpanBatch) async throws {
        let rss = currentBytes()
        if rss > settings.softLimitBytes {
            askForRelief()
            metrics.add("ariadne_memory_limiter_refused_spans_total", batch.count)
            throw IngestError(
                .throttled,
                "memory limiter: \(rss >> 20) MiB in use is over the soft limit of \(settings.softLimitBytes >> 20) MiB; retry later",
                retryAfterSeconds: 1)
        }
        try await next.consume(batch)
    }

    func askForRelief() {
        guard let relieve else { return }
        let now = ContinuousClock.now
        let due = relieving.withLock { last in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        Task {
            await relieve()
            // Read memory afresh rather than refuse on a stale figure.
            reading.withLock { $0 = nil }
        }
    }

    func currentBytes() -> Int {
        let now = ContinuousClock.now
        if let r = reading.withLock({ $0 }), now - r.at < settings.checkInterval { return r.bytes }
        let bytes = measure()
        reading.withLock { $0 = (now, bytes) }
        return bytes
    }

    /// Bytes allocated and not freed: glibc's heap in use plus its mmapped blocks.
    @Sendable public static func heapInUse() -> Int {
        #if canImport(Glibc)
            let info = mallinfo2()
            return Int(info.uordblks) + Int(info.hblkhd)
        #else
            return residentBytes()
        #endif
    }

    /// Resident set size from /proc/self/statm (0 where there is none).
    @Sendable public static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var size = 0
        var resident = 0
        guard readStatm(f, &size, &resident) else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func readStatm(_ f: UnsafeMutablePointer<FILE>, _ size: inout Int, _ resident: inout Int) -> Bool {
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, Int32(buffer.count), f) != nil else { return false }
        let fields = String(cString: buffer).split(separator: " ")
        guard fields.count >= 2, let s = Int(fields[0]), let r = Int(fields[1]) else { return false }
        size = s
        resident = r
        return true
    }
}
