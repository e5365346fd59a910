import ArgumentParser
import AriadneWire
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `ariadne diff`: a regression gate for CI pipelines. Asks a running server to compare two
/// populations of traces (two windows, or two values of an attribute such as service.version),
/// prints a table per operation, and exits 1 when the chosen percentile of an operation got
/// slower beyond the threshold with statistical significance.
struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a baseline with a candidate and fail when latency regresses.",
        discussion: """
            Windows: --baseline now-2h..now-1h --candidate now-1h..now (each end RFC 3339, Unix µs, now or now-DURATION).
            Attribute values: --attribute service.version --baseline 1.4.0 --candidate 1.5.0 (within --lookback).
            Exit status: 0 no regression, 1 a regression, 2 the comparison could not be made.
            """)

    @Option(help: "Query API of the server.") var endpoint = "http://127.0.0.1:16686"
    @Option(help: "Only traces with a span of this service.") var service: String?
    @Option(help: "Only traces with a span of this operation.") var operation: String?
    @Option(help: "Compare two values of this attribute instead of two windows.") var attribute: String?
    @Option(help: "The baseline: a window FROM..TO, or an attribute value.") var baseline: String
    @Option(help: "The candidate: a window FROM..TO, or an attribute value.") var candidate: String
    @Option(help: "With --attribute: how far back to look.") var lookback = "1h"
    @Option(help: "The percentile gated on: p50, p95 or p99.") var percentile = "p95"
    @Option(help: "Largest allowed slowdown of that percentile, e.g. 10% or 0.1.") var threshold = "10%"
    @Option(help: "Significance level of the Mann–Whitney test.") var alpha = 0.05
    @Option(name: .customLong("min-spans"), help: "Operations with fewer spans on either side are not judged.") var minSpans = 20
    @Option(help: "Traces read per population (at most 5000).") var limit = 1000

    func validate() throws {
        guard ["p50", "p95", "p99"].contains(percentile) else { throw ValidationError("--percentile must be p50, p95 or p99") }
        guard Self.fraction(threshold) != nil else { throw ValidationError("--threshold must be a percentage such as 10% or a fraction such as 0.1") }
        guard alpha > 0, alpha < 1 else { throw ValidationError("--alpha must be between 0 and 1") }
        guard (1...5000).contains(limit) else { throw ValidationError("--limit must be 1 to 5000") }
    }

    static func fraction(_ text: String) -> Double? {
        if text.hasSuffix("%") { return Double(text.dropLast()).map { $0 / 100 }.flatMap { $0 >= 0 ? $0 : nil } }
        return Double(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    func run() async throws {
        var items = [
            URLQueryItem(name: "a", value: baseline), URLQueryItem(name: "b", value: candidate), URLQueryItem(name: "limit", value: String(limit)),
        ]
        if let service { items.append(URLQueryItem(name: "service", value: service)) }
        if let operation { items.append(URLQueryItem(name: "operation", value: operation)) }
        if let attribute {
            items.append(URLQueryItem(name: "attribute", value: attribute))
            items.append(URLQueryItem(name: "lookback", value: lookback))
        }
        var components = URLComponents(string: endpoint + "/api/analysis/populations")!
        components.queryItems = items
        // URLComponents leaves '+' alone, which a form decoder reads as a space.
        let url = components.url!.absoluteString.replacingOccurrences(of: "+", with: "%2B")
        let body: [UInt8]
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(120))
            body = Array(buffer: try await response.body.collect(upTo: 64 << 20))
            guard response.status == .ok else {
                Self.fail("HTTP \(response.status.code): \(String(decoding: body, as: UTF8.self))")
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            Self.fail("cannot reach \(endpoint): \(error)")
        }
        guard let doc = try? JSONValue.parse(body), let report = DiffReport(doc) else { Self.fail("unexpected answer from \(endpoint)") }
        guard report.traces.a > 0, report.traces.b > 0 else {
            Self.fail(
                "no traces in the \(report.traces.a == 0 ? "baseline" : "candidate") (baseline \(report.traces.a), candidate \(report.traces.b))")
        }
        let limitFraction = Self.fraction(threshold)!
        let verdicts = report.rows.map { row in (row, row.verdict(percentile, threshold: limitFraction, alpha: alpha, minSpans: minSpans)) }
        print(
            "baseline: \(report.traces.a) traces (\(Self.format(report.spansPerTrace.a)) spans each)   candidate: \(report.traces.b) traces (\(Self.format(report.spansPerTrace.b)) spans each)"
        )
        let header = [
            "service", "operation", "spans A", "spans B", "\(percentile) A ms", "\(percentile) B ms", "change", "p-value", "errors A", "errors B",
            "verdict",
        ]
        var table = [header]
        for (r, v) in verdicts {
            let qa = r.a.quantile(percentile)
            let qb = r.b.quantile(percentile)
            table.append([
                r.service, r.operation, String(r.a.spans), String(r.b.spans), Self.format(qa / 1e6), Self.format(qb / 1e6),
                r.change(percentile).map { (($0 >= 0 ? "+" : "") + Self.format($0 * 100)) + "%" } ?? "-",
                r.latencyP.map { $0 < 0.0001 ? "<0.0001" : Self.format($0, digits: 4) } ?? "-",
                Self.format(r.a.errorRate * 100) + "%", Self.format(r.b.errorRate * 100) + "%", v.rawValue,
            ])
        }
        let widths = header.indices.map { c in table.map { $0[c].count }.max()! }
        for row in table {
            print(row.enumerated().map { c, cell in cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        let regressions = verdicts.filter { $0.1 == .regressed }
        if regressions.isEmpty {
            print("no \(percentile) regression beyond \(threshold) (alpha \(alpha))")
        } else {
            print("\(regressions.count) operation(s) regressed: \(percentile) slower by more than \(threshold) (alpha \(alpha))")
            throw ExitCode(1)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ariadne diff: \(message)\n".utf8))
        Foundation.exit(2)
    }

    static func format(_ x: Double, digits: Int = 2) -> String {
        String(format: "%.\(digits)f", x)
    }
}

/// `/api/analysis/populations` read back.
struct DiffReport {
    struct Side {
        var spans: Int
        var errorRate: Double
        var p50: Double
        var p95: Double
        var p99: Double

        func quantile(_ name: String) -> Double { name == "p50" ? p50 : name == "p99" ? p99 : p95 }
    }

    enum Verdict: String {
        case regressed = "REGRESSED"
        case slower = "slower (not significant)"
        case ok = "ok"
        case faster = "faster"
        case tooFew = "too few spans"
        case added = "only in candidate"
        case removed = "only in baseline"
    }

    struct Row {
        var service: String
        var operation: String
        var a: Side
        var b: Side
        var latencyP: Double?

        func change(_ q: String) -> Double? {
            guard a.spans > 0, b.spans > 0, a.quantile(q) > 0 else { return nil }
            return b.quantile(q) / a.quantile(q) - 1
        }

        func verdict(_ q: String, threshold: Double, alpha: Double, minSpans: Int) -> Verdict {
            if a.spans == 0 { return .added }
            if b.spans == 0 { return .removed }
            if a.spans < minSpans || b.spans < minSpans { return .tooFew }
            guard let c = change(q) else { return .ok }
            let significant = (latencyP ?? 1) < alpha
            if c > threshold { return significant ? .regressed : .slower }
            if c < -threshold && significant { return .faster }
            return .ok
        }
    }

    var traces: (a: Int, b: Int)
    var spansPerTrace: (a: Double, b: Double)
    var rows: [Row]

    init?(_ doc: JSONValue) {
        func number(_ v: JSONValue?) -> Double? {
            if case .number(let t)? = v { return Double(t) }
            return nil
        }
        func side(_ v: JSONValue?) -> Side? {
            guard let v, let spans = number(v["spans"]), let rate = number(v["errorRate"]), let p50 = number(v["p50Nanos"]),
                let p95 = number(v["p95Nanos"]), let p99 = number(v["p99Nanos"])
            else { return nil }
            return Side(spans: Int(spans), errorRate: rate, p50: p50, p95: p95, p99: p99)
        }
        guard let ta = number(doc["a"]?["traces"]), let tb = number(doc["b"]?["traces"]), case .array(let ops)? = doc["operations"] else {
            return nil
        }
        traces = (Int(ta), Int(tb))
        spansPerTrace = (number(doc["a"]?["spansPerTrace"]) ?? 0, number(doc["b"]?["spansPerTrace"]) ?? 0)
        var rows = [Row]()
        for op in ops {
            guard case .string(let s)? = op["service"], case .string(let o)? = op["operation"], let a = side(op["a"]), let b = side(op["b"]) else {
                return nil
            }
            rows.append(Row(service: s, operation: o, a: a, b: b, latencyP: number(op["latencyPValue"])))
        }
        self.rows = rows
    }
}
