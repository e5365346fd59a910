import AriadneWire
import AsyncHTTPClient
import Crypto
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import Synchronization

/// The keys tokens are verified with: a JWKS read once from a file, or fetched from the
/// provider's `jwks_url` when first needed, again every 10 minutes, and again (at most every
/// 30 seconds) when a token does not verify with the keys at hand — a provider rotating its keys
/// is followed without a restart, and a flood of bad tokens does not become a flood of fetches.
final class JWKSource: Sendable {
    let url: String?
    private let state = Mutex<(keys: JWTKeyCollection?, fetchedAt: ContinuousClock.Instant?)>((nil, nil))
    static let refreshEvery: Duration = .seconds(600)
    static let refetchAfterFailure: Duration = .seconds(30)

    init(json: String) async throws {
        let c = JWTKeyCollection()
        try await c.add(jwksJSON: json)
        url = nil
        state.withLock { $0.keys = c }
    }

    init(url: String) { self.url = url }

    /// The current keys; fetched first when due (`afterFailure`: a token did not verify).
    func keys(afterFailure: Bool = false) async -> JWTKeyCollection? {
        guard let url else { return state.withLock { $0.keys } }
        let now = ContinuousClock.now
        // Claimed before the fetch, so that concurrent requests do not all fetch.
        let due = state.withLock { s -> Bool in
            let wait = s.keys == nil || afterFailure ? Self.refetchAfterFailure : Self.refreshEvery
            guard s.fetchedAt.map({ now - $0 >= wait }) ?? true else { return false }
            s.fetchedAt = now
            return true
        }
        if due, let fresh = try? await Self.fetch(url) { state.withLock { $0.keys = fresh } }
        return state.withLock { $0.keys }
    }

    static func fetch(_ url: String) async throws -> JWTKeyCollection {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw OIDCError("the JWKS at \(url) answered \(response.status.code)") }
        let c = JWTKeyCollection()
        try await c.add(jwksJSON: String(buffer: body))
        return c
    }

    func verify(_ token: String) async throws -> ClaimSet {
        guard let keys = await keys() else { throw OIDCError("the provider's keys could not be fetched from \(url ?? "?")") }
        do {
            return try await keys.verify(token, as: ClaimSet.self, iteratingKeys: true)
        } catch {
            guard url != nil, let fresh = await self.keys(afterFailure: true), fresh !== keys else { throw error }
            return try await fresh.verify(token, as: ClaimSet.self, iteratingKeys: true)
        }
    }
}

struct OIDCError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The UI's sign-in through an OpenID provider: the authorization code flow with PKCE (S256), a
/// `state` bound to the browser's attempt and a `nonce` bound to the ID token. The provider's
/// endpoints come from its discovery document (`<issuer>/.well-known/openid-configuration`).
/// Attempts live in memory for 10 minutes; each `state` is good once.
final class OIDCLogin: Sendable {
    let spec: AuthSection.OIDCSpec
    let clientID: String
    let clientSecret: String?

    struct Endpoints: Sendable {
        var authorization: String
        var token: String
    }

    struct Attempt: Sendable {
        var verifier: String
        var nonce: String
        var returnTo: String
        var redirectURI: String
        var expires: Date
    }

    private let endpoints = Mutex<Endpoints?>(nil)
    private let attempts = Mutex<[String: Attempt]>([:])
    static let attemptLifetime: TimeInterval = 600

    init(spec: AuthSection.OIDCSpec, clientID: String, clientSecret: String?) {
        self.spec = spec
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    func discover() async throws -> Endpoints {
        if let e = endpoints.withLock({ $0 }) { return e }
        let url = spec.issuer.trimmingSuffix("/") + "/.well-known/openid-configuration"
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let doc = try? JSONValue.parse(Array(buffer: body)),
            let authorization = doc["authorization_endpoint"]?.stringValue, let token = doc["token_endpoint"]?.stringValue
        else { throw OIDCError("the provider's discovery document at \(url) has no authorization_endpoint and token_endpoint") }
        let e = Endpoints(authorization: authorization, token: token)
        endpoints.withLock { $0 = e }
        return e
    }

    /// Where to send the browser to sign in; it comes back to `redirectURI` and then `returnTo`.
    func begin(returnTo: String, redirectURI: String) async throws -> String {
        let e = try await discover()
        let verifier = Self.randomToken(), state = Self.randomToken(), nonce = Self.randomToken()
        let now = Date()
        attempts.withLock { a in
            if a.count > 10_000 { a = a.filter { $0.value.expires > now } }
            a[state] = Attempt(
                verifier: verifier, nonce: nonce, returnTo: returnTo, redirectURI: redirectURI, expires: now.addingTimeInterval(Self.attemptLifetime))
        }
        let challenge = Self.base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
        let query = FormEncoding.encode([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI), ("scope", spec.scopes),
            ("state", state), ("nonce", nonce), ("code_challenge", challenge), ("code_challenge_method", "S256"),
        ])
        return e.authorization + (e.authorization.contains("?") ? "&" : "?") + query
    }

    /// The principal of a completed sign-in and where the browser goes next.
    func finish(code: String, state: String, authenticator: Authenticator) async throws(AuthFailure) -> (Principal, String) {
        let now = Date()
        guard let attempt = attempts.withLock({ $0.removeValue(forKey: state) }), attempt.expires > now else {
            throw AuthFailure(status: .unauthenticated, message: "this sign-in is unknown or has expired: start again")
        }
        let idToken: String
        do {
            idToken = try await exchange(code: code, attempt: attempt)
        } catch {
            throw AuthFailure(status: .unauthenticated, message: "the provider did not give a token for the code: \(error)")
        }
        let (principal, claims) = try await authenticator.verifyJWT(idToken, audience: clientID)
        guard claims.string("nonce") == attempt.nonce else {
            throw AuthFailure(status: .unauthenticated, message: "invalid token: the nonce is not this sign-in's")
        }
        return (principal, attempt.returnTo)
    }

    func exchange(code: String, attempt: Attempt) async throws -> String {
        let e = try await discover()
        var form: [(String, String)] = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", attempt.redirectURI), ("client_id", clientID),
            ("code_verifier", attempt.verifier),
        ]
        if let clientSecret { form.append(("client_secret", clientSecret)) }
        var request = HTTPClientRequest(url: e.token)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        let doc = try? JSONValue.parse(Array(buffer: body))
        guard response.status == .ok, let token = doc?["id_token"]?.stringValue else {
            let why = doc?["error_description"]?.stringValue ?? doc?["error"]?.stringValue ?? "status \(response.status.code)"
            throw OIDCError(why)
        }
        return token
    }

    static func randomToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return base64URL((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// `application/x-www-form-urlencoded`, as for query strings: unreserved characters kept,
/// everything else percent-encoded.
enum FormEncoding {
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0) + "=" + escape($1) }.joined(separator: "&")
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + b.twoHexDigits(uppercase: true)
            }
        }
        return out
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
