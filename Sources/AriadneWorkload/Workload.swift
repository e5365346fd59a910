public import AriadneModel

/// A deterministic generator of realistic multi-service traces: an API gateway fanning out to
/// 5–10 services, database and cache client spans, Kafka producer/consumer pairs, errors and
/// slow paths, 8–15 attributes per span and per-service resource attributes.
///
/// It is the workload for the loadgen, the benchmarks and the tests. Same seed, same traces.
public struct Workload: Sendable {
    /// Fraction of traces in which one downstream call fails.
    public var errorRate = 0.03
    /// Fraction of traces with a slow database query.
    public var slowRate = 0.05
    /// Which traces: the loadgen's repetitive ones (default) or realistic ones (see ``Profile``).
    public var profile: Profile
    private var rng: SplitMix64
    /// The realistic profile's (service, pod) → scope index in the batch being built.
    var podScopes: [String: UInt32] = [:]

    public init(seed: UInt64 = 42, profile: Profile = .loadgen) {
        self.rng = SplitMix64(seed: seed)
        self.profile = profile
    }

    mutating func rng64() -> UInt64 { rng.next() }
    mutating func rngDouble() -> Double { rng.nextDouble() }

    static let services = [
        "auth", "users", "orders", "payments", "inventory", "shipping", "recommendations", "search", "pricing",
    ]
    static let routes = [
        ("GET", "/api/orders/{id}"), ("POST", "/api/orders"), ("GET", "/api/products"), ("GET", "/api/search"),
        ("POST", "/api/checkout"), ("GET", "/api/users/{id}"),
    ]

    static func resource(_ service: String) -> OwnedResource {
        OwnedResource(
            service: service,
            attributes: [
                KeyValue("service.version", .string("1.\(service.utf8.count % 5).\(service.utf8.count)")),
                KeyValue("service.namespace", "shop"),
                KeyValue("deployment.environment", "production"),
                KeyValue("host.name", .string("\(service)-7f9c\(service.utf8.count)")),
                KeyValue("telemetry.sdk.name", "opentelemetry"),
                KeyValue("telemetry.sdk.language", "swift"),
                KeyValue("telemetry.sdk.version", "1.6.0"),
                KeyValue("process.pid", .int(Int64(1000 + service.utf8.count * 37))),
            ])
    }

    static let scope = OwnedScope(name: "ariadne.loadgen", version: "1.0.0")

    mutating func id64() -> UInt64 {
        var v: UInt64 = 0
        while v == 0 { v = rng.next() }
        return v
    }

    mutating func chance(_ p: Double) -> Bool { rng.nextDouble() < p }

    mutating func between(_ lo: UInt64, _ hi: UInt64) -> UInt64 { lo + rng.next() % (hi - lo + 1) }

    /// Appends one trace to `batch`, starting at `start` (Unix ns); returns its span count.
    @discardableResult
    public mutating func appendTrace(to batch: inout SpanBatch, start: UInt64) -> Int {
        if profile == .realistic { return appendRealisticTrace(to: &batch, start: start) }
        let traceID = TraceID(high: id64(), low: id64())
        let (method, route) = Self.routes[Int(rng.next() % UInt64(Self.routes.count))]
        let fanOut = Int(between(5, 9))
        var downstream = Self.services
        for i in stride(from: downstream.count - 1, to: 0, by: -1) {
            downstream.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        downstream = Array(downstream.prefix(fanOut))
        let failing = chance(errorRate) ? Int(rng.next() % UInt64(fanOut)) : -1
        let slow = chance(slowRate) ? Int(rng.next() % UInt64(fanOut)) : -1
        let userID = "user-\(rng.next() % 50_000)"
        let requestID = Hex.string(rng.next())

        var spans = [Span]()
        let rootID = SpanID(id64())
        var cursor = start + between(50_000, 200_000)
        for (k, service) in downstream.enumerated() {
            let clientID = SpanID(id64())
            let serverID = SpanID(id64())
            let callStart = cursor
            var inner = callStart + between(100_000, 400_000)
            var children = [Span]()
            // Database query, sometimes slow.
            if k % 2 == 0 || k == slow {
                let dbStart = inner
                let dbDur = k == slow ? between(200_000_000, 900_000_000) : between(300_000, 8_000_000)
                children.append(
                    Span(
                        traceID: traceID, spanID: SpanID(id64()), parentSpanID: serverID, name: "SELECT \(service)",
                        kind: .client, startTime: dbStart, endTime: dbStart + dbDur,
                        attributes: dbAttributes(service, slow: k == slow), resource: Self.resource(service),
                        scope: Self.scope))
                inner = dbStart + dbDur + between(50_000, 200_000)
            }
            // Cache lookup.
            if k % 3 != 2 {
                let cStart = inner
                let cDur = between(80_000, 900_000)
                children.append(
                    Span(
                        traceID: traceID, spanID: SpanID(id64()), parentSpanID: serverID, name: "GET",
                        kind: .client, startTime: cStart, endTime: cStart + cDur,
                        attributes: cacheAttributes(service), resource: Self.resource(service), scope: Self.scope))
                inner = cStart + cDur + between(20_000, 100_000)
            }
            let failed = k == failing
            if failed {
                children.append(
                    Span(
                        traceID: traceID, spanID: SpanID(id64()), parentSpanID: serverID, name: "validate",
                        kind: .internal, startTime: inner, endTime: inner + between(50_000, 300_000),
                        attributes: [KeyValue("code.function", "validate"), KeyValue("app.rule", "stock-check")],
                        statusCode: .error, statusMessage: "validation failed", resource: Self.resource(service),
                        scope: Self.scope))
                inner += 400_000
            }
            let serverEnd = inner + between(50_000, 300_000)
            let statusCode: Int64 = failed ? 500 : 200
            var serverEvents = [Span.Event]()
            if failed {
                serverEvents.append(
                    Span.Event(
                        time: serverEnd - 10_000, name: "exception",
                        attributes: [
                            KeyValue("exception.type", "ValidationError"),
                            KeyValue("exception.message", .string("\(service): insufficient stock")),
                            KeyValue("exception.stacktrace", .string("at \(service).handle()\nat server.dispatch()")),
                        ]))
            }
            spans.append(
                Span(
                    traceID: traceID, spanID: serverID, parentSpanID: clientID, name: "\(method) /\(service)",
                    kind: .server, startTime: callStart + 40_000, endTime: serverEnd,
                    attributes: httpAttributes(method, "/\(service)", statusCode, server: true, userID, requestID),
                    events: serverEvents,
                    statusCode: failed ? .error : .unset, statusMessage: failed ? "HTTP 500" : "",
                    resource: Self.resource(service), scope: Self.scope))
            spans.append(contentsOf: children)
            spans.append(
                Span(
                    traceID: traceID, spanID: clientID, parentSpanID: rootID, name: "\(method) /\(service)",
                    kind: .client, startTime: callStart, endTime: serverEnd + 60_000,
                    attributes: httpAttributes(method, "/\(service)", statusCode, server: false, userID, requestID)
                        + [KeyValue("peer.service", .string(service))],
                    statusCode: failed ? .error : .unset, resource: Self.resource("api-gateway"), scope: Self.scope))
            cursor = serverEnd + between(30_000, 150_000)
        }
        // Messaging: the gateway publishes an event; notifications consumes it.
        let producerID = SpanID(id64())
        let pStart = cursor
        spans.append(
            Span(
                traceID: traceID, spanID: producerID, parentSpanID: rootID, name: "orders publish", kind: .producer,
                startTime: pStart, endTime: pStart + between(200_000, 900_000),
                attributes: messagingAttributes(operation: "publish"), resource: Self.resource("api-gateway"),
                scope: Self.scope))
        let cStart = pStart + between(1_000_000, 5_000_000)
        spans.append(
            Span(
                traceID: traceID, spanID: SpanID(id64()), parentSpanID: producerID, name: "orders process",
                kind: .consumer, startTime: cStart, endTime: cStart + between(500_000, 3_000_000),
                attributes: messagingAttributes(operation: "process"),
                links: [Span.Link(traceID: traceID, spanID: producerID, attributes: [KeyValue("messaging.link", "producer")])],
                resource: Self.resource("notifications"), scope: Self.scope))
        let rootEnd = cursor + between(100_000, 400_000)
        spans.append(
            Span(
                traceID: traceID, spanID: rootID, name: "\(method) \(route)", kind: .server, startTime: start,
                endTime: rootEnd,
                attributes: httpAttributes(method, route, failing >= 0 ? 500 : 200, server: true, userID, requestID)
                    + [KeyValue("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"), KeyValue("client.address", "203.0.113.7")],
                statusCode: failing >= 0 ? .error : .unset, resource: Self.resource("api-gateway"), scope: Self.scope))
        for s in spans { batch.append(s, scope: Self.scopeIndex(in: &batch, for: s)) }
        return spans.count
    }

    /// The scope of the span's service in `batch`, added on first use. Every service has one
    /// resource and one scope, so a lookup by service name is enough (and far cheaper than
    /// comparing owned resources for every span).
    static func scopeIndex(in batch: inout SpanBatch, for span: Span) -> UInt32 {
        let service = span.resource.serviceName
        for (i, scope) in batch.scopes.enumerated() where batch.equals(batch.resources[Int(scope.resource)].serviceName, service) {
            return UInt32(i)
        }
        let r = batch.addResource(span.resource)
        return batch.addScope(span.scope, resource: r)
    }

    /// A batch of about `spans` spans (whole traces), starting near `start`.
    public mutating func batch(spans target: Int, start: UInt64) -> SpanBatch {
        var batch = SpanBatch()
        podScopes.removeAll(keepingCapacity: true)
        var t = start
        while batch.count < target {
            appendTrace(to: &batch, start: t)
            t += between(100_000, 2_000_000)
        }
        return batch
    }

    func httpAttributes(
        _ method: String, _ route: String, _ status: Int64, server: Bool, _ user: String, _ request: String
    ) -> [KeyValue] {
        [
            KeyValue("http.request.method", .string(method)),
            KeyValue("http.route", .string(route)),
            KeyValue("url.full", .string("https://shop.example.com\(route)?ref=loadgen")),
            KeyValue("http.response.status_code", .int(status)),
            KeyValue("server.address", "shop.example.com"),
            KeyValue("server.port", 443),
            KeyValue("network.protocol.version", "1.1"),
            KeyValue("user.id", .string(user)),
            KeyValue("request.id", .string(request)),
            KeyValue("app.tenant", "acme"),
            KeyValue("app.retry", .bool(!server && status >= 500)),
            KeyValue("http.request.body.size", .int(Int64(route.utf8.count * 31))),
        ]
    }

    func dbAttributes(_ service: String, slow: Bool) -> [KeyValue] {
        [
            KeyValue("db.system", "postgresql"),
            KeyValue("db.name", .string(service)),
            KeyValue("db.operation", "SELECT"),
            KeyValue("db.statement", .string("SELECT * FROM \(service) WHERE id = $1 LIMIT 50")),
            KeyValue("server.address", .string("\(service)-db")),
            KeyValue("server.port", 5432),
            KeyValue("db.rows_returned", .int(slow ? 50_000 : 12)),
            KeyValue("db.query.plan_cost", .double(slow ? 18_250.5 : 12.75)),
            KeyValue("peer.service", .string("\(service)-db")),
        ]
    }

    func cacheAttributes(_ service: String) -> [KeyValue] {
        [
            KeyValue("db.system", "redis"),
            KeyValue("db.operation", "GET"),
            KeyValue("db.statement", .string("GET \(service):item")),
            KeyValue("server.address", "redis"),
            KeyValue("server.port", 6379),
            KeyValue("cache.hit", .bool(service.utf8.count % 2 == 0)),
            KeyValue("db.redis.database_index", 0),
            KeyValue("peer.service", "redis"),
        ]
    }

    func messagingAttributes(operation: String) -> [KeyValue] {
        [
            KeyValue("messaging.system", "kafka"),
            KeyValue("messaging.destination.name", "orders"),
            KeyValue("messaging.operation", .string(operation)),
            KeyValue("messaging.kafka.partition", 3),
            KeyValue("messaging.message.body.size", 512),
            KeyValue("server.address", "kafka"),
            KeyValue("server.port", 9092),
            KeyValue("messaging.client_id", "shop"),
            KeyValue("messaging.tags", .array(["order", "created"])),
        ]
    }
}
