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
        // One pass over the attributes (the last of each key wins), and a string built only for
        // the values used: this runs for every client span at ingest.
        var last: (peer: Int, server: Int, db: Int, messaging: Int) = (-1, -1, -1, -1)
        for k in batch.attributeRanges[i].indices {
            let key = batch.spanAttributes[k].key
            switch key.count {
            case 12 where batch.equals(key, "peer.service"): last.peer = k
            case 14 where batch.equals(key, "server.address"): last.server = k
            case 9 where batch.equals(key, "db.system"): last.db = k
            case 16 where batch.equals(key, "messaging.system"): last.messaging = k
            default: break
            }
        }
        func value(_ k: Int) -> String? {
            guard k >= 0 else { return nil }
            let text = batch.attributeValue(batch.spanAttributes[k].value).displayString
            return text.isEmpty ? nil : text
        }
        let db = value(last.db)
        let messaging = value(last.messaging)
        guard let name = value(last.peer) ?? value(last.server) ?? db ?? messaging else { return nil }
        return (name, db.map { caches.contains($0) ? "cache" : "database" } ?? (messaging != nil ? "messaging" : "external"))
    }
}
