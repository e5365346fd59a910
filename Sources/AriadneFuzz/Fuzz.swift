import AriadneEngine
import AriadneModel
import AriadneWorkload
import Foundation

// Fuzz harness for the block reader and WAL replay.
//
// Built by scripts/fuzz.sh with -sanitize=fuzzer -DLIBFUZZER, libFuzzer drives
// `LLVMFuzzerTestOneInput`. Built normally (`swift run AriadneFuzz N`), a small built-in loop
// mutates valid seeds N times: the same checks without coverage guidance.
//
// Input: the first byte chooses the target (modulo 3 — 0: block file, 1: WAL segment, 2: a
// search section: directory, term field or summaries, parsed without checksums); the rest is
// the file.

let scratch: String = {
    let dir = NSTemporaryDirectory() + "ariadne-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

func runOne(_ input: [UInt8]) {
    guard let first = input.first else { return }
    let file = Array(input.dropFirst())
    switch first % 3 {
    case 0: EngineFuzzing.readBlock(file, scratch: scratch)
    case 1: EngineFuzzing.replayWAL(file, scratch: scratch)
    default: EngineFuzzing.parseSearchData(file)
    }
}

func seedInputs() -> [[UInt8]] {
    var workload = Workload(seed: 99)
    let batch = workload.batch(spans: 60, start: 1_700_000_000_000_000_000)
    guard let (block, wal, search) = try? EngineFuzzing.seeds(batch, scratch: scratch) else { return [] }
    return [[0] + block, [1] + wal] + search.map { [2] + $0 }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// Writes the seeds into the corpus directory named by ARIADNE_FUZZ_SEEDS, once.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>>>
) -> CInt {
    if let dir = ProcessInfo.processInfo.environment["ARIADNE_FUZZ_SEEDS"] {
        for (n, seed) in seedInputs().enumerated() {
            FileManager.default.createFile(atPath: dir + "/seed-\(n)", contents: Data(seed))
        }
    }
    return 0
}

#if LIBFUZZER
    /// libFuzzer's driver, from libclang_rt.fuzzer_no_main (SwiftPM gives executables its own main).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    @main
    struct LibFuzzerMain {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            _ = fuzzInitialize(
                &argc,
                withUnsafeMutablePointer(to: &argv) {
                    UnsafeMutableRawPointer($0).assumingMemoryBound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>>.self)
                })
            exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) })
        }
    }
#else
    @main
    struct BuiltInFuzzLoop {
        static func main() {
            let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 10_000
            let seeds = seedInputs()
            var rng = SystemRandomNumberGenerator()
            for k in 0..<iterations {
                var input = seeds[k % seeds.count]
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: input[Int.random(in: 1..<input.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                    case 1: input.removeLast(Int.random(in: 0..<min(64, input.count - 1), using: &rng))
                    default: input.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 1..<input.count, using: &rng))
                    }
                }
                runOne(input)
                if k % 1000 == 999 { print("fuzz: \(k + 1) executions, no crash") }
            }
            print("fuzz: \(iterations) executions ran clean")
            try? FileManager.default.removeItem(atPath: scratch)
        }
    }
#endif
