import AriadneModel
import AriadneStorage
import AriadneTesting
import AriadneWire
import AriadneWorkload
import Foundation
import Synchronization
import Testing

@testable import AriadneEngine

/// A fresh directory for one test, removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ariadne-engine-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try await body(dir)
}

/// The engine driven so that reads come from one place: after every write it either cuts the
/// head into a block (reads come from blocks) or reopens the store (reads come from WAL replay).
final class EngineUnderTest: TraceStore {
    enum AfterWrite { case cut, reopen }

    let directory: String
    let afterWrite: AfterWrite
    let current: Mutex<EngineStore>

    init(_ directory: String, afterWrite: AfterWrite) throws {
        self.directory = directory
        self.afterWrite = afterWrite
        current = Mutex(try EngineStore(directory: directory))
    }

    var store: EngineStore { current.withLock { $0 } }

    func write(_ batch: SpanBatch) async throws {
        try await store.write(batch)
        switch afterWrite {
        case .cut: try await store.cut()
        case .reopen:
            let reopened = try EngineStore(directory: directory)
            current.withLock { $0 = reopened }
        }
    }
    func services() async throws -> [String] { try await store.services() }
    func operations(service: String, kind: SpanKind?) async throws -> [SpanOperation] {
        try await store.operations(service: service, kind: kind)
    }
    func trace(id: TraceID, window: ClosedRange<UInt64>?) async throws -> SpanBatch? {
        try await store.trace(id: id, window: window)
    }
    func findTraceIDs(matching matcher: SpanMatcher) async throws -> [TraceID] { try await store.findTraceIDs(matching: matcher) }
    func traces(_ ids: [TraceID]) async throws -> [SpanBatch] { try await store.traces(ids) }
    func dependencies(window: ClosedRange<UInt64>, step: UInt64?) async throws -> [DependencyLink] {
        try await store.dependencies(window: window, step: step)
    }
    func summaries(_ ids: [TraceID]) async throws -> [TraceSummary] { try await store.summaries(ids) }
}

@Suite struct EngineConformance {
    @Test(arguments: StorageConformance.cases)
    func headOnly(_ check: StorageConformance.Case) async throws {
        try await withTemporaryDirectory { dir in try await check.run(EngineStore(directory: dir)) }
    }

    @Test(arguments: StorageConformance.cases)
    func blocks(_ check: StorageConformance.Case) async throws {
        try await withTemporaryDirectory { dir in try await check.run(EngineUnderTest(dir, afterWrite: .cut)) }
    }

    @Test(arguments: StorageConformance.cases)
    func afterRestart(_ check: StorageConformance.Case) async throws {
        try await withTemporaryDirectory { dir in try await check.run(EngineUnderTest(dir, afterWrite: .reopen)) }
    }
}

@Suite struct EngineDurability {
    static let t0: UInt64 = 1_700_000_000_000_000_000

    func workload(_ spans: Int, seed: UInt64) -> SpanBatch {
        var w = Workload(seed: seed)
        return w.batch(spans: spans, start: Self.t0)
    }

    @Test func spansSurviveRestartFromWALAndBlocks() async throws {
        try await withTemporaryDirectory { dir in
            let first = workload(2000, seed: 1)
            let second = workload(1000, seed: 2)
            do {
                let store = try EngineStore(directory: dir)
                try await store.write(first)
                try await store.cut()  // first → block
                try await store.write(second)  // second stays in the WAL
                #expect(store.blockCount == 1)
            }
            let events = Mutex([String]())
            let reopened = try EngineStore(directory: dir) { e in events.withLock { $0.append(e.description) } }
            #expect(reopened.blockCount == 1)
            #expect(reopened.headSpanCount == second.count)
            #expect(events.withLock { $0 }.contains { $0.contains("replayed \(second.count) spans") })
            for batch in [first, second] {
                for id in Set(batch.traceIDs) {
                    let expected = batch.spans(ofTrace: id)
                    let read = try await reopened.trace(id: id, window: nil)
                    #expect(read?.ownedSpansSortedByID == expected.ownedSpansSortedByID)
                }
            }
        }
    }

    @Test func cutDeletesTheWALSegmentsItCovers() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            try await store.write(workload(500, seed: 3))
            let before = try WriteAheadLog.segments(in: dir + "/wal")
            try await store.cut()
            let after = try WriteAheadLog.segments(in: dir + "/wal")
            #expect(after.count == 1)
            #expect(after[0] > before.max()!)
        }
    }

    @Test func tornWALTailIsTruncatedAndReported() async throws {
        try await withTemporaryDirectory { dir in
            let batch = workload(300, seed: 4)
            do {
                let store = try EngineStore(directory: dir)
                try await store.write(batch)
                try await store.write(workload(300, seed: 5))
            }
            // Cut the last record in half, as a crash in the middle of a write would.
            let segment = try WriteAheadLog.segments(in: dir + "/wal").first!
            let path = WriteAheadLog.path(dir + "/wal", segment)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            truncate(path, off_t(size - 100))
            let events = Mutex([String]())
            let reopened = try EngineStore(directory: dir) { e in events.withLock { $0.append(e.description) } }
            #expect(events.withLock { $0 }.contains { $0.contains("truncated") })
            #expect(reopened.headSpanCount == batch.count)
            let id = batch.traceIDs[0]
            #expect(try await reopened.trace(id: id, window: nil) != nil)
        }
    }

    @Test func flippedBytesInTheWALTailAreCaughtByTheChecksum() async throws {
        try await withTemporaryDirectory { dir in
            let batch = workload(300, seed: 6)
            do {
                let store = try EngineStore(directory: dir)
                try await store.write(batch)
                try await store.write(workload(300, seed: 7))
            }
            let path = WriteAheadLog.path(dir + "/wal", try WriteAheadLog.segments(in: dir + "/wal").first!)
            var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
            bytes[bytes.count - 50] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let events = Mutex([String]())
            let reopened = try EngineStore(directory: dir) { e in events.withLock { $0.append(e.description) } }
            #expect(events.withLock { $0 }.contains { $0.contains("checksum mismatch") })
            #expect(reopened.headSpanCount == batch.count)
        }
    }

    @Test func damagedBlockIsQuarantinedAndTheRestIsServed() async throws {
        try await withTemporaryDirectory { dir in
            let good = workload(500, seed: 8)
            let bad = workload(500, seed: 9)
            do {
                let store = try EngineStore(directory: dir)
                try await store.write(bad)
                try await store.cut()
                try await store.write(good)
                try await store.cut()
            }
            let blocks = try FileManager.default.contentsOfDirectory(atPath: dir + "/blocks").sorted()
            #expect(blocks.count == 2)
            // Find the block holding `bad` and flip a byte in its first chunk.
            var damaged = ""
            for name in blocks {
                let path = dir + "/blocks/" + name
                var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
                let reader = try EngineStore(directory: dir)
                if try await reader.trace(id: bad.traceIDs[0], window: nil) != nil, damaged.isEmpty {
                    bytes[20] ^= 0x55
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    damaged = path
                    break
                }
            }
            let events = Mutex([String]())
            let reopened = try EngineStore(directory: dir) { e in events.withLock { $0.append(e.description) } }
            let reported = events.withLock { $0 }
            #expect(reported.contains { $0.contains("damaged") })
            #expect(reopened.blockCount == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/quarantine").count == 1)
            #expect(try await reopened.trace(id: good.traceIDs[0], window: nil) != nil)
        }
    }

    @Test func blockDamagedWhileOpenIsQuarantinedAtQueryTime() async throws {
        try await withTemporaryDirectory { dir in
            let first = workload(300, seed: 10)
            let second = workload(300, seed: 11)
            let events = Mutex([String]())
            let store = try EngineStore(directory: dir) { e in events.withLock { $0.append(e.description) } }
            try await store.write(first)
            try await store.cut()
            let firstBlock = try FileManager.default.contentsOfDirectory(atPath: dir + "/blocks")[0]
            try await store.write(second)
            try await store.cut()
            let path = dir + "/blocks/" + firstBlock
            var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
            bytes[try BlockReader(path: path).chunks[0].offset + 20] ^= 0xFF  // inside the first chunk
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            // A span-duration bound, which the index cannot answer: the candidates' chunks are read.
            let found = try await store.findTraceIDs(TraceQuery(service: "api-gateway", durationMin: 0, limit: 1000))
            #expect(Set(found) == Set(second.traceIDs))
            #expect(store.blockCount == 1)
            #expect(events.withLock { $0 }.contains { $0.contains("damaged") && $0.contains(firstBlock) })
        }
    }

    @Test func retentionDropsOldBlocksWhole() async throws {
        try await withTemporaryDirectory { dir in
            var options = EngineOptions()
            options.retention = .seconds(3600)
            let store = try EngineStore(directory: dir, options: options)
            var w = Workload(seed: 12)
            let old = w.batch(spans: 300, start: Self.t0)
            let recent = w.batch(spans: 300, start: Self.t0 + 10 * 3_600_000_000_000)
            try await store.write(old)
            try await store.cut()
            try await store.write(recent)
            try await store.cut()
            let now = Self.t0 + 10 * 3_600_000_000_000 + 60_000_000_000
            let dropped = store.applyRetention(now: now)
            #expect(dropped.count == 1)
            #expect(!FileManager.default.fileExists(atPath: dropped[0]))
            #expect(try await store.trace(id: old.traceIDs[0], window: nil) == nil)
            #expect(try await store.trace(id: recent.traceIDs[0], window: nil) != nil)
        }
    }

    @Test func retentionBySizeDropsTheOldestFirst() async throws {
        try await withTemporaryDirectory { dir in
            var options = EngineOptions()
            options.retention = nil
            let store = try EngineStore(directory: dir, options: options)
            var batches = [SpanBatch]()
            for k in 0..<3 {
                var w = Workload(seed: 20 + UInt64(k))
                let b = w.batch(spans: 300, start: Self.t0 + UInt64(k) * 1_000_000_000_000)
                batches.append(b)
                try await store.write(b)
                try await store.cut()
            }
            let total = store.blockStats.bytes
            var limited = options
            limited.retentionBytes = total - 1
            let reopened = try EngineStore(directory: dir, options: limited)
            let dropped = reopened.applyRetention()
            #expect(dropped.count == 1)
            #expect(try await reopened.trace(id: batches[0].traceIDs[0], window: nil) == nil)
            #expect(try await reopened.trace(id: batches[2].traceIDs[0], window: nil) != nil)
        }
    }

    @Test func concurrentWritesAreGroupCommitted() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            let batches = (0..<40).map { workload(100, seed: 100 + UInt64($0)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for b in batches { group.addTask { try await store.write(b) } }
                try await group.waitForAll()
            }
            let reopened = try EngineStore(directory: dir)
            #expect(reopened.headSpanCount == batches.reduce(0) { $0 + $1.count })
        }
    }

    /// Concurrent appends share writes and fsyncs: fewer group writes than records, and every
    /// record is durable when its append returns.
    @Test func concurrentAppendsShareFsyncs() async throws {
        try await withTemporaryDirectory { dir in
            let wal = try WriteAheadLog(directory: dir)
            let n = 200
            try await withThrowingTaskGroup(of: Void.self) { group in
                for k in 0..<n { group.addTask { try await wal.append(Array("record \(k)".utf8)) } }
                try await group.waitForAll()
            }
            let (records, writes) = wal.counts
            #expect(records == n)
            #expect(writes < n, "\(writes) fsyncs for \(n) concurrent appends: no group commit")
            print("group commit: \(n) concurrent appends in \(writes) fsyncs")
        }
    }
}

@Suite struct EngineFuzzFindings {
    /// Inputs libFuzzer found crashing (scripts/fuzz.sh), kept so that they stay fixed.
    @Test(arguments: [
        "AgEBAgH/AgL///////////8F/wIBAQIB/wL///8C//8="  // a posting delta overflowing UInt64
    ])
    func findingNoLongerCrashes(_ base64: String) {
        let input = [UInt8](Data(base64Encoded: base64)!)
        #expect(input.first == 2)
        #expect(EngineFuzzing.parseSearchData(Array(input.dropFirst())) == false)
    }
}

@Suite struct EngineDeletion {
    @Test func deletedTracesVanishAtOnceAndPurgeRemovesTheirBytes() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 31)
            let inBlock = w.batch(spans: 400, start: EngineDurability.t0)
            let inHead = w.batch(spans: 400, start: EngineDurability.t0 + 1_000_000)
            try await store.write(inBlock)
            try await store.cut()
            try await store.write(inHead)
            // Delete every trace of one user, wherever its spans are.
            let user = inBlock.span(at: 0).attributes.first { $0.key == "user.id" }!.value.displayString
            let query = TraceQuery(tags: ["user.id": user])
            let expected = Set(try await store.findTraceIDs(TraceQuery(tags: ["user.id": user], limit: 1000)))
            #expect(!expected.isEmpty)
            let deleted = try await store.delete(matching: query)
            #expect(Set(deleted) == expected)
            for id in deleted { #expect(try await store.trace(id: id, window: nil) == nil) }
            #expect(try await store.findTraceIDs(TraceQuery(tags: ["user.id": user], limit: 1000)).isEmpty)
            // Other traces are untouched.
            let other = inBlock.traceIDs.first { !expected.contains($0) }!
            #expect(try await store.trace(id: other, window: nil) != nil)

            // Survives a restart; purge rewrites the block and a cut leaves them out of the new one.
            let reopened = try EngineStore(directory: dir)
            #expect(try await reopened.trace(id: deleted[0], window: nil) == nil)
            #expect(try await reopened.purge() == 1)
            try await reopened.cut()
            // With the tombstones gone, nothing on disk may still hold the deleted traces.
            try FileManager.default.removeItem(atPath: dir + "/tombstones.log")
            let fresh = try EngineStore(directory: dir)
            for id in deleted { #expect(try await fresh.trace(id: id, window: nil) == nil) }
            #expect(try await fresh.findTraceIDs(TraceQuery(tags: ["user.id": user], limit: 1000)).isEmpty)
            #expect(try await fresh.trace(id: other, window: nil) != nil)
        }
    }
}

@Suite struct EngineCompaction {
    @Test func heldUnderMemoryPressureAndGivenUpWhenStopping() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 78)
            for k in 0..<2 {
                try await store.write(w.batch(spans: 200, start: EngineDurability.t0 + UInt64(k) * 1_000_000))
                try await store.cut()
            }
            let before = try Self.blockFiles(dir)
            // Held: nothing starts while memory is short.
            store.holdCompaction(for: .seconds(60))
            #expect(try await store.compact() == 0)
            let fresh = try EngineStore(directory: dir)
            // Stopping: given up before anything is written, the inputs untouched and not quarantined.
            await #expect(throws: EngineStore.CompactionStopped.self) { try await fresh.compact(shouldStop: { true }) }
            #expect(try Self.blockFiles(dir) == before)
            #expect(fresh.blockCount == 2)
            #expect(try await fresh.compact() == 1)
        }
    }

    static func blockFiles(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir + "/blocks").filter { $0.hasSuffix(".blk") }.sorted()
    }

    @Test func smallBlocksMergeAndSplitTracesComeTogether() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 77)
            let first = w.batch(spans: 300, start: EngineDurability.t0)
            let second = w.batch(spans: 300, start: EngineDurability.t0 + 1_000_000)
            // One trace's spans land in two blocks.
            let split = first.traceIDs[0]
            let splitSpans = (0..<first.count).filter { first.traceIDs[$0] == split }
            #expect(splitSpans.count >= 2)
            let rest = (0..<first.count).filter { first.traceIDs[$0] != split }
            try await store.write(first.selecting(rest + [splitSpans[0]]))
            try await store.cut()
            try await store.write(first.selecting(splitSpans.dropFirst()))
            try await store.cut()
            try await store.write(second)
            try await store.cut()
            // A deleted trace is left out of the merged block.
            let gone = second.traceIDs[0]
            _ = try await store.delete(matching: nil, ids: [gone])
            #expect(try Self.blockFiles(dir).count == 3)
            let before = store.blockStats

            #expect(try await store.compact() == 1)
            #expect(try Self.blockFiles(dir).count == 1)
            #expect(store.blockCount == 1)
            let after = store.blockStats
            #expect(after.spans == before.spans - second.spans(ofTrace: gone).count)
            // Nothing to do the second time.
            #expect(try await store.compact() == 0)

            let whole = try await store.trace(id: split, window: nil)
            #expect(whole?.ownedSpansSortedByID == first.selecting(splitSpans).ownedSpansSortedByID)
            for id in Set(second.traceIDs) where id != gone {
                let t = try await store.trace(id: id, window: nil)
                #expect(t?.count == second.spans(ofTrace: id).count)
            }
            // The bytes of the deleted trace are gone, tombstones or not.
            try FileManager.default.removeItem(atPath: dir + "/tombstones.log")
            let reopened = try EngineStore(directory: dir)
            #expect(try await reopened.trace(id: gone, window: nil) == nil)
            let user = first.span(at: rest[0]).attributes.first { $0.key == "user.id" }!.value.displayString
            let found = try await reopened.findTraceIDs(TraceQuery(tags: ["user.id": user], limit: 100))
            #expect(found.contains(first.traceIDs[rest[0]]))
        }
    }

    @Test func oldBlocksAreRewrittenSmallerAtTheCompactionLevel() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 79)
            let batch = w.batch(spans: 3000, start: EngineDurability.t0)
            try await store.write(batch)
            try await store.cut()
            let before = store.blockStats
            // Not yet old enough.
            #expect(try await store.compact(now: batch.endTimes.max()! + 1_000_000_000) == 0)
            #expect(try await store.compact() == 1)
            let after = store.blockStats
            #expect(after.count == 1 && after.spans == before.spans)
            #expect(after.bytes < before.bytes)
            #expect(try await store.compact() == 0)
            for id in Set(batch.traceIDs) {
                #expect(try await store.trace(id: id, window: nil)?.ownedSpansSortedByID == batch.spans(ofTrace: id).ownedSpansSortedByID)
            }
        }
    }

    @Test func blockOfManyTracesReadsBackWholeWithItsSummaries() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 80)
            // Enough traces for the block to be built in two runs, whose start order differs from
            // their id order.
            let batch = w.batch(spans: 10_000, start: EngineDurability.t0)
            #expect(Set(batch.traceIDs).count >= 256)
            try await store.write(batch)
            try await store.cut()
            let ids = Array(Set(batch.traceIDs)).sorted()
            let summaries = try await store.summaries(ids)
            #expect(summaries.count == ids.count)
            for s in summaries {
                #expect(s == TraceSummary(of: batch.spans(ofTrace: s.traceID)))
            }
            // And the index, the chunks and the term index agree with what was written.
            for id in ids.prefix(100) {
                #expect(try await store.trace(id: id, window: nil)?.ownedSpansSortedByID == batch.spans(ofTrace: id).ownedSpansSortedByID)
            }
            let user = batch.span(at: batch.count - 1).attributes.first { $0.key == "user.id" }?.value.displayString
            if let user {
                let expected = Set(
                    (0..<batch.count).filter { i in
                        batch.span(at: i).attributes.contains { $0.key == "user.id" && $0.value.displayString == user }
                    }.map { batch.traceIDs[$0] })
                let found = try await store.findTraceIDs(TraceQuery(filter: .compare(.attribute(.span, "user.id"), .eq, .string(user)), limit: 1000))
                #expect(Set(found) == expected)
            }
        }
    }

    @Test func blocksACompactionReplacedAreDeletedAtStart() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EngineStore(directory: dir)
            var w = Workload(seed: 78)
            let a = w.batch(spans: 200, start: EngineDurability.t0)
            let b = w.batch(spans: 200, start: EngineDurability.t0 + 1_000)
            try await store.write(a)
            try await store.cut()
            try await store.write(b)
            try await store.cut()
            let inputs = try Self.blockFiles(dir)
            let saved = try inputs.map { try Data(contentsOf: URL(fileURLWithPath: dir + "/blocks/" + $0)) }
            #expect(try await store.compact() == 1)
            // As if the process had stopped between writing the merged block and deleting its inputs.
            for (name, data) in zip(inputs, saved) { try data.write(to: URL(fileURLWithPath: dir + "/blocks/" + name)) }
            #expect(try Self.blockFiles(dir).count == 3)
            let log = Mutex<[String]>([])
            let reopened = try EngineStore(directory: dir) { e in log.withLock { $0.append(e.description) } }
            let reports = log.withLock { $0 }
            #expect(try Self.blockFiles(dir).count == 1)
            #expect(reports.filter { $0.contains("compaction had replaced it") }.count == 2)
            #expect(reopened.spanCount == a.count + b.count)
        }
    }
}

@Suite struct StateSignalTests {
    @Test func wakesWaitersAndLosesNoWakeUp() async {
        let signal = StateSignal()
        // A change between reading the generation and waiting ends the wait at once.
        let seen = signal.generation
        signal.broadcast()
        await signal.wait(after: seen)
        // A waiter already waiting is woken by the next change.
        let before = signal.generation
        async let woken: Void = signal.wait(after: before)
        try? await Task.sleep(for: .milliseconds(20))
        signal.broadcast()
        await woken
        #expect(signal.generation == before + 1)
    }

    @Test func cancellationAndTimeoutEndTheWait() async {
        let signal = StateSignal()
        let waiter = Task { await signal.wait(after: signal.generation) }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await waiter.value
        let start = ContinuousClock.now
        await signal.wait(after: signal.generation, timeout: .milliseconds(50))
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }
}

@Suite struct EngineBackpressureTests {
    /// Many writers against a small head: each waits for room (woken when a cut switches heads)
    /// instead of polling, and every acknowledged span ends up stored.
    @Test func writersWaitForHeadRoomAndAllLand() async throws {
        try await withTemporaryDirectory { dir in
            var options = EngineOptions()
            options.headMaxSpans = 200
            options.syncMode = .never
            // Debug builds beside every other suite cut slowly: waiting, not its length, is tested.
            options.backpressureWait = .seconds(60)
            let engine = try EngineStore(directory: dir, options: options)
            var workload = Workload(seed: 3)
            let batches = (0..<400).map { workload.batch(spans: 50, start: 1_700_000_000_000_000_000 + UInt64($0) * 1_000_000) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<20 {
                    group.addTask { for b in stride(from: w, to: batches.count, by: 20) { try await engine.write(batches[b]) } }
                }
                try await group.waitForAll()
            }
            try await engine.cut()
            #expect(engine.spanCount == batches.reduce(0) { $0 + $1.count })
            #expect(engine.headSpanCount == 0)
            #expect(engine.blockCount > 10)
        }
    }
}

@Suite struct WALVersionTests {
    static func segment(header: [UInt8], _ batch: SpanBatch) -> [UInt8] {
        var bytes = header
        WriteAheadLog.frame(OTLPProtobuf.encodeExportRequest(batch), into: &bytes)
        return bytes
    }

    /// Segments written before batch frames — version 1 (`ARDNWAL1`, no payload format) and
    /// version 2 with OTLP protobuf records — are replayed; new ones carry version 2 and the
    /// batch-frame payload format.
    @Test(arguments: [Array("ARDNWAL1".utf8), Array("ARDNWAL2".utf8) + [1, 0, 0, 0, 0, 0, 0, 0]])
    func olderSegmentsAreReplayedAndNewOnesHoldBatchFrames(_ header: [UInt8]) async throws {
        try await withTemporaryDirectory { dir in
            var workload = Workload(seed: 5)
            let batch = workload.batch(spans: 30, start: 1_700_000_000_000_000_000)
            try FileManager.default.createDirectory(atPath: dir + "/wal", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: WriteAheadLog.path(dir + "/wal", 1), contents: Data(Self.segment(header: header, batch)))
            let engine = try EngineStore(directory: dir)
            #expect(engine.headSpanCount == batch.count)
            let more = workload.batch(spans: 20, start: 1_700_000_001_000_000_000)
            try await engine.write(more)
            let newest = try FileManager.default.contentsOfDirectory(atPath: dir + "/wal").sorted().last!
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/wal/" + newest)))
            #expect(Array(bytes.prefix(16)) == Array("ARDNWAL2".utf8) + [2, 0, 0, 0, 0, 0, 0, 0])
            // Both kinds of segment replay into the same spans.
            let again = try EngineStore(directory: dir)
            #expect(again.headSpanCount == batch.count + more.count)
            let id = more.traceIDs[0]
            let read = try await again.trace(id: id, window: nil)
            let expected = more.spans(ofTrace: id)
            #expect(read.map { Set($0.spanIDs.indices.map($0.span(at:))) } == Set(expected.spanIDs.indices.map(expected.span(at:))))
        }
    }

    /// A segment from a newer version is neither replayed nor truncated: the engine refuses to open.
    @Test(arguments: [Array("ARDNWAL9".utf8) + [UInt8](repeating: 0, count: 8), Array("ARDNWAL2".utf8) + [7, 0, 0, 0, 0, 0, 0, 0]])
    func unknownVersionsAreRefusedAndKept(_ header: [UInt8]) async throws {
        try await withTemporaryDirectory { dir in
            var workload = Workload(seed: 6)
            let bytes = Self.segment(header: header, workload.batch(spans: 10, start: 1_700_000_000_000_000_000))
            try FileManager.default.createDirectory(atPath: dir + "/wal", withIntermediateDirectories: true)
            let path = WriteAheadLog.path(dir + "/wal", 1)
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                _ = try EngineStore(directory: dir)
                Issue.record("opened")
            } catch {
                #expect("\(error)".contains("left as it is, not replayed"))
            }
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
        }
    }
}
