/// What a client or producer span calls, named by its attributes — for calls to something that
/// sends no spans of its own (a database, a cache, a queue, an outside API). The query-time
/// service graph and the service-graph metrics at ingest both name leaf nodes with it.
public enum DependencyPeer {
    /// `db.system` values that are caches rather than databases.
    public static let caches: Set<String> = ["redis", "memcached", "hazelcast", "couchbase", "aerospike"]

    /// The callee of span `i` when it is a client or producer span whose attributes name one:
    /// `peer.service`, else `server.address`, else `db.system`, else `messaging.system`; typed
    /// `database`, `cache`, `messaging` or `external` (as Tempo types virtual nodes).
    public static func of(_ batch: SpanBatch, _ i: Int) -> (name: String, type: String)? {
        let kind = batch.kinds[i]
        guard kind == .client || kind == .producer else { return nil }
        func attribute(_ key: String) -> String? {
            var found: String? = nil
            for a in batch.spanAttributes[batch.attributeRanges[i].indices] where batch.equals(a.key, key) {
                found = batch.attributeValue(a.value).displayString
            }
            return found.flatMap { $0.isEmpty ? nil : $0 }
        }
        let db = attribute("db.system")
        let messaging = attribute("messaging.system")
        guard let name = attribute("peer.service") ?? attribute("server.address") ?? db ?? messaging else { return nil }
        return (name, db.map { caches.contains($0) ? "cache" : "database" } ?? (messaging != nil ? "messaging" : "external"))
    }
}
