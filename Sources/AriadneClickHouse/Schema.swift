/// The tables Ariadne keeps in ClickHouse, and the migrations that create them.
///
/// Written for ClickHouse 18.16 (Debian's) and valid on current releases: no Map, TTL, skip
/// indexes or DateTime64, so times are UInt64 nanoseconds, attributes are parallel arrays, and
/// every table is partitioned by UTC day so that retention drops whole partitions.
///
/// - `spans`: one row per span for search, ordered by (service, name, start) as Jaeger's and the
///   Collector's ClickHouse schemas are, so a search on a service reads a narrow key range.
///   Attributes in typed arrays (string, int, float, bool, other) with the scope each came from
///   (span, resource, instrumentation scope, event, link). It names its trace by `trace_key`,
///   the low 64 bits of the trace id (all of a Jaeger 64-bit id): half the bytes of the id, in
///   the column that compresses worst.
/// - `traces`: one row per span ordered by trace key, holding the fields result lists and the
///   service graph need and the rest of the span as OTLP protobuf without the fields in columns:
///   by-id reads and summaries are primary-key lookups.
/// - `operations`: (service, name, kind) per day, for the service and operation lists.
/// - `rollups`: RED metrics per window as each node counted them at ingest (one row per window,
///   key and node; readers sum them), so every node — query nodes included — shows all of them.
/// - `schema_migrations`: the versions applied.
///
/// `traces` is a ReplacingMergeTree on a key that ends with a hash of the whole span: a batch
/// written twice collapses when parts merge, and reads remove the copies not merged yet.
/// `spans` may hold copies; searches answer distinct traces, so copies cost only bytes.
public struct Schema: Sendable {
    public let database: String
    public let cluster: String?

    public init(database: String, cluster: String?) {
        self.database = database
        self.cluster = cluster
    }

    /// Where each attribute came from, as stored in the arrays' `scope` column.
    public enum AttributeOrigin: UInt8, Sendable {
        case span = 0, resource = 1, scope = 2, event = 3, link = 4
    }

    /// A table as queries name it: the table itself, or its Distributed twin on a cluster.
    public func table(_ name: String) -> String { "\(database).\(name)" }

    /// Where rows physically live: on a cluster, each shard's `_local` table.
    func local(_ name: String) -> String { cluster == nil ? "\(database).\(name)" : "\(database).\(name)_local" }

    public struct Migration: Sendable {
        public let version: Int
        public let description: String
        public let statements: [String]
    }

    static let attributeColumns = ["attr_str", "attr_int", "attr_float", "attr_bool", "attr_other"]

    /// In order; each statement is idempotent (IF NOT EXISTS), so two nodes starting at once,
    /// or a node that stopped halfway, apply them safely. On a cluster every statement runs on
    /// every node given (each shard holds its `_local` tables and a Distributed table over all).
    public var migrations: [Migration] {
        let attrs = zip(Self.attributeColumns, ["String", "Int64", "Float64", "UInt8", "String"]).map { name, type in
            "\(name) Nested(scope UInt8, key String, value \(type))"
        }.joined(separator: ",\n    ")
        let spans = """
            day Date,
            service String,
            name String,
            start UInt64,
            trace_key UInt64,
            kind Int8,
            status Int8,
            duration UInt64,
            status_message String,
            scope_name String,
            \(attrs)
            """
        let traces = """
            day Date,
            trace_key UInt64,
            trace_id FixedString(16),
            span_id FixedString(8),
            span_hash UInt32,
            parent_span_id FixedString(8),
            link_span_id FixedString(8),
            service String,
            name String,
            kind Int8,
            status Int8,
            start UInt64,
            end UInt64,
            peer_name String,
            peer_type String,
            span String
            """
        let operations = """
            day Date,
            service String,
            name String,
            kind Int8
            """
        var v1 = ["CREATE DATABASE IF NOT EXISTS \(database)"]
        v1 += table("spans", engine: "MergeTree", columns: spans, order: "service, name, start", shardBy: "cityHash64(trace_key)")
        v1 += table(
            "traces", engine: "ReplacingMergeTree", columns: traces, order: "trace_key, trace_id, span_id, span_hash",
            shardBy: "cityHash64(trace_key)")
        v1 += table("operations", engine: "ReplacingMergeTree", columns: operations, order: "service, name, kind", shardBy: "cityHash64(service)")
        let rollups = """
            day Date,
            window UInt64,
            service String,
            operation String,
            kind Int8,
            status Int8,
            sum_ms Float64,
            max_ms Float64,
            buckets Array(UInt32),
            node String,
            written_at UInt64
            """
        let v2 = table("rollups", engine: "MergeTree", columns: rollups, order: "written_at, service", shardBy: "rand()")
        return [
            Migration(version: 1, description: "spans, traces and operations tables", statements: v1),
            Migration(version: 2, description: "RED rollups shared by every node", statements: v2),
        ]
    }

    /// The migrations table, created before any migration runs.
    var migrationsTable: [String] {
        [
            "CREATE DATABASE IF NOT EXISTS \(database)",
            "CREATE TABLE IF NOT EXISTS \(database).schema_migrations (version UInt32, description String, applied_at UInt64) ENGINE = ReplacingMergeTree ORDER BY version",
        ]
    }

    /// A day-partitioned MergeTree; on a cluster, a `_local` table on every shard and a
    /// Distributed table over them.
    func table(_ name: String, engine: String, columns: String, order: String, shardBy: String) -> [String] {
        var out = [
            """
            CREATE TABLE IF NOT EXISTS \(local(name)) (
                \(columns)
            ) ENGINE = \(engine) PARTITION BY day ORDER BY (\(order)) SETTINGS index_granularity = 8192
            """
        ]
        if let cluster {
            out.append(
                "CREATE TABLE IF NOT EXISTS \(database).\(name) AS \(local(name)) ENGINE = Distributed(\(cluster), \(database), \(name)_local, \(shardBy))"
            )
        }
        return out
    }

    /// The day-partitioned tables (what retention drops days of), by their names in
    /// `system.parts`: on a cluster, the shards' `_local` tables.
    var dataTableNames: [String] { ["spans", "traces", "operations", "rollups"].map { cluster == nil ? $0 : $0 + "_local" } }
}
