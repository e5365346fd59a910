public import AriadneModel
import Foundation

extension Workload {
    /// Which traces the workload makes.
    public enum Profile: String, Sendable, CaseIterable {
        /// The shop traces the loadgen has always sent: 20–30 spans, attribute values that repeat
        /// far more than real ones do (friendly to compression and to indexes).
        case loadgen
        /// Spans whose values vary as real ones do: 6–18 spans per trace (about 11), about ten
        /// attributes per span, of which several are high-cardinality — a random 64-bit id per
        /// span, a user out of 200,000, a session per trace, order ids in URLs and SQL, peer host
        /// names, client addresses — 40 pods per service (host names in the resource), and
        /// lognormal durations. What benchmarks of storage and ingest must be measured on.
        case realistic
    }

    static let realisticServices = [
        "auth", "users", "orders", "payments", "inventory", "shipping", "recommendations", "search", "pricing", "reviews", "cart",
        "notifications",
    ]
    static let userAgents = (0..<24).map {
        "Mozilla/5.0 (\(["X11; Linux x86_64", "Macintosh; Intel Mac OS X 14_\($0 % 7)", "iPhone; CPU iPhone OS 17_\($0 % 5)", "Windows NT 10.0; Win64"][$0 % 4])) Chrome/12\($0 % 10).0"
    }

    /// The resource of pod `pod` of `service`: host and pod names differ per pod, as under Kubernetes.
    static func podResource(_ service: String, pod: Int) -> OwnedResource {
        let suffix = Hex.string(UInt64(truncatingIfNeeded: (service.hashValueStable &* 31 &+ UInt64(pod)) &* 0x9E37_79B9_7F4A_7C15)).suffix(5)
        return OwnedResource(
            service: service,
            attributes: [
                KeyValue("service.version", .string("2.\(pod % 3).\(service.utf8.count)")),
                KeyValue("service.namespace", "shop"),
                KeyValue("deployment.environment", "production"),
                KeyValue("host.name", .string("\(service)-6d8f9c7b4-\(suffix)")),
                KeyValue("k8s.pod.name", .string("\(service)-6d8f9c7b4-\(suffix)")),
                KeyValue("k8s.node.name", .string("ip-10-0-\(pod % 16)-\(17 + pod % 200).ec2.internal")),
                KeyValue("telemetry.sdk.name", "opentelemetry"),
                KeyValue("telemetry.sdk.language", .string(["java", "go", "python", "nodejs", "swift"][service.utf8.count % 5])),
            ])
    }

    /// A lognormal duration in ns with the given median and spread (sigma of the log).
    mutating func lognormal(median: Double, sigma: Double) -> UInt64 {
        // Box–Muller from two uniforms.
        let u1 = max(rngDouble(), 1e-12)
        let u2 = rngDouble()
        let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        return UInt64(min(median * exp(sigma * z), 3.0e11))
    }

    mutating func appendRealisticTrace(to batch: inout SpanBatch, start: UInt64) -> Int {
        let traceID = TraceID(high: id64(), low: id64())
        let (method, route) = Self.routes[Int(rng64() % UInt64(Self.routes.count))]
        let user = "user-\(rng64() % 200_000)"
        let session = Hex.string(rng64())
        let order = rng64() % 10_000_000
        let client = "10.\(rng64() % 256).\(rng64() % 256).\(1 + rng64() % 254)"
        let agent = Self.userAgents[Int(rng64() % UInt64(Self.userAgents.count))]
        let pod = { (w: inout Workload) in Int(w.rng64() % 40) }
        var downstream = Self.realisticServices
        for i in stride(from: downstream.count - 1, to: 0, by: -1) { downstream.swapAt(i, Int(rng64() % UInt64(i + 1))) }
        let fanOut = Int(between(2, 4))
        let failing = chance(errorRate) ? Int(rng64() % UInt64(fanOut)) : -1
        let gateway = Self.podResource("api-gateway", pod: pod(&self))
        let concreteRoute = route.replacingIDs(with: String(order))
        var spans = [Span]()
        func http(_ name: String, _ status: Int64, server: Bool, peer: String) -> [KeyValue] {
            var kv = [
                KeyValue("http.request.method", .string(method)),
                KeyValue("http.route", .string(name)),
                KeyValue("url.path", .string(concreteRoute)),
                KeyValue("http.response.status_code", .int(status)),
                KeyValue("server.address", .string(peer)),
                KeyValue("user.id", .string(user)),
                KeyValue("request.id", .string(Hex.string(rng64()))),
                KeyValue("http.response.body.size", .int(Int64(rng64() % 200_000))),
            ]
            if server {
                kv.append(KeyValue("client.address", .string(client)))
                kv.append(KeyValue("session.id", .string(session)))
            }
            return kv
        }
        let rootID = SpanID(id64())
        var cursor = start + lognormal(median: 300_000, sigma: 0.5)
        // The gateway checks the session first.
        let authEnd = cursor + lognormal(median: 800_000, sigma: 0.6)
        spans.append(
            Span(
                traceID: traceID, spanID: SpanID(id64()), parentSpanID: rootID, name: "check session", kind: .internal,
                startTime: cursor, endTime: authEnd,
                attributes: [
                    KeyValue("session.id", .string(session)), KeyValue("user.id", .string(user)), KeyValue("app.cache.hit", .bool(rng64() % 4 != 0)),
                ],
                resource: gateway, scope: Self.scope))
        cursor = authEnd
        for k in 0..<fanOut {
            let service = downstream[k]
            let resource = Self.podResource(service, pod: pod(&self))
            let peer = "\(service).shop.svc.cluster.local"
            let clientID = SpanID(id64())
            let serverID = SpanID(id64())
            let callStart = cursor
            var inner = callStart + lognormal(median: 200_000, sigma: 0.5)
            var children = [Span]()
            if rng64() % 10 < 6 {
                let dbDur = lognormal(median: 3_000_000, sigma: 1.0)
                let table = service
                children.append(
                    Span(
                        traceID: traceID, spanID: SpanID(id64()), parentSpanID: serverID, name: "SELECT \(table)", kind: .client,
                        startTime: inner, endTime: inner + dbDur,
                        attributes: [
                            KeyValue("db.system", "postgresql"),
                            KeyValue("db.namespace", .string(service)),
                            KeyValue("db.query.text", .string("SELECT * FROM \(table) WHERE id = \(rng64() % 100_000_000)")),
                            KeyValue("server.address", .string("\(service)-db-\(rng64() % 4).internal")),
                            KeyValue("server.port", 5432),
                            KeyValue("db.response.returned_rows", .int(Int64(rng64() % 500))),
                            KeyValue("request.id", .string(Hex.string(rng64()))),
                        ],
                        resource: resource, scope: Self.scope))
                inner += dbDur + lognormal(median: 100_000, sigma: 0.5)
            }
            if rng64() % 2 == 0 {
                let cDur = lognormal(median: 400_000, sigma: 0.6)
                children.append(
                    Span(
                        traceID: traceID, spanID: SpanID(id64()), parentSpanID: serverID, name: "GET", kind: .client,
                        startTime: inner, endTime: inner + cDur,
                        attributes: [
                            KeyValue("db.system", "redis"),
                            KeyValue("db.query.text", .string("GET \(service):\(user):\(order)")),
                            KeyValue("server.address", .string("redis-\(rng64() % 6).cache.internal")),
                            KeyValue("cache.hit", .bool(rng64() % 3 != 0)),
                            KeyValue("request.id", .string(Hex.string(rng64()))),
                        ],
                        resource: resource, scope: Self.scope))
                inner += cDur
            }
            let failed = k == failing
            let serverEnd = inner + lognormal(median: 1_500_000, sigma: 0.9)
            let status: Int64 = failed ? [500, 502, 503][Int(rng64() % 3)] : 200
            spans.append(
                Span(
                    traceID: traceID, spanID: serverID, parentSpanID: clientID, name: "\(method) /\(service)", kind: .server,
                    startTime: callStart + 50_000, endTime: serverEnd, attributes: http("/\(service)", status, server: true, peer: peer),
                    events: failed
                        ? [
                            Span.Event(
                                time: serverEnd - 1_000, name: "exception",
                                attributes: [
                                    KeyValue("exception.type", "UpstreamError"),
                                    KeyValue("exception.message", .string("\(service): order \(order) for \(user) failed")),
                                ])
                        ] : [],
                    statusCode: failed ? .error : .unset, resource: resource, scope: Self.scope))
            spans.append(contentsOf: children)
            spans.append(
                Span(
                    traceID: traceID, spanID: clientID, parentSpanID: rootID, name: "\(method) /\(service)", kind: .client,
                    startTime: callStart, endTime: serverEnd + lognormal(median: 80_000, sigma: 0.4),
                    attributes: http("/\(service)", status, server: false, peer: peer) + [KeyValue("peer.service", .string(service))],
                    statusCode: failed ? .error : .unset, resource: gateway, scope: Self.scope))
            cursor = serverEnd + lognormal(median: 100_000, sigma: 0.5)
        }
        spans.append(
            Span(
                traceID: traceID, spanID: rootID, name: "\(method) \(route)", kind: .server, startTime: start,
                endTime: cursor + lognormal(median: 200_000, sigma: 0.4),
                attributes: http(route, failing >= 0 ? 500 : 200, server: true, peer: "shop.example.com") + [
                    KeyValue("user_agent.original", .string(agent))
                ],
                statusCode: failing >= 0 ? .error : .unset, resource: gateway, scope: Self.scope))
        // Pods make many resources: each (service, pod) once per batch, as a collector's batch holds them.
        for s in spans {
            let key = s.resource.serviceName + "/" + (s.resource.attributes.first { $0.key == "host.name" }?.value.displayString ?? "")
            let scope: UInt32
            if let known = podScopes[key], Int(known) < batch.scopes.count,
                batch.equals(batch.resources[Int(batch.scopes[Int(known)].resource)].serviceName, s.resource.serviceName)
            {
                scope = known
            } else {
                scope = batch.addScope(s.scope, resource: batch.addResource(s.resource))
                podScopes[key] = scope
            }
            batch.append(s, scope: scope)
        }
        return spans.count
    }
}

extension String {
    /// A route template with its `{id}` placeholders filled in.
    func replacingIDs(with id: String) -> String {
        var out = ""
        var inBrace = false
        for c in self {
            if c == "{" { inBrace = true; out += id; continue }
            if c == "}" { inBrace = false; continue }
            if !inBrace { out.append(c) }
        }
        return out
    }

    /// FNV-1a of the UTF-8 bytes: the same in every process (Swift's hashValue is seeded per run).
    var hashValueStable: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
