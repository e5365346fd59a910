import Crypto
import Foundation
import JWTKit
import Synchronization

/// Who made a request: from an API key or a verified JWT.
public struct Principal: Sendable, Equatable {
    public var name: String
    public var tenant: String
    public var role: Role
    /// The teams whose services a viewer sees (empty: every service of the tenant).
    public var teams: [String]
    /// `api_key` or `jwt`.
    public var kind: String
}

/// Why a request was not let through: 401 (no or bad credential) or 403 (a role that may not).
public struct AuthFailure: Error, Sendable, Equatable {
    public enum Status: Sendable { case unauthenticated, forbidden, throttled }
    public var status: Status
    public var message: String
}

/// Turns `Authorization: Bearer …` into a ``Principal``.
///
/// API keys are kept only as SHA-256 digests and compared in constant time (every key is
/// compared, whichever matches), so neither their text nor their timing leaks. JWTs are verified
/// with the keys of the configured JWKS — RS256 and ES256 only: `alg: none` and HMAC algorithms
/// are refused before any key is tried (an HS256 token "signed" with the public key is the classic
/// confusion) — and then `exp`, `nbf`, `iss` and `aud` are checked.
public final class Authenticator: Sendable {
    struct Key: Sendable {
        var digest: [UInt8]
        var principal: Principal
    }

    let keys: [Key]
    let oidc: AuthSection.OIDCSpec?
    let jwks: JWKSource?
    public let publicMetrics: Bool
    let failures = FailureLimiter()
    /// The UI's sign-in through the provider, with `oidc.client_id`.
    let login: OIDCLogin?

    init(keys: [Key], oidc: AuthSection.OIDCSpec?, jwks: JWKSource?, publicMetrics: Bool, clientSecret: String? = nil) {
        self.keys = keys
        self.oidc = oidc
        self.jwks = jwks
        self.publicMetrics = publicMetrics
        login = oidc.flatMap { o in o.clientID.map { OIDCLogin(spec: o, clientID: $0, clientSecret: clientSecret) } }
    }

    /// Reads the key files, environment variables and JWKS the section names. Errors name the
    /// file and line of the entry.
    public static func load(
        _ section: AuthSection, configDirectory: String, environment: [String: String]
    ) async throws
        -> Authenticator
    {
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : configDirectory + "/" + path }
        var keys = [Key]()
        for spec in section.apiKeys {
            let secret: String
            switch spec.source {
            case .file(let path):
                guard let data = FileManager.default.contents(atPath: resolve(path)) else {
                    throw ConfigLoadError(line: spec.line, message: "api key '\(spec.name)': key_file \(resolve(path)) cannot be read")
                }
                secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            case .environment(let name):
                guard let value = environment[name] else {
                    throw ConfigLoadError(line: spec.line, message: "api key '\(spec.name)': environment variable \(name) is not set")
                }
                secret = value.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard secret.utf8.count >= 16 else {
                throw ConfigLoadError(line: spec.line, message: "api key '\(spec.name)': a key must be at least 16 characters")
            }
            keys.append(
                Key(
                    digest: Array(SHA256.hash(data: Array(secret.utf8))),
                    principal: Principal(name: spec.name, tenant: spec.tenant, role: spec.role, teams: spec.teams, kind: "api_key")))
        }
        var source: JWKSource?
        var clientSecret: String?
        if let oidc = section.oidc {
            if let file = oidc.jwksFile {
                guard let data = FileManager.default.contents(atPath: resolve(file)) else {
                    throw ConfigLoadError(line: oidc.line, message: "oidc: jwks_file \(resolve(file)) cannot be read")
                }
                do {
                    source = try await JWKSource(json: String(decoding: data, as: UTF8.self))
                } catch {
                    throw ConfigLoadError(line: oidc.line, message: "oidc: jwks_file \(resolve(file)) is not a usable JWKS: \(error)")
                }
            } else if let url = oidc.jwksURL {
                // Fetched when first needed: the provider may start after us.
                source = JWKSource(url: url)
            }
            if let file = oidc.clientSecretFile {
                guard let data = FileManager.default.contents(atPath: resolve(file)) else {
                    throw ConfigLoadError(line: oidc.line, message: "oidc: client_secret_file \(resolve(file)) cannot be read")
                }
                clientSecret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return Authenticator(
            keys: keys, oidc: section.oidc, jwks: source, publicMetrics: section.publicMetrics, clientSecret: clientSecret)
    }

    /// The principal of an `Authorization` header value, from `remote` (for the failure limit).
    /// Only a credential that was presented and refused counts as a failed attempt: a request
    /// without one (a browser's first try, a misconfigured exporter) is simply answered 401.
    public func authenticate(authorization: String?, remote: String) async throws(AuthFailure) -> Principal {
        guard let authorization, !authorization.isEmpty else { return try await verify(nil) }
        if failures.isBlocked(remote) {
            throw AuthFailure(status: .throttled, message: "too many failed attempts from this address; retry later")
        }
        do throws(AuthFailure) {
            return try await verify(authorization)
        } catch {
            if error.status == .unauthenticated { failures.record(remote) }
            throw error
        }
    }

    func verify(_ authorization: String?) async throws(AuthFailure) -> Principal {
        guard let header = authorization, !header.isEmpty else {
            throw AuthFailure(status: .unauthenticated, message: "a credential is required: Authorization: Bearer <api key or token>")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AuthFailure(status: .unauthenticated, message: "the Authorization header must be 'Bearer <api key or token>'")
        }
        let credential = String(parts[1]).trimmingCharacters(in: .whitespaces)
        let digest = Array(SHA256.hash(data: Array(credential.utf8)))
        var found: Principal?
        for key in keys where Self.constantTimeEquals(key.digest, digest) { found = key.principal }
        if let found { return found }
        if credential.split(separator: ".", omittingEmptySubsequences: false).count == 3, oidc != nil {
            return try await verifyJWT(credential).principal
        }
        throw AuthFailure(status: .unauthenticated, message: "unknown credential")
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// A token's principal and claims, once its signature, time, issuer and audience (the
    /// configured one, or `audience` — the UI's client id for an ID token) are checked.
    func verifyJWT(_ token: String, audience: String? = nil) async throws(AuthFailure) -> (principal: Principal, claims: ClaimSet) {
        guard let oidc, let jwks else { throw AuthFailure(status: .unauthenticated, message: "this server accepts no tokens") }
        let bad = { (why: String) in AuthFailure(status: .unauthenticated, message: "invalid token: \(why)") }
        // The algorithm first, from the header, before any key is chosen.
        guard let headerPart = token.split(separator: ".").first, let headerJSON = Self.base64URLDecode(String(headerPart)),
            let header = try? JSONSerialization.jsonObject(with: Data(headerJSON)) as? [String: Any],
            let alg = header["alg"] as? String
        else { throw bad("unreadable header") }
        guard alg == "RS256" || alg == "ES256" else { throw bad("algorithm \(alg) is not accepted (RS256 or ES256)") }
        let claims: ClaimSet
        do {
            claims = try await jwks.verify(token)
        } catch {
            throw bad("signature does not verify")
        }
        let now = Date().timeIntervalSince1970
        guard let exp = claims.number("exp") else { throw bad("no exp claim") }
        guard exp > now else { throw bad("expired") }
        if let nbf = claims.number("nbf"), nbf > now + 30 { throw bad("not yet valid") }
        guard claims.string("iss") == oidc.issuer else { throw bad("wrong issuer") }
        guard claims.strings("aud").contains(audience ?? oidc.audience) else { throw bad("wrong audience") }
        guard let roleText = claims.string(oidc.roleClaim), let role = Role(rawValue: roleText) else {
            throw AuthFailure(status: .forbidden, message: "the token's \(oidc.roleClaim) claim names no role of Ariadne")
        }
        let principal = Principal(
            name: claims.string(oidc.userClaim) ?? claims.string("sub") ?? "?", tenant: claims.string(oidc.tenantClaim) ?? "default",
            role: role, teams: claims.strings(oidc.teamsClaim), kind: "jwt")
        return (principal, claims)
    }

    static func base64URLDecode(_ s: String) -> [UInt8]? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map(Array.init)
    }
}

/// Every claim of a token, kept as JSON values: the claim names are configuration.
struct ClaimSet: JWTPayload {
    enum Value: Codable, Sendable {
        case string(String), number(Double), bool(Bool), strings([String]), other

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                self = .string(s)
            } else if let n = try? c.decode(Double.self) {
                self = .number(n)
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let a = try? c.decode([String].self) {
                self = .strings(a)
            } else {
                self = .other
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .string(let s): try c.encode(s)
            case .number(let n): try c.encode(n)
            case .bool(let b): try c.encode(b)
            case .strings(let a): try c.encode(a)
            case .other: try c.encodeNil()
            }
        }
    }

    var claims: [String: Value]

    init(from decoder: any Decoder) throws { claims = try [String: Value](from: decoder) }
    func encode(to encoder: any Encoder) throws { try claims.encode(to: encoder) }

    /// Time claims are checked by the authenticator, against the configured issuer and audience.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    func string(_ k: String) -> String? { if case .string(let s)? = claims[k] { s } else { nil } }
    func number(_ k: String) -> Double? { if case .number(let n)? = claims[k] { n } else { nil } }
    func strings(_ k: String) -> [String] {
        switch claims[k] {
        case .string(let s)?: return [s]
        case .strings(let a)?: return a
        default: return []
        }
    }
}

/// Failed authentications per remote address: after 10 within a minute, the address is refused
/// (429) until the minute is over, so that keys cannot be guessed at network speed.
final class FailureLimiter: Sendable {
    static let limit = 10
    static let window: Double = 60
    private let state = Mutex([String: (start: Double, count: Int)]())

    func isBlocked(_ remote: String) -> Bool {
        let now = Date().timeIntervalSince1970
        return state.withLock { s in
            guard let e = s[remote], now - e.start < Self.window else { return false }
            return e.count >= Self.limit
        }
    }

    func record(_ remote: String) {
        let now = Date().timeIntervalSince1970
        state.withLock { s in
            if s.count > 10_000 { s = s.filter { now - $0.value.start < Self.window } }
            if let e = s[remote], now - e.start < Self.window { s[remote] = (e.start, e.count + 1) } else { s[remote] = (now, 1) }
        }
    }
}

/// A problem found while reading what the configuration file names (a key file, a JWKS).
public struct ConfigLoadError: Error, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { message }

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
}
