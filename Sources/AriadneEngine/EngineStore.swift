public import AriadneModel
public import AriadneStorage
import AriadneWire
import Foundation
import Synchronization

#if canImport(Glibc)
    import CMalloc
#endif

/// Settings of the embedded engine.
public struct EngineOptions: Sendable {
    public var syncMode: WALSyncMode = .always
    /// Spans the head holds before it is cut into a block.
    public var headMaxSpans = 64_000
    /// When the head holds this many times `headMaxSpans` (blocks are written more slowly than
    /// spans arrive), writes wait for the cut in progress, and fail as retryable after
    /// `backpressureWait`: memory stays bounded. One: the head being written is the backlog
    /// (at 2, a lagging server held three heads, ~200 MB of realistic spans, for no more
    /// throughput — a lag is CPU, which a longer queue does not add).
    public var headBacklogFactor = 1
    public var backpressureWait: Duration = .seconds(10)
    /// Age of the oldest unflushed write after which the head is cut anyway.
    public var headMaxAge: Duration = .seconds(60)
    public var walSegmentBytes = 128 << 20
    /// Compaction merges blocks smaller than `compactionSmallSpans` (default: half of
    /// `headMaxSpans`, so that blocks cut at full size are never merged again) whose spans start
    /// in the same `compactionWindow`, into blocks of up to `compactionMaxSpans` (default:
    /// `headMaxSpans`).
    public var compactionWindow: Duration = .seconds(3600)
    public var compactionSmallSpans: Int? = nil
    public var compactionMaxSpans: Int? = nil
    /// zstd level of the blocks compaction writes (cuts write level 3, for speed).
    public var compactionLevel: Int32 = 9
    /// A block cut from the head is rewritten at `compactionLevel` once its newest span ended
    /// this long ago (nil: never).
    public var recompressAfter: Duration? = .seconds(600)
    /// Blocks whose newest span ended longer ago than this are deleted (nil: keep forever).
    public var retention: Duration? = .seconds(7 * 86_400)
    /// When block files add up to more than this, the oldest blocks are deleted (nil: no limit).
    public var retentionBytes: Int? = nil

    public init() {}
}

/// Something the engine wants an operator to know: replayed records, a torn WAL tail, a block
/// moved aside. The server logs these.
public struct EngineEvent: Sendable, CustomStringConvertible {
    public var description: String
}

/// The embedded store: a write-ahead log for durability, an in-memory head for spans not yet in
/// a block, and immutable zstd-compressed blocks.
///
/// Write path: the batch is encoded (OTLP protobuf, our codec) into a WAL record; `write`
/// returns once the record is durable (group commit) and the spans are in the head, where they
/// are queryable at once. When the head is large or old enough it is cut: the WAL rotates, a
/// new head takes writes, and the old head becomes a block; then the WAL segments it covered
/// are deleted.
///
/// Start: blocks are opened (a damaged one is moved to `quarantine/` and reported), then every
/// WAL segment is replayed into the head (a torn tail is truncated and reported).
///
/// Layout of the data directory: `wal/NNNNNNNN.wal`, `blocks/<min start>-<seq>.blk`, `quarantine/`.
public final class EngineStore: TraceStore, TraceDeleter {
    struct State {
        var active: InMemoryStore
        var activeGeneration = 0
        var activeSince: ContinuousClock.Instant? = nil
        /// Heads cut from writes but not yet in a block, newest last.
        var flushing: [(generation: Int, head: InMemoryStore)] = []
        var inflight: [Int: Int] = [:]
        var blocks: [BlockReader] = []
        var nextBlock = 0
        var cutting = false
        /// A background cut has been started and has not finished.
        var cutScheduled = false
        /// Deleted traces: hidden from every read at once, left out of new blocks, and removed
        /// from existing blocks by `purge`.
        var deleted: Set<TraceID> = []
        /// A deletion happened since the last purge (or before this start).
        var purgePending = true
        /// No compaction starts before this: memory is short (``holdCompaction(for:)``).
        var compactionHeldUntil: ContinuousClock.Instant? = nil
        /// The server is stopping: cuts under way give up, no new one starts (``beginStopping()``).
        var stopping = false
    }

    /// Thrown when a compaction is given up because the server is stopping; nothing was written.
    public struct CompactionStopped: Error, CustomStringConvertible {
        public var description: String { "compaction given up: the server is stopping" }
    }

    public let directory: String
    public let options: EngineOptions
    let wal: WriteAheadLog
    private let state: Mutex<State>
    /// Wakes writers waiting for head room, cuts waiting for another cut or for writes to drain.
    let changes = StateSignal()
    private let report: @Sendable (EngineEvent) -> Void

    var walDirectory: String { directory + "/wal" }
    var blockDirectory: String { directory + "/blocks" }
    var quarantineDirectory: String { directory + "/quarantine" }

    /// Opens (or creates) the engine in `directory`, replaying its WAL.
    public init(
        directory: String, options: EngineOptions = EngineOptions(),
        report: @escaping @Sendable (EngineEvent) -> Void = { _ in }
    ) throws {
        self.directory = directory
        self.options = options
        self.report = report
        let fm = FileManager.default
        for d in [directory, directory + "/wal", directory + "/blocks"] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        // Blocks: open each, quarantine the damaged.
        var blocks = [BlockReader]()
        var nextBlock = 0
        let names = ((try? fm.contentsOfDirectory(atPath: directory + "/blocks")) ?? []).sorted()
        for name in names {
            let path = directory + "/blocks/" + name
            if name.hasSuffix(".tmp") {
                try? fm.removeItem(atPath: path)  // an interrupted write; its WAL is still there
                continue
            }
            guard name.hasSuffix(".blk") else { continue }
            if let seq = name.dropLast(4).split(separator: "-").last.flatMap({ Int($0) }) {
                nextBlock = max(nextBlock, seq + 1)
            }
            do {
                blocks.append(try BlockReader(path: path))
            } catch {
                let moved = Self.quarantine(path, directory: directory + "/quarantine")
                report(EngineEvent(description: "block \(path) is damaged (\(error)); moved to \(moved)"))
            }
        }
        // A compacted block names the blocks it replaced: if the process stopped before deleting
        // them, delete them now (their spans are in the compacted block).
        let superseded = Set(blocks.flatMap(\.meta.replaces))
        if !superseded.isEmpty {
            for b in blocks where superseded.contains((b.path as NSString).lastPathComponent) {
                try? fm.removeItem(atPath: b.path)
                report(EngineEvent(description: "deleted block \(b.path): compaction had replaced it"))
            }
            blocks.removeAll { superseded.contains(($0.path as NSString).lastPathComponent) }
        }
        // WAL: replay into the head.
        let head = InMemoryStore(maxSpans: Int.max)
        var replayed = 0
        var records = [SpanBatch]()
        let reports = try WriteAheadLog.replay(directory: directory + "/wal") { _, format, payload in
            let batch = try WriteAheadLog.batch(of: payload, format: format)
            records.append(batch)
            replayed += batch.count
        }
        for r in reports where r.truncatedBytes > 0 || r.reason != nil {
            report(
                EngineEvent(
                    description:
                        "WAL segment \(WriteAheadLog.path(directory + "/wal", r.segment)): kept \(r.records) records, truncated \(r.truncatedBytes) bytes (\(r.reason ?? "torn tail"))"
                ))
        }
        let deleted = try Tombstones.load(directory + "/tombstones.log", report: report)
        self.wal = try WriteAheadLog(
            directory: directory + "/wal", syncMode: options.syncMode, segmentBytes: options.walSegmentBytes)
        state = Mutex(State(active: head, blocks: blocks, nextBlock: nextBlock, deleted: deleted))
        if replayed > 0 {
            report(EngineEvent(description: "replayed \(replayed) spans from the WAL into the head"))
        }
        for b in records { head.insert(b) }
        if replayed > 0 { state.withLock { $0.activeSince = .now } }
    }

    static func quarantine(_ path: String, directory: String) -> String {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = directory + "/" + (path as NSString).lastPathComponent + ".\(Int(Date().timeIntervalSince1970))"
        do {
            try FileManager.default.moveItem(atPath: path, toPath: target)
            return target
        } catch {
            return "(could not move: \(error))"
        }
    }

    /// Spans in the head (not yet in blocks).
    public var headSpanCount: Int {
        state.withLock { s in s.active.spanCount + s.flushing.reduce(0) { $0 + $1.head.spanCount } }
    }

    public var blockCount: Int { state.withLock { $0.blocks.count } }

    /// Spans held: in the head and in blocks (a span replayed from the WAL after its block was
    /// written counts twice until the next cut).
    public var spanCount: Int {
        headSpanCount + state.withLock { s in s.blocks.reduce(0) { $0 + $1.meta.spanCount } }
    }

    /// Blocks, the spans they hold and their size on disk.
    public var blockStats: (count: Int, spans: Int, bytes: Int) {
        state.withLock { s in
            (s.blocks.count, s.blocks.reduce(0) { $0 + $1.meta.spanCount }, s.blocks.reduce(0) { $0 + $1.fileSize })
        }
    }

    /// Bytes on disk by what they hold, over every block: sections by kind, and inside version 4
    /// chunks, columns by what they store (`chunk:<column>`, `chunk:span.<key>` and so on), and
    /// the term index by field (`searchField:span.<key>`), largest first. For benchmarks; reads every chunk's directory.
    public func storageBreakdown() throws -> [(part: String, bytes: Int)] {
        var parts = [String: Int]()
        for b in state.withLock({ $0.blocks }) {
            for (kind, location) in b.sections {
                parts["\(kind)", default: 0] += location.length
                if kind == .searchField, let key = b.searchFields?.first(where: { $0.value.offset == location.offset })?.key {
                    parts["searchField:\(key.scope).\(key.key)", default: 0] += location.length
                }
                // The scope table's columns count with the chunks' (resources and scopes).
                guard kind == .chunk || kind == .scopeTable, b.version >= 4 else { continue }
                let directory = try ColumnarChunk.Directory(b.readRaw(location, what: "chunk"))
                let keys = try ColumnarChunkReader.Strings(
                    directory.entries.firstIndex { $0.kind == ColumnarChunk.Column.keys.rawValue }.map { try directory.column($0) } ?? [])
                for e in directory.entries {
                    parts["chunk:" + ColumnarChunk.describe(kind: e.kind, key: e.key, keys: keys), default: 0] += e.range.count
                }
            }
        }
        return parts.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    }

    /// Deletes whole blocks past the retention age or beyond the size limit, oldest first.
    /// Returns the paths deleted. Queries already reading a deleted block finish normally.
    @discardableResult
    public func applyRetention(now: UInt64? = nil) -> [String] {
        let now = now ?? UInt64(Date().timeIntervalSince1970 * 1e9)
        let dropped: [BlockReader] = state.withLock { s in
            var keep = s.blocks.sorted { $0.meta.minStart < $1.meta.minStart }
            var drop = [BlockReader]()
            if let age = options.retention {
                let ns = UInt64(age.components.seconds) * 1_000_000_000
                let cutoff = now > ns ? now - ns : 0
                drop += keep.filter { $0.meta.maxEnd < cutoff }
                keep.removeAll { $0.meta.maxEnd < cutoff }
            }
            if let limit = options.retentionBytes {
                var total = keep.reduce(0) { $0 + $1.fileSize }
                while total > limit, !keep.isEmpty {
                    let oldest = keep.removeFirst()
                    total -= oldest.fileSize
                    drop.append(oldest)
                }
            }
            s.blocks.removeAll { b in drop.contains { $0 === b } }
            return drop
        }
        for b in dropped {
            try? FileManager.default.removeItem(atPath: b.path)
            report(EngineEvent(description: "retention deleted block \(b.path) (\(b.meta.spanCount) spans)"))
        }
        return dropped.map(\.path)
    }

    /// Cuts the head if it is over its size or age limit (never waiting for a cut under way).
    public func cutIfDue() async throws {
        if shouldCut() { try await cut() }
    }

    // MARK: writing

    public func write(_ batch: SpanBatch) async throws {
        guard !batch.isEmpty else { return }
        try await waitForHeadRoom()
        let record = BatchFrame.encode(batch)
        let (head, generation) = state.withLock { s in
            s.inflight[s.activeGeneration, default: 0] += 1
            if s.activeSince == nil { s.activeSince = .now }
            return (s.active, s.activeGeneration)
        }
        do {
            try await wal.append(record)
            head.insert(batch)
        } catch {
            finishedWrite(into: generation)
            throw error
        }
        finishedWrite(into: generation)
        // In the background: this write is durable and visible already.
        cutInBackgroundIfDue()
    }

    /// A write into head `generation` is over; the last one into a head being cut wakes the cut.
    private func finishedWrite(into generation: Int) {
        let drained = state.withLock { s -> Bool in
            s.inflight[generation, default: 1] -= 1
            return s.inflight[generation] == 0 && generation != s.activeGeneration
        }
        if drained { changes.broadcast() }
    }

    /// Starts one background cut if the head is due and none is running or scheduled; when it
    /// ends, checks again (the head may have filled meanwhile, with every writer now waiting).
    func cutInBackgroundIfDue() {
        let start = state.withLock { s -> Bool in
            guard !s.cutScheduled, !s.cutting, isDue(s) else { return false }
            s.cutScheduled = true
            return true
        }
        guard start else { return }
        Task {
            do { try await cut() } catch is CutStopped {} catch { report(EngineEvent(description: "cutting a block failed: \(error)")) }
            state.withLock { $0.cutScheduled = false }
            cutInBackgroundIfDue()
        }
    }

    /// Backpressure: waits while the head is over its backlog limit.
    func waitForHeadRoom() async throws {
        let limit = options.headMaxSpans * options.headBacklogFactor
        let deadline = ContinuousClock.now + options.backpressureWait
        while true {
            let seen = changes.generation
            guard state.withLock({ $0.active.spanCount >= limit }) else { return }
            cutInBackgroundIfDue()
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                throw EngineError(
                    "engine overloaded: the head holds \(limit)+ spans waiting for blocks to be written", retryable: true)
            }
            // Woken when a cut switches heads or ends.
            await changes.wait(after: seen, timeout: left)
            try Task.checkCancellation()
        }
    }

    func shouldCut() -> Bool {
        state.withLock { s in !s.cutting && isDue(s) }
    }

    private func isDue(_ s: borrowing State) -> Bool {
        if s.active.spanCount >= options.headMaxSpans { return true }
        if let since = s.activeSince, ContinuousClock.now - since >= options.headMaxAge { return true }
        return false
    }

    /// Cuts the head into a block now. When a cut is already under way, waits for it and then
    /// cuts what arrived since, so that on return every write acknowledged before the call is in
    /// a block.
    ///
    /// Once the server is stopping (``beginStopping()``), the cut is given up while its block is
    /// built (``CutStopped``) — a large head, such as one just replayed from the WAL, takes
    /// seconds to write, and stopping must not wait for it. Nothing is lost: the head's spans stay
    /// in the WAL segments, which only a finished block lets go, and the next start replays them.
    public func cut() async throws {
        while true {
            let seen = changes.generation
            let claim = state.withLock { s -> Bool? in
                if s.stopping { return false }
                if s.cutting { return nil }  // wait for the cut under way
                if s.active.spanCount == 0 { return false }
                s.cutting = true
                return true
            }
            if claim == true { break }
            if claim == false { return }
            await changes.wait(after: seen)
            try Task.checkCancellation()
        }
        defer {
            state.withLock { $0.cutting = false }
            changes.broadcast()
        }
        // Rotate first: every record of the old head is then in a segment below `boundary`.
        let boundary = try wal.rotate()
        let (old, generation) = state.withLock { s in
            let old = (s.activeGeneration, s.active)
            s.flushing.append(old)
            s.active = InMemoryStore(maxSpans: Int.max)
            s.activeGeneration += 1
            s.activeSince = nil
            return (old.1, old.0)
        }
        // The new head has room: writers waiting for it go on.
        changes.broadcast()
        // Writes that took the old head before the switch finish into it; the last one wakes us.
        while true {
            let seen = changes.generation
            guard state.withLock({ ($0.inflight[generation] ?? 0) > 0 }) else { break }
            await changes.wait(after: seen)
            try Task.checkCancellation()
        }
        let deletedNow = state.withLock { $0.deleted }
        let batches = old.allBatches().map { Self.withoutDeleted($0, deletedNow) }
        let path = nextBlockPath(for: batches)
        do {
            _ = try BlockWriter.write(batches, to: path, shouldStop: { [self] in isStopping })
        } catch is BlockWriter.Stopped {
            throw CutStopped()
        }
        let reader = try BlockReader(path: path)
        state.withLock { s in
            s.blocks.append(reader)
            s.flushing.removeAll { $0.generation == generation }
            s.inflight[generation] = nil
        }
        try wal.removeSegments(before: boundary)
        #if canImport(Glibc)
            // The old head and the block's working memory are free now, spread through the heap
            // between what lives on; glibc returns only the heap's top by itself, so without
            // this the server's RSS crept up cut after cut (170 -> 340 MB over 45 s at 89k
            // spans/s) although what it held did not grow.
            malloc_trim(0)
        #endif
    }

    // MARK: reading

    /// Every in-memory head, then every block, as a consistent snapshot.
    private func sources() -> (heads: [InMemoryStore], blocks: [BlockReader]) {
        state.withLock { s in ([s.active] + s.flushing.map(\.head), s.blocks) }
    }

    /// A cut given up because the server is stopping.
    public struct CutStopped: Error {}

    /// The server is stopping: a cut under way (in the background too) gives up before it writes
    /// its block, and none starts. Then ``waitForCutToEnd()`` lets the process end without leaving
    /// a block written but its WAL segments not yet released (which a restart would replay again).
    public func beginStopping() {
        state.withLock { $0.stopping = true }
        changes.broadcast()
    }

    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// Returns once no cut is under way.
    public func waitForCutToEnd() async {
        while true {
            let seen = changes.generation
            guard state.withLock({ $0.cutting }) else { return }
            await changes.wait(after: seen, timeout: .seconds(1))
        }
    }

    public func services() async throws -> [String] {
        var all = Set<String>()
        let (heads, blocks) = sources()
        for h in heads { all.formUnion(try await h.services()) }
        for b in blocks { all.formUnion(b.meta.operations.keys) }
        return all.sorted()
    }

    public func operations(service: String, kind: SpanKind?) async throws -> [SpanOperation] {
        var all = Set<SpanOperation>()
        let (heads, blocks) = sources()
        for h in heads { all.formUnion(try await h.operations(service: service, kind: kind)) }
        for b in blocks {
            all.formUnion((b.meta.operations[service] ?? []).filter { kind == nil || $0.kind == kind })
        }
        return all.sorted()
    }

    public func trace(id: TraceID, window: ClosedRange<UInt64>?) async throws -> SpanBatch? {
        guard let trace = try await traces([id]).first else { return nil }
        if let window, !trace.startTimes.contains(where: { window.contains($0) }) { return nil }
        return trace
    }

    /// The named traces from one snapshot of the store, each chunk of a block decompressed once
    /// however many of the traces it holds (search results often sit in the same chunks). A span
    /// written twice (a retry, a replayed WAL record) shows once; spans that only share an id all show.
    public func traces(_ ids: [TraceID]) async throws -> [SpanBatch] {
        let (heads, blocks) = sources()
        let deleted = state.withLock { $0.deleted }
        var parts = [TraceID: [SpanBatch]]()
        for h in heads {
            for id in ids where h.contains(id) {
                if let t = try await h.trace(id: id, window: nil) { parts[id, default: []].append(t) }
            }
        }
        for b in blocks {
            try Task.checkCancellation()
            let wanted = ids.compactMap { id in b.entry(for: id).map { (id, $0) } }.sorted { ($0.1.chunk, $0.1.offset) < ($1.1.chunk, $1.1.offset) }
            guard !wanted.isEmpty else { continue }
            let found: [(TraceID, SpanBatch)]? = try readOrQuarantine(b) { b in
                var chunk: (n: UInt32, loaded: LoadedChunk)? = nil
                return try wanted.map { id, e in
                    if chunk?.n != e.chunk {
                        // Wanted traces come in offset order: parse the chunk through its last one.
                        let last = wanted.lazy.filter { $0.1.chunk == e.chunk }.map(\.1.offset).max()
                        chunk = (e.chunk, try b.loadChunk(Int(e.chunk), through: last))
                    }
                    return (id, try chunk!.loaded.trace(at: Int(e.offset)))
                }
            }
            for (id, t) in found ?? [] { parts[id, default: []].append(t) }
        }
        return ids.compactMap { id in
            guard !deleted.contains(id), let p = parts[id] else { return nil }
            var trace = SpanBatch()
            for part in p { trace.append(contentsOf: part) }
            return trace.isEmpty ? nil : trace.removingExactDuplicates()
        }
    }

    public func findTraceIDs(matching matcher: SpanMatcher) async throws -> [TraceID] {
        let query = matcher.query
        let (heads, blocks) = sources()
        let deleted = state.withLock { $0.deleted }
        var hits = [TraceID: TraceBounds]()
        for h in heads { TraceMatches.merge(try h.matchingTraces(matcher).filter { !deleted.contains($0.key) }, into: &hits) }
        // Blocks whose best possible trace comes first; once `limit` traces are known that all
        // beat a block's best, neither it nor any later block can change the answer.
        let order = query.order
        for b in blocks.filter({ overlaps($0, query) }).sorted(by: { $0.bound(order) > $1.bound(order) }) {
            try Task.checkCancellation()
            var threshold: UInt64? = nil
            // Ranking sorts every hit: only worth it once there can be `limit` of them.
            if query.limit > 0, hits.count >= query.limit, let last = TraceMatches.ranked(hits, query).dropFirst(query.limit - 1).first,
                let bounds = hits[last]
            {
                let key = order == .mostRecent ? bounds.start : bounds.duration
                if key > b.bound(order) { break }
                threshold = key
            }
            let found = try readOrQuarantine(b) { try $0.search(query, matcher: matcher, threshold: threshold, skip: deleted) }
            if let found { TraceMatches.merge(found, into: &hits) }
        }
        return TraceMatches.ranked(hits, query)
    }

    /// Summaries from the blocks' summary sections where a trace lies whole in one block; built
    /// from the spans otherwise (in the head, split across blocks, or in a version 2 block).
    public func summaries(_ ids: [TraceID]) async throws -> [TraceSummary] {
        let (heads, blocks) = sources()
        let deleted = state.withLock { $0.deleted }
        var fromBlocks = [TraceID: TraceSummary]()
        var byBlock = [ObjectIdentifier: (BlockReader, [TraceID])]()
        for id in ids where !deleted.contains(id) {
            if heads.contains(where: { $0.contains(id) }) { continue }
            let holding = blocks.filter { $0.entry(for: id) != nil }
            guard holding.count == 1, holding[0].summarySection != nil else { continue }
            byBlock[ObjectIdentifier(holding[0]), default: (holding[0], [])].1.append(id)
        }
        for (b, wanted) in byBlock.values {
            guard let all = try readOrQuarantine(b, { try $0.summaries() }) ?? nil else { continue }
            for id in wanted {
                if let k = b.traceIDs.binarySearchIndex(of: id) { fromBlocks[id] = all[k] }
            }
        }
        var out = [TraceSummary]()
        for id in ids {
            if let s = fromBlocks[id] {
                out.append(s)
            } else if let t = try await trace(id: id, window: nil), !t.isEmpty {
                out.append(TraceSummary(of: t))
            }
        }
        return out
    }

    // MARK: deletion

    /// Deletes every trace matching `query` (its limit is ignored) and the traces named in `ids`.
    /// The deletion is durable when this returns and every read hides the traces at once; the
    /// bytes leave the disk when the head is cut and when `purge` rewrites the blocks.
    /// Returns the ids deleted.
    public func delete(matching query: TraceQuery?, ids: [TraceID] = []) async throws -> [TraceID] {
        var found = Set(ids)
        if var q = query {
            q.limit = Int.max
            found.formUnion(try await findTraceIDs(q))
        }
        let fresh = state.withLock { s in found.subtracting(s.deleted) }
        guard !fresh.isEmpty else { return [] }
        try Tombstones.append(fresh.sorted(), to: directory + "/tombstones.log")
        state.withLock { s in
            s.deleted.formUnion(fresh)
            s.purgePending = true
        }
        return fresh.sorted()
    }

    /// Rewrites every block that holds a deleted trace without it. Returns the blocks rewritten.
    @discardableResult
    public func purge() async throws -> Int {
        let (deleted, blocks, pending) = state.withLock { s in
            defer { s.purgePending = false }
            return (s.deleted, s.blocks, s.purgePending)
        }
        guard pending, !deleted.isEmpty else { return 0 }
        var rewritten = 0
        for b in blocks where b.traceIDs.contains(where: { deleted.contains($0) }) {
            // At the block's own level: purging is not the moment to spend CPU on recompression.
            if try rewrite([b], deleted: deleted, level: b.meta.level, why: "purge") { rewritten += 1 }
        }
        return rewritten
    }

    /// Merges small blocks whose spans start in the same compaction window into larger ones, and
    /// rewrites blocks cut from the head at the compaction level once they are old enough; leaves
    /// deleted traces out and brings together the spans of a trace that were cut into different
    /// blocks. Does at most `limit` rewrites (a server calls it often with a small limit so that
    /// its other upkeep is not held up). Returns the number of blocks written.
    @discardableResult
    /// Keeps compaction from starting for a while: merging blocks holds their spans in memory,
    /// which is the wrong moment when the memory limiter is already refusing spans.
    public func holdCompaction(for d: Duration) {
        let until = ContinuousClock.now + d
        state.withLock { s in s.compactionHeldUntil = max(s.compactionHeldUntil ?? until, until) }
    }

    /// `shouldStop` is asked between chunks while inputs are read: when it says so, the compaction
    /// is given up (``CompactionStopped``) before anything is written, so that a stop need not wait.
    public func compact(now: UInt64? = nil, limit: Int = .max, shouldStop: () -> Bool = { false }) async throws -> Int {
        let window = UInt64(options.compactionWindow.components.seconds) * 1_000_000_000
        let (blocks, deleted, busy) = state.withLock { s in
            (
                s.blocks, s.deleted,
                s.cutting || !s.flushing.isEmpty || s.active.spanCount > options.headMaxSpans / 2
                    || s.compactionHeldUntil.map { ContinuousClock.now < $0 } == true
            )
        }
        // Compaction takes CPU from ingest: it waits while the engine is cutting or filling fast.
        if busy { return 0 }
        var units = [[BlockReader]]()
        let smallSpans = options.compactionSmallSpans ?? options.headMaxSpans / 2
        let maxSpans = options.compactionMaxSpans ?? options.headMaxSpans
        let small = blocks.filter { $0.meta.spanCount < smallSpans }
        let groups = Dictionary(grouping: small) { window == 0 ? 0 : $0.meta.minStart / window }
        for (_, group) in groups.sorted(by: { $0.key < $1.key }) where group.count >= 2 {
            // Greedily, oldest first, up to the size limit per output block.
            var run = [BlockReader]()
            var runSpans = 0
            for b in group.sorted(by: { $0.meta.minStart < $1.meta.minStart }) {
                if !run.isEmpty, runSpans + b.meta.spanCount > maxSpans {
                    units.append(run)
                    run = []
                    runSpans = 0
                }
                run.append(b)
                runSpans += b.meta.spanCount
            }
            units.append(run)
        }
        units.removeAll { $0.count < 2 }
        if let after = options.recompressAfter {
            let now = now ?? UInt64(Date().timeIntervalSince1970 * 1e9)
            let age = UInt64(after.components.seconds) * 1_000_000_000
            let merging = Set(units.joined().map(ObjectIdentifier.init))
            for b in blocks.sorted(by: { $0.meta.minStart < $1.meta.minStart })
            where (b.meta.level < options.compactionLevel || b.version < BlockFormat.version) && b.meta.maxEnd &+ age < now
                && !merging.contains(ObjectIdentifier(b))
            {
                units.append([b])
            }
        }
        var written = 0
        for inputs in units.prefix(limit) {
            if try rewrite(inputs, deleted: deleted, level: options.compactionLevel, why: "compaction", shouldStop: shouldStop) { written += 1 }
        }
        return written
    }

    /// Writes the spans of `inputs`, less deleted traces, as one block at `level` that names them
    /// as replaced, then puts it in their place (compaction and purge). Returns false when an
    /// input turned out damaged (it is moved aside; the rest are rewritten on a later round).
    private func rewrite(
        _ inputs: [BlockReader], deleted: Set<TraceID>, level: Int32, why: String, shouldStop: () -> Bool = { false }
    ) throws -> Bool {
        let names = inputs.map { ($0.path as NSString).lastPathComponent }
        if inputs.count == 1, inputs[0].version == BlockFormat.version, !inputs[0].traceIDs.contains(where: { deleted.contains($0) }) {
            // A lone block of this version without deleted traces: recompress its chunks, decode
            // nothing. (An older block is decoded and written anew, in this version.)
            let b = inputs[0]
            let path = nextBlockPath(minStart: b.meta.minStart)
            guard (try readOrQuarantine(b) { try BlockWriter.recompress($0, to: path, level: level, replaces: names) }) != nil
            else { return false }
            try swap(inputs, for: BlockReader(path: path), why: why, dropped: 0)
            return true
        }
        // One batch per chunk (not per trace), to keep the number of objects in memory low.
        var batches = [SpanBatch]()
        var dropped = 0
        var stopped = false
        for b in inputs {
            let ok: Void? = try readOrQuarantine(b) { b in
                for n in b.chunks.indices {
                    // Not thrown from here: an error inside would quarantine a healthy block.
                    if shouldStop() {
                        stopped = true
                        return
                    }
                    var merged = SpanBatch()
                    for t in try b.chunk(n) where t.count > 0 {
                        if deleted.contains(t.traceIDs[0]) { dropped += 1 } else { merged.append(contentsOf: t) }
                    }
                    if !merged.isEmpty { batches.append(merged) }
                }
            }
            if stopped { throw CompactionStopped() }
            guard ok != nil else { return false }
        }
        var replacement: BlockReader? = nil
        if !batches.isEmpty {
            let path = nextBlockPath(for: batches)
            _ = try BlockWriter.write(batches, to: path, level: level, replaces: names)
            replacement = try BlockReader(path: path)
        }
        try swap(inputs, for: replacement, why: why, dropped: dropped)
        return true
    }

    /// Puts `replacement` in the place of `inputs`, and deletes their files.
    private func swap(_ inputs: [BlockReader], for replacement: BlockReader?, why: String, dropped: Int) throws {
        state.withLock { s in
            s.blocks.removeAll { b in inputs.contains { $0 === b } }
            if let replacement { s.blocks.append(replacement) }
        }
        for b in inputs { try? FileManager.default.removeItem(atPath: b.path) }
        report(
            EngineEvent(
                description:
                    "\(why) rewrote \(inputs.count) block(s) (\(inputs.reduce(0) { $0 + $1.meta.spanCount }) spans, \(dropped) deleted traces left out) into \(replacement?.path ?? "nothing")"
            ))
    }

    /// A fresh block file name: the earliest span start (so that names sort by time), then a
    /// sequence number unique in this directory.
    func nextBlockPath(for batches: [SpanBatch]) -> String {
        nextBlockPath(minStart: batches.lazy.flatMap(\.startTimes).min() ?? 0)
    }

    func nextBlockPath(minStart: UInt64) -> String {
        let seq = state.withLock { s in
            defer { s.nextBlock += 1 }
            return s.nextBlock
        }
        return blockDirectory + "/" + String(format: "%020llu-%08d.blk", minStart, seq)
    }

    /// The spans of `batch` whose traces are not deleted.
    static func withoutDeleted(_ batch: SpanBatch, _ deleted: Set<TraceID>) -> SpanBatch {
        guard !deleted.isEmpty, batch.traceIDs.contains(where: { deleted.contains($0) }) else { return batch }
        return batch.selecting((0..<batch.count).filter { !deleted.contains(batch.traceIDs[$0]) })
    }

    /// Runs a read of block `b`; if the block turns out damaged, moves it aside, reports it and
    /// answers nil, so that the query is served from everything else. Cancellation (a query
    /// past its deadline) is no damage: it is passed on.
    func readOrQuarantine<R>(_ b: BlockReader, _ read: (BlockReader) throws -> R) throws(CancellationError) -> R? {
        do {
            return try read(b)
        } catch let e as CancellationError {
            throw e
        } catch {
            let removed = state.withLock { s in
                let before = s.blocks.count
                s.blocks.removeAll { $0 === b }
                return s.blocks.count < before
            }
            if removed {
                let moved = Self.quarantine(b.path, directory: quarantineDirectory)
                report(EngineEvent(description: "block \(b.path) is damaged (\(error)); moved to \(moved)"))
            }
            return nil
        }
    }

    /// Whether a block can hold spans matching `query`, from its bounds and services alone.
    func overlaps(_ b: BlockReader, _ query: TraceQuery) -> Bool {
        if let lo = query.startMin, b.meta.maxEnd < lo { return false }
        if let hi = query.startMax, b.meta.minStart > hi { return false }
        if let s = query.service, b.meta.operations[s] == nil { return false }
        return true
    }

    public func dependencies(window: ClosedRange<UInt64>, step: UInt64?) async throws -> [DependencyLink] {
        let (heads, blocks) = sources()
        let deleted = state.withLock { $0.deleted }
        var counter = DependencyCounter(window: window, step: step)
        for h in heads { for b in h.allBatches() { counter.add(Self.withoutDeleted(b, deleted)) } }
        for b in blocks where b.meta.maxEnd >= window.lowerBound && b.meta.minStart <= window.upperBound {
            try Task.checkCancellation()
            let chunks = try readOrQuarantine(b) { b in try b.chunks.indices.flatMap { try b.chunk($0) } } ?? []
            for c in chunks where !(c.count > 0 && deleted.contains(c.traceIDs[0])) { counter.add(c) }
        }
        return counter.links()
    }
}
