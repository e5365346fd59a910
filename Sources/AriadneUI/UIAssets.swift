/// The web UI's files, compiled into the binary so that `ariadne serve` needs nothing beside it
/// and loads nothing from the internet.
public enum UIAssets {
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
    }

    /// The file served at `/` + `name`, or nil.
    public static func asset(named name: String) -> Asset? {
        guard let bytes = files[name] else { return nil }
        return Asset(bytes: bytes, contentType: contentType(of: name))
    }

    public static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "json": "application/json"
        default: "application/octet-stream"
        }
    }

    static let files: [String: [UInt8]] = [
        "api.js": PackageResources.api_js,
        "app.js": PackageResources.app_js,
        "compare.js": PackageResources.compare_js,
        "index.html": PackageResources.index_html,
        "insights.js": PackageResources.insights_js,
        "links.js": PackageResources.links_js,
        "map.js": PackageResources.map_js,
        "monitor.js": PackageResources.monitor_js,
        "search.js": PackageResources.search_js,
        "style.css": PackageResources.style_css,
        "trace.js": PackageResources.trace_js,
        "util.js": PackageResources.util_js,
    ]
}
