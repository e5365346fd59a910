import AriadneModel
import AriadnePipeline
import AriadneTesting
import Testing

@Suite struct SHA256Tests {
    func hex(_ b: [UInt8]) -> String { b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    @Test func knownAnswers() {
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(hex(SHA256.hash(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // RFC 4231, test case 2.
        let mac = SHA256.hmac(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8))
        #expect(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}

@Suite struct PIIDetectionTests {
    let redactor = Redactor(RedactionPolicy())

    func scrub(_ s: String, key: String? = nil) -> String {
        redactor.scrub(Array(s.utf8), key: key).map { String(decoding: $0.0, as: UTF8.self) } ?? s
    }

    @Test(arguments: [
        ("mail jane.doe+x@example.co.uk now", "mail [REDACTED:email] now"),
        ("card 4111 1111 1111 1111.", "card [REDACTED:payment_card]."),
        ("4111-1111-1111-1111", "[REDACTED:payment_card]"),
        ("ssn 123-45-6789", "ssn [REDACTED:us_ssn]"),
        ("from 192.168.10.1:8080", "from [REDACTED:ipv4]:8080"),
        ("peer 2001:db8::8a2e:370:7334 done", "peer [REDACTED:ipv6] done"),
        ("Authorization: Bearer abcDEF123456.xyz-_~+/==", "Authorization: Bearer [REDACTED:bearer_token]"),
        ("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1", "t=[REDACTED:jwt]"),
        ("call +1 415 555 2671 or (415) 555-2671", "call [REDACTED:phone] or [REDACTED:phone]"),
        ("+14155552671", "[REDACTED:phone]"),
    ])
    func findsPII(_ input: String, _ expected: String) {
        #expect(scrub(input) == expected)
    }

    @Test(arguments: [
        "GET /api/users/{id}", "1700000000123456789", "version 1.2.3.4.5", "2024-01-15 10:30:00", "order 12345678",
        "123e4567-e89b-12d3-a456-426614174000", "4111 1111 1111 1112", "000-12-3456", "Foo::Bar::baz", "10:30:45",
        "999.1.1.1", "user@localhost", "a@b", "bearer short",
    ])
    func leavesOrdinaryTextAlone(_ input: String) {
        #expect(scrub(input) == input)
    }

    @Test func keysDecide() {
        #expect(scrub("hunter2", key: "db.password") == "[REDACTED:value]")
        #expect(scrub("Basic dXNlcjpwYXNz", key: "http.request.header.authorization") == "[REDACTED:value]")
        #expect(scrub("jane@example.com", key: "service.name") == "jane@example.com")
        #expect(
            scrub("https://bob:pw@shop.example.com/p?card=4111111111111111&q=shoes#top", key: "url.full")
                == "https://REDACTED:REDACTED@shop.example.com/p?card=REDACTED&q=REDACTED#top")
        #expect(
            scrub("SELECT * FROM users WHERE email = 'jane@example.com' AND id = 42 AND t2.x = $1", key: "db.statement")
                == "SELECT * FROM users WHERE email = ? AND id = ? AND t2.x = $1")
    }

    @Test func hashingKeepsEqualValuesEqual() {
        var policy = RedactionPolicy()
        policy.mode = .hash(key: Array("k1".utf8))
        let r = Redactor(policy)
        func run(_ s: String) -> String { String(decoding: r.scrub(Array(s.utf8), key: nil)!.0, as: UTF8.self) }
        let a = run("jane@example.com"), b = run("to jane@example.com"), c = run("john@example.com")
        #expect(a.hasPrefix("[email:") && a.count == "[email:".count + 16 + 1)
        #expect(b == "to " + a)
        #expect(a != c)
        var other = RedactionPolicy()
        other.mode = .hash(key: Array("k2".utf8))
        #expect(String(decoding: Redactor(other).scrub(Array("jane@example.com".utf8), key: nil)!.0, as: UTF8.self) != a)
    }
}

@Suite struct RedactorBatchTests {
    @Test func everyStringOfASpanIsRedactedAndCounted() {
        var t = TraceBuilder(traceID: TraceID(high: 1, low: 1), start: 1_000)
        let root = t.span(
            "login jane@example.com", service: "auth", kind: .server, at: 0, duration: 10,
            attributes: [
                KeyValue("user.email", "jane@example.com"), KeyValue("http.route", "/login"), KeyValue("retries", 3),
                KeyValue("db.password", "hunter2"), KeyValue("ids", .array(["x", "card 4111111111111111"])),
            ],
            status: .error, statusMessage: "denied for 10.0.0.7",
            events: [Span.Event(time: 1_005, name: "exception", attributes: [KeyValue("exception.message", "no user jane@example.com")])],
            resourceAttributes: [KeyValue("host.ip", "10.1.2.3")])
        t.span("plain", service: "auth", parent: root, at: 1, duration: 2, attributes: [KeyValue("http.route", "/x")])
        var batch = t.batch
        let n = Redactor(RedactionPolicy()).redact(&batch)
        let spans = batch.ownedSpansSortedByID
        let first = spans[0]
        #expect(first.name == "login [REDACTED:email]")
        #expect(first.statusMessage == "denied for [REDACTED:ipv4]")
        let attrs = Dictionary(uniqueKeysWithValues: first.attributes.map { ($0.key, $0.value) })
        #expect(attrs["user.email"] == .string("[REDACTED:email]"))
        #expect(attrs["http.route"] == .string("/login"))
        #expect(attrs["retries"] == .int(3))
        #expect(attrs["db.password"] == .string("[REDACTED:value]"))
        #expect(attrs["ids"] == .array(["x", "card [REDACTED:payment_card]"]))
        #expect(attrs["ariadne.redacted.count"] == .int(6))
        #expect(first.events[0].attributes[0].value == .string("no user [REDACTED:email]"))
        #expect(first.resource.attributes.contains(KeyValue("host.ip", "[REDACTED:ipv4]")))
        #expect(first.resource.serviceName == "auth")
        // The untouched span keeps its attributes and gets no count.
        #expect(spans[1].attributes == [KeyValue("http.route", "/x")])
        #expect(n == 6 + 1)
    }
}
