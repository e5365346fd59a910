import AriadneUI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web UI: `/` and its files under `/ui/`. The files are compiled in; `directory` (the
/// `--ui-dir` option) serves them from disk instead, so that UI work needs no rebuild.
struct UIRoutes {
    var directory: String?

    func addRoutes(to router: Router<AriadneRequestContext>) {
        router.get("/") { _, _ in file("index.html") }
        // Jaeger UI's deep links, used by Grafana and runbooks: the page turns them into its own routes.
        router.get("/trace/:traceID") { _, _ in file("index.html") }
        router.get("/search") { _, _ in file("index.html") }
        router.get("/ui/:file") { _, context in file(try context.parameters.require("file")) }
    }

    func file(_ name: String) -> Response {
        var headers = HTTPFields()
        // Revalidate on every load: a new binary must not be shown an old script.
        headers[.cacheControl] = "no-cache"
        headers[.contentType] = UIAssets.contentType(of: name)
        if let directory {
            guard !name.contains("/"), !name.hasPrefix("."),
                let data = FileManager.default.contents(atPath: directory + "/" + name)
            else { return Response(status: .notFound) }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        guard let asset = UIAssets.asset(named: name) else { return Response(status: .notFound) }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}
