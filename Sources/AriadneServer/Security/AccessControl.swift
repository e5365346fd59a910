import AriadnePipeline
import AriadneWire
import Foundation
import GRPCCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context of every HTTP listener: Hummingbird's, plus the peer's address (for the
/// failed-attempt limit and the audit log) and, once authenticated, who is asking.
struct AriadneRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    var principal: Principal?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Authentication, authorization and the audit trail of one HTTP listener: every request but
/// the open ones needs a credential of a role that allows it (401 without one, 403 with the wrong
/// role, 429 after too many failures from one address); trace reads, searches, analyses and admin
/// actions, and every failure, are written to the audit log.
struct AccessControl: RouterMiddleware {
    typealias Context = AriadneRequestContext

    let authenticator: Authenticator
    /// The UI's sessions: a signed-in browser sends the cookie instead of a credential.
    let sessions: SessionStore?
    let audit: AuditLog?
    /// Whether reads and admin actions are recorded (the query port), not only failures.
    let auditsActions: Bool
    /// The role a request needs; nil: open (health, the UI's static files).
    let requirement: @Sendable (Request) -> Role?

    /// The query port: `/health` and the UI's files are open (they carry no data, and the login
    /// page needs them); `/metrics` too with `public_metrics`; `/api/admin/...` needs admin;
    /// everything else viewer.
    static func queryRequirement(publicMetrics: Bool) -> @Sendable (Request) -> Role? {
        { request in
            let path = request.uri.path
            if path == "/health" || path == "/" || path == "/search" || path.hasPrefix("/ui/") || path.hasPrefix("/trace/") { return nil }
            // Signing in and out: the session routes check the credential themselves.
            if path == "/api/session" || path.hasPrefix("/api/session/") { return nil }
            if path == "/metrics" && publicMetrics { return nil }
            if path.hasPrefix("/api/admin/") { return .admin }
            return .viewer
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let required = requirement(request) else { return try await next(request, context) }
        let remote = context.remoteAddress?.ipAddress ?? "?"
        // An admin reading another tenant says so in the record.
        let target =
            request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            + (request.headers[Ingestor.tenantHeader].map { " (X-Scope-OrgID: \($0))" } ?? "")
        let principal: Principal
        do throws(AuthFailure) {
            if request.headers[.authorization] == nil, let sessions, let token = SessionStore.token(in: request.headers[.cookie]) {
                guard let p = sessions.principal(token) else {
                    throw AuthFailure(status: .unauthenticated, message: "the session has ended: sign in again")
                }
                // CSRF: a cookie goes with any request the browser makes; a custom header only with
                // our own scripts' (another site's form or image cannot set it).
                if request.method != .get && request.method != .head && request.headers[Self.csrfHeader] != "ariadne" {
                    throw AuthFailure(status: .forbidden, message: "a signed-in change needs the X-Requested-With: ariadne header")
                }
                principal = p
            } else {
                principal = try await authenticator.authenticate(authorization: request.headers[.authorization], remote: remote)
            }
        } catch {
            record(nil, action: "auth.failure", target: target, result: error.message, remote: remote, context: context)
            return Self.refusal(error)
        }
        guard principal.role.allows(required) else {
            record(principal, action: "auth.forbidden", target: target, result: "403", remote: remote, context: context)
            return Self.refusal(
                AuthFailure(status: .forbidden, message: "role \(principal.role.rawValue) may not do this: it needs \(required.rawValue)"))
        }
        var context = context
        context.principal = principal
        let action = auditsActions ? Self.auditedAction(request) : nil
        do {
            let response = try await next(request, context)
            if let action {
                record(principal, action: action, target: target, result: String(response.status.code), remote: remote, context: context)
            }
            return response
        } catch {
            if let action {
                let status = (error as? any HTTPResponseError)?.status.code ?? 500
                record(principal, action: action, target: target, result: String(status), remote: remote, context: context)
            }
            throw error
        }
    }

    /// What the audit log calls a request, or nil for one it does not record (lists of services
    /// and operations, the UI's settings).
    static func auditedAction(_ request: Request) -> String? {
        let parts = request.uri.path.split(separator: "/")
        guard parts.count >= 2, parts[0] == "api" else { return nil }
        switch parts[1] {
        case "admin": return "admin." + (parts.count > 2 ? String(parts[2]) : "?")
        case "traces", "search": return parts.count > 2 ? "trace.read" : "trace.search"
        case "v3" where parts.count > 2 && parts[2] == "traces": return parts.count > 3 ? "trace.read" : "trace.search"
        case "analysis":
            if parts.count > 2 && parts[2] == "traces" { return parts.count > 3 ? "trace.read" : "trace.search" }
            if parts.count > 2 && parts[2] == "compare" { return "trace.compare" }
            return "analysis"
        case "metrics": return "analysis"
        default: return nil
        }
    }

    func record(_ p: Principal?, action: String, target: String, result: String, remote: String, context: Context) {
        audit?.record(
            AuditLog.Entry(
                principal: p?.name ?? "", tenant: p?.tenant ?? "", role: p?.role.rawValue ?? "", action: action,
                target: String(target.prefix(4096)), result: result, remote: remote, requestID: context.id))
    }

    static let csrfHeader = HTTPField.Name("X-Requested-With")!

    /// The refusal in the query API's own error shape (`{"error": {"httpCode", "message"}}`).
    static func refusal(_ failure: AuthFailure) -> Response {
        switch failure.status {
        case .unauthenticated:
            var r = QueryAPI.v3Error(.unauthorized, failure.message)
            r.headers[.wwwAuthenticate] = "Bearer realm=\"ariadne\""
            return r
        case .forbidden: return QueryAPI.v3Error(.forbidden, failure.message)
        case .throttled:
            var r = QueryAPI.v3Error(.tooManyRequests, failure.message)
            r.headers[.retryAfter] = "60"
            return r
        }
    }
}

extension Authenticator {
    /// The gRPC receivers' check: the `authorization` metadata must carry an ingest credential.
    /// Returns the credential's tenant.
    func checkIngest(_ metadata: Metadata, remote: String) async throws(RPCError) -> String {
        let value = metadata[stringValues: "authorization"].first { _ in true }
        do throws(AuthFailure) {
            let p = try await authenticate(authorization: value, remote: remote)
            guard p.role.allows(.ingest) else { throw AuthFailure(status: .forbidden, message: "role \(p.role.rawValue) may not write spans") }
            return p.tenant
        } catch {
            switch error.status {
            case .unauthenticated: throw RPCError(code: .unauthenticated, message: error.message)
            case .forbidden: throw RPCError(code: .permissionDenied, message: error.message)
            case .throttled: throw RPCError(code: .unavailable, message: error.message)
            }
        }
    }
}

/// `GET /api/admin/audit?limit=N`: the newest lines of the audit log (admins only, as every
/// `/api/admin/` route).
struct AuditRoutes {
    let log: AuditLog

    func addRoutes(to router: Router<AriadneRequestContext>) {
        router.get("/api/admin/audit") { request, _ -> Response in
            let limit = min(max(Int(request.uri.queryParameters["limit"] ?? "") ?? 100, 1), 10_000)
            let lines = log.tail(limit)
            // Each line is already a JSON object.
            return QueryAPI.json { w in
                w.beginArray()
                for line in lines { w.raw(line) }
                w.endArray()
            }
        }
    }
}
