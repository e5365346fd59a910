import AriadneAnalysis
import AriadneModel
import AriadneWire
import Foundation

/// RED rollups on disk, beside the engine's files: one JSON-lines file per UTC day of window
/// (`rollups/YYYY-MM-DD.jsonl`), appended as windows complete. A window that receives late spans
/// gets another line; reading sums them. Retention deletes whole days.
///
/// A line: `{"w":"<window start ns>","s":service,"o":operation,"k":kind,"c":status,"sum":ms,"max":ms,"b":[[bucket,count],…]}`.
struct RollupFiles: Sendable {
    let directory: String

    init(dataDirectory: String) throws {
        directory = dataDirectory + "/rollups"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// `2026-11-22`: the UTC date part of the window's RFC 3339 time.
    static func day(ofWindow w: UInt64) -> String { String(RFC3339.format(w).prefix(10)) }

    /// Reads every kept day into `metrics`, deleting days wholly older than `oldest` (Unix ns).
    /// A line that does not parse (a torn last write) is skipped and reported.
    func load(into metrics: SpanMetrics, oldest: UInt64, report: (String) -> Void) -> Int {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
        let oldestDay = Self.day(ofWindow: oldest)
        var cells = 0
        for name in files {
            let path = directory + "/" + name
            if String(name.dropLast(6)) < oldestDay {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            var lineNumber = 0
            for line in data.split(separator: UInt8(ascii: "\n")) {
                lineNumber += 1
                guard let (window, key, histogram) = Self.decode(Array(line)) else {
                    report("rollups: \(path):\(lineNumber): unreadable line skipped")
                    continue
                }
                if window >= oldest {
                    metrics.restore(window: window, key: key, histogram: histogram)
                    cells += 1
                }
            }
        }
        return cells
    }

    /// Appends cells to their days' files and flushes them to disk.
    func append(_ cells: [UInt64: [REDKey: LatencyHistogram]]) throws {
        var byDay = [String: [UInt8]]()
        for (w, keys) in cells {
            let day = Self.day(ofWindow: w)
            for (k, h) in keys.sorted(by: { $0.key < $1.key }) {
                byDay[day, default: []] += Self.encode(window: w, key: k, histogram: h)
                byDay[day]!.append(UInt8(ascii: "\n"))
            }
        }
        for (day, bytes) in byDay {
            let path = directory + "/" + day + ".jsonl"
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard fd >= 0 else { throw RollupError("cannot open \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.count else { throw RollupError("short write to \(path)") }
            fsync(fd)
        }
    }

    static func encode(window: UInt64, key: REDKey, histogram h: LatencyHistogram) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("w", String(window))
        w.field("s", key.service)
        w.field("o", key.operation)
        w.field("k", Int(key.kind.rawValue))
        w.field("c", Int(key.status.rawValue))
        w.field("sum", h.sumMs)
        w.field("max", h.maxMs)
        w.key("b")
        w.beginArray()
        for (i, c) in h.buckets.enumerated() where c > 0 {
            w.beginArray()
            w.int(Int64(i))
            w.int(Int64(c))
            w.endArray()
        }
        w.endArray()
        w.endObject()
        return w.out
    }

    static func decode(_ line: [UInt8]) -> (UInt64, REDKey, LatencyHistogram)? {
        guard let v = try? JSONValue.parse(line), case .string(let wText)? = v["w"], let window = UInt64(wText),
            case .string(let service)? = v["s"], case .string(let operation)? = v["o"],
            case .number(let k)? = v["k"], let kind = Int32(k), case .number(let c)? = v["c"], let status = Int32(c),
            case .number(let sumText)? = v["sum"], let sum = Double(sumText), case .number(let maxText)? = v["max"],
            let max = Double(maxText), case .array(let pairs)? = v["b"]
        else { return nil }
        var buckets = [UInt32](repeating: 0, count: LatencyHistogram.boundsMs.count + 1)
        for p in pairs {
            guard case .array(let ic) = p, ic.count == 2, case .number(let iText) = ic[0], case .number(let cText) = ic[1],
                let i = Int(iText), let count = UInt32(cText), buckets.indices.contains(i)
            else { return nil }
            buckets[i] = count
        }
        return (
            window, REDKey(service: service, operation: operation, kind: SpanKind(rawValue: kind), status: StatusCode(rawValue: status)),
            LatencyHistogram(buckets: buckets, sumMs: sum, maxMs: max)
        )
    }
}

struct RollupError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
