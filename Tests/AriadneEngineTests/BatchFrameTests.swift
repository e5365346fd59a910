import AriadneModel
import AriadneTesting
import AriadneWorkload
import Testing

@testable import AriadneEngine

/// WAL records as batch frames: what is written is what a replay reads, and a damaged frame is
/// an error, never a trap.
@Suite struct BatchFrameTests {
    static func spans(_ b: SpanBatch) -> [Span] { (0..<b.count).map { b.span(at: $0) } }

    @Test func framesReadBackEverySpanAsWritten() throws {
        var w = Workload(seed: 21, profile: .realistic)
        let realistic = w.batch(spans: 1000, start: EngineDurability.t0)
        for batch in [BlockFormatTests.awkwardTrace(), realistic, SpanBatch()] {
            let frame = BatchFrame.encode(batch)
            let read = frame.withUnsafeBytes { try? BatchFrame.decode($0) }
            #expect(read.map(Self.spans) == Self.spans(batch))
        }
        // A frame is no larger than the batch as OTLP protobuf by much: it is written to disk.
        let frame = BatchFrame.encode(realistic)
        #expect(Double(frame.count) / Double(realistic.count) < 700)
    }

    @Test func damagedFramesAreRefusedNotTrapped() throws {
        var w = Workload(seed: 22, profile: .realistic)
        var batch = w.batch(spans: 100, start: EngineDurability.t0)
        batch.append(contentsOf: BlockFormatTests.awkwardTrace())
        let frame = BatchFrame.encode(batch)
        var rng = SplitMix64(seed: 9)
        var refused = 0
        for round in 0..<600 {
            var damaged = round % 3 == 0 ? Array(frame.prefix(Int(rng.next() % UInt64(frame.count)))) : frame
            if round % 3 != 0 {
                for _ in 0..<(1 + rng.next() % 3) { damaged[Int(rng.next() % UInt64(damaged.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            do {
                let read = try damaged.withUnsafeBytes { try BatchFrame.decode($0) }
                // What decodes can be read in full.
                _ = Self.spans(read)
            } catch {
                refused += 1
            }
        }
        // Every truncation is refused (the counts give the exact size), and so is much else.
        #expect(refused >= 200)
    }
}
