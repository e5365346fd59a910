import AriadneEngine
import AriadneModel
import AriadnePipeline
import AriadneTesting
import AriadneWire
import AriadneWorkload
import Foundation

// Fuzz harness for everything that reads bytes from outside: the wire decoders that face the
// network (OTLP protobuf and JSON, Zipkin JSON, Jaeger Thrift compact and binary, Jaeger
// protobuf, gzip bodies) and the engine's files (block reader, WAL replay, search sections).
//
// Built by scripts/fuzz.sh with -sanitize=fuzzer -DLIBFUZZER, libFuzzer drives
// `LLVMFuzzerTestOneInput`; ARIADNE_FUZZ_TARGET names the one target a run fuzzes (scripts/fuzz.sh
// runs each in turn, with its own corpus). Without it, the first byte of the input chooses the
// target and the rest is its input. Built normally (`swift run AriadneFuzz N [TARGET]`), a small
// built-in loop mutates valid seeds N times: the same checks without coverage guidance.
//
// A decoder may refuse its input (that is the point); what the harness catches is a crash, a
// sanitizer report, a leak, a hang, or a decoded batch that validation cannot walk.

let scratch: String = {
    let dir = NSTemporaryDirectory() + "ariadne-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

/// One fuzz target: what it feeds its input to, and valid inputs to start from.
struct FuzzTarget: Sendable {
    var name: String
    var run: @Sendable ([UInt8]) -> Void
    var seeds: @Sendable () -> [[UInt8]]
}

/// Decodes with a wire decoder, then validates what it decoded as the ingest path would.
func decodeAndValidate(
    _ input: [UInt8], _ decode: (UnsafeRawBufferPointer, inout SpanBatch, inout [SpanRejection]) throws(DecodeError) -> Void
) {
    var batch = SpanBatch()
    var rejections = [SpanRejection]()
    let ok = input.withUnsafeBytes { raw in
        do throws(DecodeError) {
            try decode(raw, &batch, &rejections)
            return true
        } catch { return false }
    }
    guard ok else { return }
    let (valid, _, _) = SpanValidation.partition(batch, decoderFindings: rejections.map { ($0.index, $0.reason) })
    for i in 0..<min(valid.count, 16) { _ = valid.span(at: i) }
}

func workloadSpans(_ n: Int, profile: Workload.Profile = .realistic) -> SpanBatch {
    var workload = Workload(seed: 99, profile: profile)
    return workload.batch(spans: n, start: 1_700_000_000_000_000_000)
}

/// Spans of one process, as a Jaeger batch carries them.
func jaegerSpans() -> [Span] {
    let batch = workloadSpans(24)
    let resource = batch.span(at: 0).resource
    return (0..<batch.count).map {
        var s = batch.span(at: $0)
        s.resource = resource
        return s
    }
}

let zipkinSeed = Array(
    """
    [{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","parentId":"352bff9a74ca9ad2","name":"get /api","kind":"SERVER",
    "timestamp":1556604172355737,"duration":1431,"localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
    "remoteEndpoint":{"serviceName":"frontend","ipv4":"172.19.0.2","port":58648},"annotations":[{"timestamp":1556604172355800,"value":"wr"}],
    "tags":{"http.method":"GET","error":"boom"},"shared":true,"debug":false}]
    """.utf8)

let targets: [FuzzTarget] = [
    FuzzTarget(
        name: "block", run: { EngineFuzzing.readBlock($0, scratch: scratch) },
        seeds: { (try? EngineFuzzing.seeds(workloadSpans(60, profile: .loadgen), scratch: scratch)).map { [$0.0] } ?? [] }),
    FuzzTarget(
        name: "wal", run: { EngineFuzzing.replayWAL($0, scratch: scratch) },
        seeds: { (try? EngineFuzzing.seeds(workloadSpans(60, profile: .loadgen), scratch: scratch)).map { [$0.1] } ?? [] }),
    FuzzTarget(
        name: "search", run: { EngineFuzzing.parseSearchData($0) },
        // Realistic spans: their ids and SQL text are rare values, kept in per-chunk filters.
        seeds: { (try? EngineFuzzing.seeds(workloadSpans(60, profile: .realistic), scratch: scratch)).map { $0.2 } ?? [] }),
    FuzzTarget(
        name: "chunk", run: { EngineFuzzing.readChunk($0) },
        seeds: { EngineFuzzing.chunkSeeds(workloadSpans(60, profile: .realistic)) }),
    FuzzTarget(
        name: "otlp-protobuf",
        run: { decodeAndValidate($0) { raw, b, r throws(DecodeError) in try OTLPProtobuf.decodeExportRequest(raw, into: &b, rejections: &r) } },
        seeds: { [OTLPProtobuf.encodeExportRequest(workloadSpans(12))] }),
    FuzzTarget(
        name: "otlp-json",
        run: { decodeAndValidate($0) { raw, b, r throws(DecodeError) in try OTLPJSON.decodeExportRequest(raw, into: &b, rejections: &r) } },
        seeds: { [OTLPJSON.encodeTracesData(workloadSpans(6))] }),
    FuzzTarget(
        name: "zipkin-json",
        run: { decodeAndValidate($0) { raw, b, r throws(DecodeError) in try ZipkinJSON.decodeSpans(raw, into: &b, rejections: &r) } },
        seeds: { [zipkinSeed] }),
    FuzzTarget(
        name: "jaeger-thrift-compact",
        run: {
            decodeAndValidate($0) { raw, b, r throws(DecodeError) in
                try JaegerThrift.decodeAgentMessage(raw, protocol: .compact, into: &b, rejections: &r)
            }
        },
        seeds: { [JaegerWireFixtures.agentMessage(jaegerSpans(), protocol: .compact)] }),
    FuzzTarget(
        name: "jaeger-thrift-binary",
        run: { input in
            // The agent's UDP message and the collector's HTTP body, both binary protocol.
            decodeAndValidate(input) { raw, b, r throws(DecodeError) in
                try JaegerThrift.decodeAgentMessage(raw, protocol: .binary, into: &b, rejections: &r)
            }
            decodeAndValidate(input) { raw, b, r throws(DecodeError) in try JaegerThrift.decodeBatch(raw, protocol: .binary, into: &b, rejections: &r)
            }
        },
        seeds: {
            [JaegerWireFixtures.agentMessage(jaegerSpans(), protocol: .binary), JaegerWireFixtures.thriftBatch(jaegerSpans(), protocol: .binary)]
        }),
    FuzzTarget(
        name: "jaeger-protobuf",
        run: {
            decodeAndValidate($0) { raw, b, r throws(DecodeError) in try JaegerProtobuf.decodePostSpansRequest(raw, into: &b, rejections: &r) }
        },
        seeds: { [JaegerWireFixtures.postSpansRequest(jaegerSpans())] }),
    FuzzTarget(
        name: "gzip",
        run: { input in
            // A gzip body, then what it inflates to as OTLP: the path a compressed request takes.
            guard let inflated = try? Gzip.decompress(input, limit: 1 << 20) else { return }
            decodeAndValidate(inflated) { raw, b, r throws(DecodeError) in try OTLPProtobuf.decodeExportRequest(raw, into: &b, rejections: &r) }
        },
        seeds: { [Gzip.compress(OTLPProtobuf.encodeExportRequest(workloadSpans(8)))] }),
]

/// The target ARIADNE_FUZZ_TARGET names, or nil: the first byte chooses.
let selected: FuzzTarget? = ProcessInfo.processInfo.environment["ARIADNE_FUZZ_TARGET"].map { name in
    guard let t = targets.first(where: { $0.name == name }) else {
        print("unknown ARIADNE_FUZZ_TARGET '\(name)': one of \(targets.map(\.name).joined(separator: ", "))")
        exit(2)
    }
    return t
}

func runOne(_ input: [UInt8]) {
    if let selected { return selected.run(input) }
    guard let first = input.first else { return }
    targets[Int(first) % targets.count].run(Array(input.dropFirst()))
}

func seedInputs() -> [[UInt8]] {
    if let selected { return selected.seeds() }
    return targets.enumerated().flatMap { n, t in t.seeds().map { [UInt8(n)] + $0 } }
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
            guard !seeds.isEmpty else { fatalError("no seeds") }
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
