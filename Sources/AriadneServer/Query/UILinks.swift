public import AriadnePipeline
import AriadneWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
public import Yams

/// Links out of the web UI, as Jaeger UI's link patterns: each a URL template shown on the trace
/// view (`scope: trace`), on every span's detail (`span`), or beside a span's service (`service`).
///
/// ```yaml
/// ui:
///   links:
///     - {scope: trace, text: Logs, url: "https://logs.example.com/search?q=${traceId}&from=${startMs}&to=${endMs}"}
///     - {scope: span, text: "Span logs", url: "https://logs.example.com/search?q=${spanId}"}
///     - {scope: service, text: Runbook, url: "https://wiki.example.com/runbooks/${service}"}
///   link_time_padding: 1m       # widens ${start*}/${end*} on both sides (logs lag the spans)
/// ```
/// The UI substitutes the variables, each URL-encoded, so a hostile service name cannot change a
/// link's host or scheme; only http(s) templates are accepted.
public struct UISection: ConfigSection {
    public static let key = "ui"
    public var links: [UILink] = []
    /// Added to each side of a trace's or span's time window.
    public var timePadding: Duration = .zero

    public init() {}

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "ui") else { return nil }
        var ok = true
        for (k, v) in m {
            switch k.string ?? "" {
            case "links":
                guard let list = v.sequence else {
                    reader.fail(v, "links must be a list")
                    ok = false
                    continue
                }
                for item in list {
                    if let link = UILink(reading: item, with: &reader) { links.append(link) } else { ok = false }
                }
            case "link_time_padding":
                guard let d = reader.duration(v, "link_time_padding") else {
                    ok = false
                    continue
                }
                timePadding = d
            default: reader.unknownKey(k, in: "ui", expected: "links, link_time_padding")
            }
        }
        if !ok { return nil }
    }

    /// What the UI reads at start (`GET /api/ui/config`).
    func json() -> [UInt8] {
        var w = JSONWriter()
        w.object([
            "links": .array(links.map { .object(["scope": .string($0.scope.rawValue), "text": .string($0.text), "url": .string($0.url)]) }),
            "linkTimePaddingMicros": .int(Int(timePadding / .microseconds(1))),
        ])
        return w.out
    }
}

public struct UILink: Sendable, Equatable {
    public enum Scope: String, Sendable, CaseIterable { case trace, span, service }
    public var scope: Scope
    public var text: String
    public var url: String

    /// The variables a template may name.
    static let variables: Set<String> = [
        "traceId", "spanId", "service", "operation", "startMs", "endMs", "startUs", "endUs", "startISO", "endISO",
    ]

    init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "a link") else { return nil }
        var scope: Scope?, text: String?, url: String?
        for (k, v) in m {
            switch k.string ?? "" {
            case "scope":
                scope = v.string.flatMap(Scope.init(rawValue:))
                if scope == nil { reader.fail(v, "a link's scope is trace, span or service") }
            case "text": text = v.string
            case "url": url = v.string
            default: reader.unknownKey(k, in: "a link", expected: "scope, text, url")
            }
        }
        guard let scope, let text, !text.isEmpty, let url else {
            reader.fail(node, "a link needs scope, text and url")
            return nil
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            reader.fail(node, "a link's url must be an http:// or https:// template")
            return nil
        }
        var rest = Substring(url)
        while let open = rest.range(of: "${") {
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                reader.fail(node, "a link's url has an unclosed ${")
                return nil
            }
            let name = String(rest[open.upperBound..<close])
            guard Self.variables.contains(name) else {
                reader.fail(node, "unknown variable ${\(name)} in a link: expected \(Self.variables.sorted().joined(separator: ", "))")
                return nil
            }
            if scope == .trace && (name == "spanId" || name == "operation") {
                reader.fail(node, "a trace link has no ${\(name)}: use scope span")
                return nil
            }
            rest = rest[rest.index(after: close)...]
        }
        self.scope = scope
        self.text = text
        self.url = url
    }
}

struct UIConfigRoutes {
    let section: UISection

    func addRoutes(to router: Router<AriadneRequestContext>) {
        let body = section.json()
        router.get("/api/ui/config") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
