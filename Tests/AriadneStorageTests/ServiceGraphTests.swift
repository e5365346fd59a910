import AriadneModel
import AriadneStorage
import AriadneTesting
import Testing

@Suite struct ServiceGraphTests {
    let ms: UInt64 = 1_000_000

    @Test func clientServerPairsQueuesAndLeafNodes() {
        var t = TraceBuilder(traceID: TraceID(high: 7, low: 1), start: 1_000 * ms)
        let root = t.span("GET /order", service: "shop", kind: .server, at: 0, duration: 100 * ms)
        // A client call answered by a server span: one edge shop → payments, timed by the server span,
        // and no leaf for its peer.service.
        let call = t.span(
            "POST /pay", service: "shop", kind: .client, parent: root, at: 5 * ms, duration: 30 * ms,
            attributes: [KeyValue("peer.service", "payments")])
        t.span("POST /pay", service: "payments", kind: .server, parent: call, at: 6 * ms, duration: 25 * ms, status: .error)
        // Leaves: a cache, a database and an outside API.
        t.span("GET", service: "shop", kind: .client, parent: root, at: 40 * ms, duration: 1 * ms, attributes: [KeyValue("db.system", "redis")])
        t.span(
            "SELECT", service: "shop", kind: .client, parent: root, at: 42 * ms, duration: 9 * ms,
            attributes: [KeyValue("db.system", "postgresql"), KeyValue("server.address", "orders-db")])
        t.span(
            "POST", service: "shop", kind: .client, parent: root, at: 52 * ms, duration: 20 * ms,
            attributes: [KeyValue("server.address", "api.stripe.com")])
        // A queue: the consumer's parent is elsewhere, its link names the producer.
        let producer = t.span(
            "orders publish", service: "shop", kind: .producer, parent: root, at: 80 * ms, duration: 1 * ms,
            attributes: [KeyValue("messaging.system", "kafka")])
        t.span(
            "orders process", service: "mailer", kind: .consumer, at: 90 * ms, duration: 5 * ms,
            links: [Span.Link(traceID: TraceID(high: 7, low: 1), spanID: producer)])
        var counter = DependencyCounter(window: 0...UInt64.max / 2)
        counter.add(t.batch)
        let links = counter.links().map {
            "\($0.parent)→\($0.child) \($0.connectionType) calls=\($0.callCount) errors=\($0.errorCount) p95=\($0.p95Duration / ms)"
        }
        #expect(
            links == [
                "shop→api.stripe.com external calls=1 errors=0 p95=20",
                "shop→mailer messaging_system calls=1 errors=0 p95=5",
                "shop→orders-db database calls=1 errors=0 p95=9",
                "shop→payments  calls=1 errors=1 p95=25",
                "shop→redis cache calls=1 errors=0 p95=1",
            ], "\(links)")
    }
}
