import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import OTel
import ServiceLifecycle
import Tracing

/// The demo shop's Swift services, one per role, each instrumented as a user of swift-otel would:
/// `OTel.bootstrap` (exporting OTLP/HTTP to Ariadne), Hummingbird's `TracingMiddleware` for server
/// spans, AsyncHTTPClient's own client spans (which carry `traceparent`), `withSpan` for database,
/// cache and queue work with the semantic conventions' attributes.
///
///   frontend         GET /dispatch?customer=ID → customers, pricing (Python), routes ×3, then a
///                    NATS message to the worker
///   customers        GET /customer?id=ID: a cache lookup, then a (simulated) SQL query
///   routes           GET /route?from=A&to=B: a route computation
///   dispatch-worker  consumes `dispatch.requests` from NATS, continuing the trace from the headers
///
/// Two paths to find in the UI: customer 392 is slow (its SQL query misses an index), customer 731
/// fails (no route to its address). Settings come from the environment: PORT, CUSTOMERS_URL,
/// ROUTES_URL, PRICING_URL, NATS_URL, and the OTEL_* variables of the OpenTelemetry specification.
@main
struct DemoShop {
    enum Role: String, CaseIterable {
        case frontend, customers, routes
        case dispatchWorker = "dispatch-worker"
    }

    static let env = ProcessInfo.processInfo.environment

    static func main() async throws {
        guard let role = CommandLine.arguments.dropFirst().first.flatMap(Role.init(rawValue:)) else {
            print("usage: DemoShop \(Role.allCases.map(\.rawValue).joined(separator: "|"))")
            exit(2)
        }
        var config = OTel.Configuration.default
        config.serviceName = role.rawValue
        config.resourceAttributes = ["service.namespace": "ariadne-demo", "service.version": "1.4.2", "deployment.environment.name": "demo"]
        config.logs.enabled = false
        config.metrics.enabled = false
        config.diagnosticLogLevel = .error
        config.traces.otlpExporter.protocol = .httpProtobuf
        config.traces.batchSpanProcessor.scheduleDelay = .milliseconds(500)
        let observability = try OTel.bootstrap(configuration: config)
        let logger = Logger(label: "demo.\(role.rawValue)")

        let service: any Service
        switch role {
        case .dispatchWorker: service = DispatchWorker(url: env["NATS_URL"] ?? "nats://127.0.0.1:4222", logger: logger)
        default:
            let port = Int(env["PORT"] ?? "") ?? [.frontend: 8080, .customers: 8081, .routes: 8082][role]!
            let router = Router()
            router.middlewares.add(TracingMiddleware())
            switch role {
            case .frontend: try Frontend(logger: logger).addRoutes(to: router)
            case .customers: Customers().addRoutes(to: router)
            default: Routes().addRoutes(to: router)
            }
            service = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: role.rawValue),
                onServerRunning: { channel in logger.info("demo \(role.rawValue) listening on \(channel.localAddress?.description ?? "?")") },
                logger: logger)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service), .init(service: observability)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("demo \(role.rawValue) stopped")
    }

    /// Work that takes a while, as a database or a computation would.
    static func work(_ milliseconds: Int) async throws {
        try await Task.sleep(for: .milliseconds(milliseconds))
    }
}

struct Customer: Codable, ResponseEncodable {
    var id: Int
    var name: String
    var location: String
}

struct Frontend {
    let logger: Logger
    let customersURL = DemoShop.env["CUSTOMERS_URL"] ?? "http://127.0.0.1:8081"
    let routesURL = DemoShop.env["ROUTES_URL"] ?? "http://127.0.0.1:8082"
    let pricingURL = DemoShop.env["PRICING_URL"] ?? "http://127.0.0.1:8083"
    let nats: NATSConnection
    /// Created after OTel.bootstrap: the client takes the global tracer when configured.
    let http = HTTPClient(eventLoopGroupProvider: .singleton)

    init(logger: Logger) throws {
        self.logger = logger
        nats = try NATSConnection(url: DemoShop.env["NATS_URL"] ?? "nats://127.0.0.1:4222")
    }

    /// The status code and body of a GET, as a client span of AsyncHTTPClient's own.
    func get(_ url: String) async throws -> (UInt, [UInt8]) {
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, Array(buffer: body))
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/dispatch") { request, _ -> Response in
            let customerID = Int(request.uri.queryParameters["customer"] ?? "") ?? 123
            let (status, body) = try await get("\(customersURL)/customer?id=\(customerID)")
            guard status == 200, let customer = try? JSONDecoder().decode(Customer.self, from: Data(body)) else {
                throw HTTPError(.badGateway, message: "customers answered \(status)")
            }
            let (priceStatus, price) = try await get("\(pricingURL)/price?customer=\(customerID)&location=\(customer.location)")
            guard priceStatus == 200 else { throw HTTPError(.badGateway, message: "pricing answered \(priceStatus)") }
            // Three candidate drivers' routes at once, as a dispatcher would.
            let etas = try await withThrowingTaskGroup(of: String.self) { group in
                for driver in ["D-17", "D-42", "D-88"] {
                    group.addTask {
                        let (s, b) = try await get("\(routesURL)/route?from=\(driver)&to=\(customerID)")
                        guard s == 200 else { throw HTTPError(.badGateway, message: "routes answered \(s): \(String(decoding: b, as: UTF8.self))") }
                        return String(decoding: b, as: UTF8.self)
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            try withSpan("dispatch.requests publish", ofKind: .producer) { span in
                span.attributes["messaging.system"] = "nats"
                span.attributes["messaging.destination.name"] = "dispatch.requests"
                span.attributes["messaging.operation.type"] = "publish"
                span.attributes["customer.id"] = customerID
                try nats.publish("dispatch.requests", Array("{\"customer\":\(customerID)}".utf8), context: span.context)
            }
            let text =
                "{\"customer\":\"\(customer.name)\",\"price\":\(String(decoding: price, as: UTF8.self)),\"etas\":[\(etas.joined(separator: ","))]}"
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }
}

struct Customers {
    static let names = ["Trom Chocolatier", "Red Bagel", "Rachel's Floral Designs", "Amazing Coffee Roasters"]

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/customer") { request, _ -> Customer in
            guard let id = Int(request.uri.queryParameters["id"] ?? "") else { throw HTTPError(.badRequest, message: "id must be a number") }
            let cached = try await withSpan("GET", ofKind: .client) { span in
                span.attributes["db.system.name"] = "redis"
                span.attributes["db.operation.name"] = "GET"
                span.attributes["db.query.text"] = "GET customer:\(id)"
                try await DemoShop.work(2)
                let hit = id % 3 == 0
                span.attributes["cache.hit"] = hit
                return hit
            }
            if !cached {
                try await withSpan("SELECT customers", ofKind: .client) { span in
                    span.attributes["db.system.name"] = "mysql"
                    span.attributes["db.namespace"] = "shop"
                    span.attributes["db.operation.name"] = "SELECT"
                    span.attributes["db.query.text"] = "SELECT id, name, location FROM customers WHERE id = ?"
                    span.attributes["server.address"] = "mysql-0.shop.svc"
                    // The slow path: this customer's rows are found by a full table scan.
                    if id == 392 {
                        span.addEvent(SpanEvent(name: "full table scan", attributes: ["db.rows_examined": 1_250_000]))
                        try await DemoShop.work(420)
                    } else {
                        try await DemoShop.work(Int.random(in: 8...25))
                    }
                }
            }
            return Customer(id: id, name: Self.names[id % Self.names.count], location: "\(id % 90),\(id % 180)")
        }
    }
}

struct Routes {
    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/route") { request, _ -> Response in
            let from = request.uri.queryParameters["from"] ?? "?"
            let to = request.uri.queryParameters["to"] ?? "?"
            let eta = try await withSpan("compute route") { span in
                span.attributes["route.from"] = String(from)
                span.attributes["route.to"] = String(to)
                try await DemoShop.work(Int.random(in: 10...45))
                // The failing path: no road reaches this customer's address.
                if to == "731" {
                    struct NoRoute: Error, CustomStringConvertible { var description: String }
                    let error = NoRoute(description: "no route from \(from) to customer 731")
                    span.recordError(error)
                    span.setStatus(SpanStatus(code: .error, message: error.description))
                    return nil as Int?
                }
                return Int.random(in: 2...25)
            }
            guard let eta else { throw HTTPError(.internalServerError, message: "no route to customer \(to)") }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"driver\":\"\(from)\",\"eta_minutes\":\(eta)}")))
        }
    }
}

/// Consumes dispatch requests from NATS on a thread of its own (the C client's receive call
/// blocks), continuing each request's trace from the message headers.
struct DispatchWorker: Service {
    let url: String
    let logger: Logger

    func run() async throws {
        let nats = try NATSConnection(url: url)
        let stopped = StopFlag()
        logger.info("demo dispatch-worker consuming dispatch.requests from \(url)")
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                Thread.detachNewThread {
                    do {
                        try nats.subscribe("dispatch.requests", stop: { stopped.value }) { data, headers in
                            handle(data, headers)
                        }
                        done.resume()
                    } catch { done.resume(throwing: error) }
                }
            }
        } onGracefulShutdown: {
            stopped.set()
        }
    }

    func handle(_ data: [UInt8], _ headers: [String: String]) {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryExtractor())
        withSpan("dispatch.requests process", context: context, ofKind: .consumer) { span in
            span.attributes["messaging.system"] = "nats"
            span.attributes["messaging.destination.name"] = "dispatch.requests"
            span.attributes["messaging.operation.type"] = "process"
            span.attributes["messaging.message.body.size"] = data.count
            withSpan("assign driver") { span in
                span.attributes["driver.id"] = ["D-17", "D-42", "D-88"].randomElement()!
                Thread.sleep(forTimeInterval: 0.015)
            }
        }
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    var value: Bool { lock.withLock { stopped } }
    func set() { lock.withLock { stopped = true } }
}
