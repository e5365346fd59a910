public import AriadnePipeline
import Foundation
public import Yams

/// What a credential may do. Each role includes the ones before it except `ingest`, which only
/// writes spans: `viewer` reads, `editor` also changes settings where they are writable, `admin`
/// may do everything (delete, read the audit log).
public enum Role: String, Sendable, CaseIterable, Comparable {
    case ingest, viewer, editor, admin

    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Whether this role may do what `required` names.
    func allows(_ required: Role) -> Bool {
        if self == .admin { return true }
        if required == .ingest { return self == .ingest }
        return self != .ingest && self >= required
    }
}

/// The `auth` section of the configuration file:
///
/// ```yaml
/// auth:
///   api_keys:
///     - {name: shop-ingest, key_file: keys/shop, tenant: shop, role: ingest}
///     - {name: pay-reader, key_env: PAY_KEY, tenant: shop, role: viewer, teams: [payments]}
///   oidc:
///     issuer: https://idp.example.com
///     audience: ariadne
///     jwks_file: jwks.json
///     claims: {user: email, role: ariadne_role, teams: groups, tenant: org}
///   public_metrics: false
/// ```
/// Files are relative to the configuration file and read at start (``AuthSettings/load``).
public struct AuthSection: ConfigSection {
    public static let key = "auth"

    public struct APIKeySpec: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            case file(String)
            case environment(String)
        }
        public var name: String
        public var source: Source
        public var tenant: String
        public var role: Role
        public var teams: [String]
        public var line: Int
    }

    public struct OIDCSpec: Sendable, Equatable {
        public var issuer: String
        public var audience: String
        /// The keys tokens are signed with: a JWKS file, or a URL fetched (and fetched again
        /// every 10 minutes, or when a token names a key it does not have).
        public var jwksFile: String?
        public var jwksURL: String?
        /// The UI's sign-in (authorization code flow with PKCE) when set; endpoints from the
        /// issuer's discovery document.
        public var clientID: String?
        public var clientSecretFile: String?
        /// Where the provider sends the browser back (default: this server's address as the
        /// browser reached it, `/api/session/oidc/callback`).
        public var redirectURL: String?
        public var scopes = "openid email profile"
        public var line: Int
        /// Claim names for the user, role, teams and tenant.
        public var userClaim = "email"
        public var roleClaim = "ariadne_role"
        public var teamsClaim = "groups"
        public var tenantClaim = "org"
    }

    /// Whether the section was in the file: without it, nothing is authenticated.
    public var enabled = false
    public var apiKeys: [APIKeySpec] = []
    public var oidc: OIDCSpec?
    public var publicMetrics = false
    /// Spans per second each tenant may send (its receivers answer 429 beyond), and the burst.
    public var tenantLimits: [String: (spansPerSecond: Double, burst: Double)] = [:]

    public init() {}

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "auth") else { return nil }
        enabled = true
        var ok = true
        for (k, v) in m {
            switch k.string ?? "" {
            case "api_keys":
                guard let list = v.sequence else {
                    reader.fail(v, "api_keys must be a list")
                    ok = false
                    continue
                }
                for item in list {
                    if let spec = Self.apiKey(item, &reader) { apiKeys.append(spec) } else { ok = false }
                }
            case "oidc":
                if let o = Self.oidc(v, &reader) { oidc = o } else { ok = false }
            case "public_metrics":
                guard let b = v.bool else {
                    reader.fail(v, "public_metrics must be true or false")
                    ok = false
                    continue
                }
                publicMetrics = b
            case "tenant_limits":
                guard let tm = reader.mapping(v, "tenant_limits") else {
                    ok = false
                    continue
                }
                for (tk, tv) in tm {
                    guard let tenant = tk.string, let lm = reader.mapping(tv, "a tenant's limits") else { continue }
                    var rate: Double?, burst: Double?
                    for (lk, lv) in lm {
                        let n = lv.float ?? lv.int.map(Double.init)
                        switch lk.string ?? "" {
                        case "spans_per_second": rate = n
                        case "burst": burst = n
                        default: reader.unknownKey(lk, in: "a tenant's limits", expected: "spans_per_second, burst")
                        }
                    }
                    guard let rate, rate > 0 else {
                        reader.fail(tv, "a tenant's limits need spans_per_second > 0")
                        ok = false
                        continue
                    }
                    tenantLimits[tenant] = (rate, max(burst ?? rate, 1))
                }
            default: reader.unknownKey(k, in: "auth", expected: "api_keys, oidc, public_metrics, tenant_limits")
            }
        }
        let names = apiKeys.map(\.name)
        if Set(names).count != names.count {
            reader.fail(node, "api key names must be different")
            ok = false
        }
        if apiKeys.isEmpty && oidc == nil {
            reader.fail(node, "auth needs api_keys and/or oidc: without a credential nothing could be reached")
            ok = false
        }
        if !ok { return nil }
    }

    static func apiKey(_ node: Node, _ reader: inout ConfigReader) -> APIKeySpec? {
        guard let m = reader.mapping(node, "an api key") else { return nil }
        var name: String?, source: APIKeySpec.Source?, tenant = "default", role: Role?, teams = [String]()
        for (k, v) in m {
            switch k.string ?? "" {
            case "name": name = v.string
            case "key_file": source = v.string.map { .file($0) }
            case "key_env": source = v.string.map { .environment($0) }
            case "tenant":
                tenant = v.string ?? ""
                if let problem = TenantName.problem(tenant) { reader.fail(v, "tenant '\(tenant)': \(problem)") }
            case "role":
                role = v.string.flatMap(Role.init(rawValue:))
                if role == nil { reader.fail(v, "role must be ingest, viewer, editor or admin") }
            case "teams": teams = reader.strings(v, "teams") ?? []
            default: reader.unknownKey(k, in: "an api key", expected: "name, key_file, key_env, tenant, role, teams")
            }
        }
        guard let name, !name.isEmpty, let source, let role, !tenant.isEmpty else {
            reader.fail(node, "an api key needs name, key_file or key_env, role (and a non-empty tenant)")
            return nil
        }
        return APIKeySpec(name: name, source: source, tenant: tenant, role: role, teams: teams, line: node.mark?.line ?? 1)
    }

    static func oidc(_ node: Node, _ reader: inout ConfigReader) -> OIDCSpec? {
        guard let m = reader.mapping(node, "oidc") else { return nil }
        var issuer: String?, audience: String?, jwks: String?, jwksURL: String?
        var clientID: String?, clientSecretFile: String?, redirectURL: String?, scopes: String?
        var claims = [String: String]()
        for (k, v) in m {
            switch k.string ?? "" {
            case "issuer": issuer = v.string
            case "audience": audience = v.string
            case "jwks_file": jwks = v.string
            case "jwks_url": jwksURL = v.string
            case "client_id": clientID = v.string
            case "client_secret_file": clientSecretFile = v.string
            case "redirect_url": redirectURL = v.string
            case "scopes": scopes = v.string
            case "claims":
                guard let cm = reader.mapping(v, "claims") else { continue }
                for (ck, cv) in cm {
                    let key = ck.string ?? ""
                    guard ["user", "role", "teams", "tenant"].contains(key), let claim = cv.string else {
                        reader.unknownKey(ck, in: "claims", expected: "user, role, teams, tenant")
                        continue
                    }
                    claims[key] = claim
                }
            default:
                reader.unknownKey(
                    k, in: "oidc", expected: "issuer, audience, jwks_file, jwks_url, client_id, client_secret_file, redirect_url, scopes, claims")
            }
        }
        guard let issuer, let audience, (jwks == nil) != (jwksURL == nil) else {
            reader.fail(node, "oidc needs issuer, audience and one of jwks_file or jwks_url")
            return nil
        }
        for url in [issuer, jwksURL, redirectURL].compactMap({ $0 }) where !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            reader.fail(node, "oidc: \(url) must be an http:// or https:// URL")
            return nil
        }
        var o = OIDCSpec(
            issuer: issuer, audience: audience, jwksFile: jwks, jwksURL: jwksURL, clientID: clientID, clientSecretFile: clientSecretFile,
            redirectURL: redirectURL, line: node.mark?.line ?? 1)
        if let scopes { o.scopes = scopes }
        if let c = claims["user"] { o.userClaim = c }
        if let c = claims["role"] { o.roleClaim = c }
        if let c = claims["teams"] { o.teamsClaim = c }
        if let c = claims["tenant"] { o.tenantClaim = c }
        return o
    }
}

/// The `audit` section: `audit: {file: audit.log}` (relative to the configuration file).
public struct AuditSection: ConfigSection {
    public static let key = "audit"
    public var file: String?

    public init() {}

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "audit") else { return nil }
        for (k, v) in m {
            switch k.string ?? "" {
            case "file":
                guard let f = v.string, !f.isEmpty else {
                    reader.fail(v, "audit.file must be a path")
                    return nil
                }
                file = f
            default: reader.unknownKey(k, in: "audit", expected: "file")
            }
        }
    }
}
