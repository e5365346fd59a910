import AriadneModel
import AriadneServer
import Foundation
import NIOHTTP1
import Testing

/// Every route of the query port, every parameter a route reads, hostile values: each answer is
/// a 4xx with a message or a bounded 200, never a crash (Swift traps on overflow, so every
/// number that comes from a request is a possible crash).
@Suite struct HostileInputTests {
    static let parameters = [
        "service", "operation", "spanKind", "span_kind", "tag", "tags", "start", "end", "lookback", "minDuration", "maxDuration",
        "limit", "traceID", "q", "minTraceDuration", "maxTraceDuration", "sort", "endTs", "step", "ratePer", "quantile",
        "groupByOperation", "query.service_name", "query.serviceName", "query.operation_name", "query.start_time_min",
        "query.start_time_max", "query.duration_min", "query.duration_max", "query.search_depth", "query.num_traces",
        "query.attributes", "query.attributes.k", "start_time", "end_time", "a", "b", "attribute", "horizon",
    ]

    // URLs stay under 8 KiB (what HTTP servers and clients commonly take); longer inputs go in bodies below.
    static let deep = String(repeating: "(", count: 2_000) + "duration > 1ms" + String(repeating: ")", count: 2_000)
    static let values: [String] = [
        "inf", "-inf", "nan", "1e400", "-0", "18446744073709551616", "18446744073709551615", "9223372036854775808",
        "-9223372036854775809", "-1", "0", "18446744073", "1e30s", "duration > 1e30s", "duration < inf", "traceDuration > 99999999999h",
        "span.x =~ \"(a+)+b\"", "span.x =~ \"((((\"", String(repeating: "a", count: 6_000),
    ]

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s
    }

    func check(_ addr: BoundAddresses, _ method: HTTPMethod, _ path: String, _ query: String) async throws {
        let url = "http://\(addr.query)\(path)\(query.isEmpty ? "" : "?" + query)"
        let r = try await http(method, url, body: method == .POST ? Array("{}".utf8) : nil)
        #expect(r.status < 500 || r.status == 501 || r.status == 503, "\(method) \(path)?\(query.prefix(200)) answered \(r.status)")
        // Our routes answer errors with a message; a URL that is not UTF-8 is refused (400) by the
        // HTTP layer before any route, without one.
        if r.status >= 400 && r.status != 404 && !query.contains("%FF") {
            #expect(!r.body.isEmpty, "\(method) \(path) answered \(r.status) without a message")
        }
    }

    @Test func everyParameterOfEveryRouteTakesHostileValues() async throws {
        try await withServer { addr, _ in
            let routes = addr.queryRoutes
            #expect(routes.contains("GET /api/traces"))
            #expect(routes.contains("GET /api/v3/traces"))
            #expect(routes.count >= 30)
            var sent = 0
            for route in routes {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method: HTTPMethod = parts[0] == "POST" ? .POST : .GET
                for value in Self.values + ["%FF%FE", Self.deep] {
                    let raw = value == "%FF%FE"
                    // Path parameters (`:traceID`, `:service`, …) take the value too.
                    let path = parts[1].split(separator: "/").map { $0.hasPrefix(":") ? (raw ? value : Self.encode(value)) : String($0) }
                        .joined(separator: "/")
                    let encoded = raw ? value : Self.encode(value)
                    // Each parameter alone, and all of them at once.
                    for p in Self.parameters where value.count < 1000 || p == "q" || p == "service" {
                        try await check(addr, method, "/" + path, "\(p)=\(encoded)")
                        sent += 1
                    }
                    if value.count < 1000 {
                        try await check(addr, method, "/" + path, Self.parameters.map { "\($0)=\(encoded)" }.joined(separator: "&"))
                        sent += 1
                    }
                }
            }
            // 100,000 nested parentheses and a 100,000-character filter, in a body.
            for q in [
                String(repeating: "(", count: 100_000) + "duration > 1ms" + String(repeating: ")", count: 100_000),
                String(repeating: "a", count: 100_000),
            ] {
                let body = Array(#"{"service": "x", "q": "\#(q)"}"#.utf8)
                let r = try await http(.POST, "http://\(addr.query)/api/admin/delete", body: body)
                #expect(r.status == 400)
                #expect(String(decoding: r.body, as: UTF8.self).contains("filter"))
            }
            let health = try await http(.GET, "http://\(addr.query)/health")
            #expect(health.status == 200)
            print("hostile input: \(sent) requests to \(routes.count) routes, server alive")
        }
    }
}
