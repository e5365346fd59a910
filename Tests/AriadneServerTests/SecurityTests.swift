import AriadneModel
import AriadnePipeline
import AriadneServer
import AriadneWire
import AriadneWorkload
import Crypto
import Foundation
import NIOHTTP1
import Testing

/// Authentication and roles on every route the query router knows, API keys and JWTs (ES256
/// signed by a key made here, its JWKS in a file), and the audit log's chain.
@Suite struct SecurityTests {
    static let keys = [
        "K_INGEST": "ingest-key-0123456789abcdef", "K_VIEWER": "viewer-key-0123456789abcdef",
        "K_ADMIN": "admin-key-0123456789abcdef", "K_SMALL": "small-tenant-key-0123456789",
    ]
    static let signing = P256.Signing.PrivateKey()

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func jwks() -> String {
        let point = Array(signing.publicKey.x963Representation)  // 0x04 | x | y
        return """
            {"keys":[{"kty":"EC","crv":"P-256","kid":"test","alg":"ES256","use":"sig",\
            "x":"\(base64URL(point[1...32]))","y":"\(base64URL(point[33...64]))"}]}
            """
    }

    /// A token with `claims` over the defaults, signed as `alg` says (ES256 by our key, HS256 with
    /// the public key as the secret, none), or with a broken signature.
    static func token(_ claims: [String: Any] = [:], alg: String = "ES256", breakSignature: Bool = false) -> String {
        let now = Int(Date().timeIntervalSince1970)
        var payload: [String: Any] = [
            "iss": "https://idp.test", "aud": "ariadne", "exp": now + 300, "nbf": now - 10, "sub": "u1",
            "email": "ana@example.com", "ariadne_role": "viewer", "org": "shop",
        ]
        for (k, v) in claims { payload[k] = v }
        let header = base64URL(try! JSONSerialization.data(withJSONObject: ["alg": alg, "typ": "JWT", "kid": "test"]))
        let body = base64URL(try! JSONSerialization.data(withJSONObject: payload))
        let input = Array("\(header).\(body)".utf8)
        var signature: [UInt8]
        switch alg {
        case "ES256": signature = Array(try! signing.signature(for: input).rawRepresentation)
        case "HS256":
            signature = Array(HMAC<Crypto.SHA256>.authenticationCode(for: input, using: SymmetricKey(data: signing.publicKey.x963Representation)))
        default: signature = []
        }
        if breakSignature { signature[5] ^= 0xff }
        return "\(header).\(body).\(base64URL(signature))"
    }

    static let yaml = """
        auth:
          api_keys:
            - {name: ingester, key_env: K_INGEST, tenant: shop, role: ingest}
            - {name: reader, key_env: K_VIEWER, tenant: shop, role: viewer}
            - {name: ops, key_env: K_ADMIN, tenant: shop, role: admin}
            - {name: small-ingest, key_env: K_SMALL, tenant: small, role: ingest}
          tenant_limits:
            small: {spans_per_second: 10, burst: 100}
          oidc: {issuer: "https://idp.test", audience: ariadne, jwks_file: jwks.json}
        """

    static func withSecuredServer<R: Sendable>(_ body: @Sendable (BoundAddresses, String) async throws -> R) async throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ariadne-sec-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try jwks().write(toFile: dir + "/jwks.json", atomically: true, encoding: .utf8)
        let pipeline = try PipelineConfiguration.parse(yaml, environment: [:], sections: ServerConfiguration.configSections)
        let authenticator = try await Authenticator.load(pipeline.section(AuthSection.self), configDirectory: dir, environment: keys)
        let audit = try AuditLog(path: dir + "/audit.log")
        return try await withServer(configure: {
            $0.pipeline = pipeline
            $0.authenticator = authenticator
            $0.audit = audit
        }) { addr, _ in try await body(addr, dir + "/audit.log") }
    }

    static func bearer(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)")] }

    @Test func everyRouteNeedsACredentialOfTheRightRole() async throws {
        try await Self.withSecuredServer { addr, _ in
            // The UI's files, and the sign-in's ways in (they hold no data; the provider's callback
            // checks its one-time state itself).
            let open: Set<String> = [
                "GET /health", "GET /", "GET /search", "GET /ui/{file}", "GET /trace/{traceID}", "GET /api/session/methods",
                "GET /api/session/oidc/login", "GET /api/session/oidc/callback",
            ]
            #expect(addr.queryRoutes.count > 30)
            for route in addr.queryRoutes {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPMethod(rawValue: String(parts[0]))
                let path = String(parts[1]).replacingOccurrences(of: "{traceID}", with: "0af7651916cd43dd8448eb211c80319c")
                    .replacingOccurrences(of: "{service}", with: "svc").replacingOccurrences(of: "{kind}", with: "latencies")
                    .replacingOccurrences(of: "{file}", with: "app.js")
                let url = "http://\(addr.query)\(path)"
                // Signing in and out checks the credential itself (tested below).
                if path == "/api/session" { continue }
                let anonymous = try await http(method, url)
                if open.contains(route) {
                    #expect(anonymous.status != 401, "\(route) must stay open")
                    continue
                }
                #expect(anonymous.status == 401, "\(route) without a credential: \(anonymous.status)")
                #expect(anonymous.headers["WWW-Authenticate"].first?.hasPrefix("Bearer") == true)
                let ingest = try await http(method, url, headers: Self.bearer(Self.keys["K_INGEST"]!))
                #expect(ingest.status == 403, "\(route) with an ingest key: \(ingest.status)")
                let admin = try await http(method, url, headers: Self.bearer(Self.keys["K_ADMIN"]!))
                #expect(admin.status != 401 && admin.status != 403, "\(route) as admin: \(admin.status)")
                if path.hasPrefix("/api/admin/") {
                    let viewer = try await http(method, url, headers: Self.bearer(Self.keys["K_VIEWER"]!))
                    #expect(viewer.status == 403, "\(route) as viewer: \(viewer.status)")
                }
            }
            // Receivers take ingest credentials only.
            let otlp = "http://\(addr.otlpHTTP)/v1/traces"
            let ct = [("Content-Type", "application/x-protobuf")]
            #expect(try await http(.POST, otlp, body: [], headers: ct).status == 401)
            #expect(try await http(.POST, otlp, body: [], headers: ct + Self.bearer(Self.keys["K_VIEWER"]!)).status == 403)
            #expect(try await http(.POST, otlp, body: [], headers: ct + Self.bearer(Self.keys["K_INGEST"]!)).status == 200)
        }
    }

    @Test func tokensAreVerified() async throws {
        try await Self.withSecuredServer { addr, _ in
            let url = "http://\(addr.query)/api/services"
            @Sendable func status(_ token: String) async -> Int { (try? await http(.GET, url, headers: Self.bearer(token)).status) ?? -1 }
            let now = Int(Date().timeIntervalSince1970)
            #expect(await status(Self.token()) == 200)
            #expect(await status(Self.token(["exp": now - 5])) == 401, "expired")
            #expect(await status(Self.token(["nbf": now + 3600])) == 401, "not yet valid")
            #expect(await status(Self.token(["iss": "https://evil.test"])) == 401, "wrong issuer")
            #expect(await status(Self.token(["aud": "someone-else"])) == 401, "wrong audience")
            #expect(await status(Self.token(breakSignature: true)) == 401, "bad signature")
            #expect(await status(Self.token(alg: "none")) == 401, "alg none")
            #expect(await status(Self.token(alg: "HS256")) == 401, "HS256 with the public key")
            #expect(await status(Self.token(["ariadne_role": "ingest"])) == 403, "a token's role applies")
            #expect(await status(Self.token(["ariadne_role": "superuser"])) == 403, "an unknown role is no role")
        }
    }

    @Test func failedAttemptsAreLimitedAndAudited() async throws {
        try await Self.withSecuredServer { addr, auditPath in
            let url = "http://\(addr.query)/api/services"
            for _ in 0..<10 { #expect(try await http(.GET, url, headers: Self.bearer("wrong-key-0123456789")).status == 401) }
            let blocked = try await http(.GET, url, headers: Self.bearer(Self.keys["K_ADMIN"]!))
            #expect(blocked.status == 429 && blocked.headers["Retry-After"].first == "60")
            let audit = try String(contentsOfFile: auditPath, encoding: .utf8)
            #expect(audit.split(separator: "\n").filter { $0.contains("\"action\":\"auth.failure\"") }.count == 11)
            #expect(!audit.contains("wrong-key"), "credentials are never written down")
            #expect(AuditLog.verify(Array(audit.utf8)) == nil)
        }
    }

    @Test func auditChainNamesTheLineThatWasTampered() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID()).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try AuditLog(path: path)
        for n in 0..<5 {
            log.record(
                AuditLog.Entry(
                    principal: "ana", tenant: "shop", role: "viewer", action: "trace.read", target: "/api/traces/\(n)", result: "200",
                    remote: "127.0.0.1", requestID: "r\(n)"))
        }
        // Reopening continues the chain.
        let again = try AuditLog(path: path)
        again.record(
            AuditLog.Entry(
                principal: "ops", tenant: "shop", role: "admin", action: "admin.delete", target: "/api/admin/delete", result: "200",
                remote: "127.0.0.1", requestID: "r5"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 6 && AuditLog.verify(Array(text.utf8)) == nil)
        func check(_ ls: [String]) -> Int? { AuditLog.verify(Array((ls.joined(separator: "\n") + "\n").utf8))?.line }
        var edited = lines
        edited[2] = edited[2].replacingOccurrences(of: "/api/traces/2", with: "/api/traces/9")
        #expect(check(edited) == 3)
        var removed = lines
        removed.remove(at: 3)
        #expect(check(removed) == 4)
        lines.swapAt(1, 2)
        #expect(check(lines) == 2)
    }

    @Test func theUISignsInWithASessionCookieAndChangesNeedTheCSRFHeader() async throws {
        try await Self.withSecuredServer { addr, _ in
            let base = "http://\(addr.query)"
            let json = [("Content-Type", "application/json")]
            #expect(try await http(.GET, base + "/api/session").status == 401)
            let bad = try await http(.POST, base + "/api/session", body: Array(#"{"credential":"nope-nope-nope-nope"}"#.utf8), headers: json)
            #expect(bad.status == 401)
            let key = Self.keys["K_ADMIN"]!
            let signIn = try await http(.POST, base + "/api/session", body: Array("{\"credential\":\"\(key)\"}".utf8), headers: json)
            #expect(signIn.status == 200 && signIn.text.contains("\"user\":\"ops\""))
            let setCookie = signIn.headers["Set-Cookie"].first ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && !setCookie.contains(key))
            let cookie = [("Cookie", String(setCookie.split(separator: ";")[0]))]
            #expect(try await http(.GET, base + "/api/services", headers: cookie).status == 200)
            #expect(try await http(.GET, base + "/api/session", headers: cookie).text.contains("\"role\":\"admin\""))
            // A change carried by the cookie alone (as another site's form would send it) is refused.
            let delete = Array(#"{"traceIDs":["0af7651916cd43dd8448eb211c80319c"]}"#.utf8)
            #expect(try await http(.POST, base + "/api/admin/delete", body: delete, headers: cookie + json).status == 403)
            let withHeader = try await http(
                .POST, base + "/api/admin/delete", body: delete, headers: cookie + json + [("X-Requested-With", "ariadne")])
            #expect(withHeader.status != 401 && withHeader.status != 403)
            #expect(try await http(.DELETE, base + "/api/session", headers: cookie).status == 200)
            #expect(try await http(.GET, base + "/api/services", headers: cookie).status == 401)
        }
    }

    @Test func aTenantOverItsIngestLimitGets429WithRetryAfter() async throws {
        try await Self.withSecuredServer { addr, _ in
            var workload = Workload(seed: 4)
            func request(_ n: Int) -> [UInt8] {
                OTLPProtobuf.encodeExportRequest(workload.batch(spans: n, start: 1_700_000_000_000_000_000))
            }
            let url = "http://\(addr.otlpHTTP)/v1/traces"
            let small = [("Content-Type", "application/x-protobuf")] + Self.bearer(Self.keys["K_SMALL"]!)
            let first = request(60)
            #expect(try await http(.POST, url, body: first, headers: small).status == 200)
            let over = try await http(.POST, url, body: request(60), headers: small)
            #expect(over.status == 429)
            #expect(Int(over.headers["Retry-After"].first ?? "") ?? 0 >= 1)
            // Another tenant is not held back by it.
            let other = [("Content-Type", "application/x-protobuf")] + Self.bearer(Self.keys["K_INGEST"]!)
            #expect(try await http(.POST, url, body: request(60), headers: other).status == 200)
        }
    }
}
