public import AriadneModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Refuses spans while the process's resident memory is above a soft limit (the limit minus the
/// spike allowance), as the OpenTelemetry Collector's memory_limiter does: receivers answer
/// 429/503 + Retry-After or UNAVAILABLE, and clients retry once memory is back under it.
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

    public init(_ settings: Settings, next: any SpanConsumer, measure: @escaping @Sendable () -> Int = MemoryLimiter.residentBytes) {
        self.settings = settings
        self.next = next
        self.measure = measure
    }

    public func consume(_ batch: SpanBatch) async throws {
        let rss = currentBytes()
        if rss > settings.softLimitBytes {
            throw IngestError(
                .overloaded,
                "memory limiter: resident memory \(rss >> 20) MiB is over the soft limit of \(settings.softLimitBytes >> 20) MiB; retry later",
                retryAfterSeconds: 1)
        }
        try await next.consume(batch)
    }

    func currentBytes() -> Int {
        let now = ContinuousClock.now
        if let r = reading.withLock({ $0 }), now - r.at < settings.checkInterval { return r.bytes }
        let bytes = measure()
        reading.withLock { $0 = (now, bytes) }
        return bytes
    }

    /// Resident set size from /proc/self/statm (0 where there is none).
    @Sendable public static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var size = 0
        var resident = 0
        guard fscanf_statm(f, &size, &resident) else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func fscanf_statm(_ f: UnsafeMutablePointer<FILE>, _ size: inout Int, _ resident: inout Int) -> Bool {
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, Int32(buffer.count), f) != nil else { return false }
        let fields = String(cString: buffer).split(separator: " ")
        guard fields.count >= 2, let s = Int(fields[0]), let r = Int(fields[1]) else { return false }
        size = s
        resident = r
        return true
    }
}
