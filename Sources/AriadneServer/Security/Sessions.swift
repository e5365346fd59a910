import AriadneModel
import AriadneWire
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The web UI's sign-in: a credential (API key or JWT) pasted once is exchanged for a session
/// cookie — `HttpOnly` (scripts never see it), `SameSite=Strict` (other sites cannot send it),
/// `Secure` under TLS — so the browser never stores the credential itself. Sessions live in
/// memory for 12 hours (a restart signs everyone out) and are kept only as SHA-256 digests.
final class SessionStore: Sendable {
    static let cookie = "ariadne_session"
    static let lifetime: TimeInterval = 12 * 3600
    private let sessions = Mutex([[UInt8]: (principal: Principal, expires: Date)]())

    func create(_ p: Principal) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let token = Hex.string(bytes: bytes)
        let now = Date()
        sessions.withLock { s in
            if s.count > 10_000 { s = s.filter { $0.value.expires > now } }
            s[Self.digest(token)] = (p, now.addingTimeInterval(Self.lifetime))
        }
        return token
    }

    func principal(_ token: String) -> Principal? {
        sessions.withLock { s in
            guard let e = s[Self.digest(token)], e.expires > Date() else { return nil }
            return e.principal
        }
    }

    func end(_ token: String) { _ = sessions.withLock { $0.removeValue(forKey: Self.digest(token)) } }

    static func digest(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// The session token of a `Cookie` header, if it has one.
    static func token(in cookieHeader: String?) -> String? {
        guard let cookieHeader else { return nil }
        for part in cookieHeader.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2 && kv[0] == cookie { return kv[1] }
        }
        return nil
    }
}

/// `POST /api/session` `{"credential": "..."}` signs in (sets the cookie), `GET /api/session`
/// says who is signed in (`{"auth": false}` when the server has no `auth`), `DELETE` signs out.
/// With `oidc.client_id`, `GET /api/session/oidc/login?return=PATH` sends the browser to the
/// provider and `/api/session/oidc/callback` signs it in on its way back;
/// `GET /api/session/methods` tells the login page which ways there are.
/// HTML's five special characters escaped.
enum HTMLText {
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

struct SessionRoutes {
    let authenticator: Authenticator?
    let sessions: SessionStore
    let secure: Bool

    func json(_ status: HTTPResponse.Status, _ fields: KeyValuePairs<String, JSONField>, cookie: String? = nil) -> Response {
        var r = QueryAPI.json({ $0.object(fields) }, status: status)
        if let cookie { r.headers[.setCookie] = cookie }
        return r
    }

    func who(_ p: Principal) -> KeyValuePairs<String, JSONField> {
        ["auth": .bool(true), "user": .string(p.name), "tenant": .string(p.tenant), "role": .string(p.role.rawValue)]
    }

    /// A path of this site to return to (never another site's address).
    static func localPath(_ s: String?) -> String {
        guard let s, s.hasPrefix("/"), !s.hasPrefix("//"), !s.hasPrefix("/\\"), !s.contains("\r"), !s.contains("\n") else { return "/" }
        return s
    }

    /// A short page for the browser, with a way back to the sign-in.
    static func page(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let html =
            "<!doctype html><title>Sign-in · Ariadne</title><p id=\"signin-error\">\(HTMLText.escape(message))</p><p><a href=\"/\">Back to Ariadne</a></p>"
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    func cookie(_ value: String, maxAge: Int) -> String {
        "\(SessionStore.cookie)=\(value); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)" + (secure ? "; Secure" : "")
    }

    func addRoutes(to router: Router<AriadneRequestContext>) {
        router.get("/api/session") { request, _ -> Response in
            guard authenticator != nil else { return json(.ok, ["auth": .bool(false)]) }
            guard let token = SessionStore.token(in: request.headers[.cookie]), let p = sessions.principal(token) else {
                return json(.unauthorized, ["auth": .bool(true), "error": .string("not signed in")])
            }
            return json(.ok, who(p))
        }
        router.post("/api/session") { request, context -> Response in
            guard let authenticator else { return json(.notFound, ["error": .string("this server has no auth: nothing to sign in to")]) }
            let body = try await request.body.collect(upTo: 64 << 10)
            guard let credential = (try? JSONValue.parse(Array(buffer: body)))?["credential"]?.stringValue, !credential.isEmpty else {
                return json(.badRequest, ["error": .string("expected {\"credential\": \"<api key or token>\"}")])
            }
            do throws(AuthFailure) {
                let p = try await authenticator.authenticate(
                    authorization: "Bearer " + credential, remote: context.remoteAddress?.ipAddress ?? "?")
                return json(.ok, who(p), cookie: cookie(sessions.create(p), maxAge: Int(SessionStore.lifetime)))
            } catch {
                return AccessControl.refusal(error)
            }
        }
        router.get("/api/session/methods") { _, _ -> Response in
            json(.ok, ["auth": .bool(authenticator != nil), "oidc": .bool(authenticator?.login != nil)])
        }
        router.get("/api/session/oidc/login") { request, _ -> Response in
            guard let login = authenticator?.login else { return json(.notFound, ["error": .string("no OIDC sign-in is configured")]) }
            let returnTo = Self.localPath(request.uri.queryParameters["return"].map(String.init))
            let redirect =
                login.spec.redirectURL ?? "\(secure ? "https" : "http")://\(request.head.authority ?? "localhost")/api/session/oidc/callback"
            do {
                let url = try await login.begin(returnTo: returnTo, redirectURI: redirect)
                var r = Response(status: .found)
                r.headers[.location] = url
                r.headers[.cacheControl] = "no-store"
                return r
            } catch {
                return json(.serviceUnavailable, ["error": .string("the identity provider cannot be reached: \(error)")])
            }
        }
        router.get("/api/session/oidc/callback") { request, context -> Response in
            guard let login = authenticator?.login else { return json(.notFound, ["error": .string("no OIDC sign-in is configured")]) }
            let q = request.uri.queryParameters
            if let error = q["error"] {
                return Self.page(.unauthorized, "The identity provider refused the sign-in: \(error) \(q["error_description"] ?? "")")
            }
            guard let code = q["code"], let state = q["state"] else {
                return Self.page(.badRequest, "The provider's answer has no code and state.")
            }
            do throws(AuthFailure) {
                let (p, returnTo) = try await login.finish(code: String(code), state: String(state), authenticator: authenticator!)
                var r = Response(status: .found)
                r.headers[.location] = returnTo
                r.headers[.setCookie] = cookie(sessions.create(p), maxAge: Int(SessionStore.lifetime))
                r.headers[.cacheControl] = "no-store"
                return r
            } catch {
                authenticator?.failures.record(context.remoteAddress?.ipAddress ?? "?")
                return Self.page(error.status == .forbidden ? .forbidden : .unauthorized, error.message)
            }
        }
        router.delete("/api/session") { request, _ -> Response in
            if let token = SessionStore.token(in: request.headers[.cookie]) { sessions.end(token) }
            return json(.ok, ["auth": .bool(authenticator != nil)], cookie: cookie("", maxAge: 0))
        }
    }
}
