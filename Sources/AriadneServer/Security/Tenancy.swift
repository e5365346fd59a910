public import AriadnePipeline
import AriadneQuery
import HTTPTypes
import Hummingbird
public import Yams

/// The `teams` section: which services each team's readers see.
///
/// ```yaml
/// teams:
///   payments: {services: [checkout, "payment*"]}
/// ```
public struct TeamsSection: ConfigSection {
    public static let key = "teams"
    /// Team → service names or patterns (`*` for any run of characters).
    public var services: [String: [String]] = [:]

    public init() {}

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "teams") else { return nil }
        for (k, v) in m {
            guard let team = k.string, !team.isEmpty, let tm = reader.mapping(v, "a team") else { return nil }
            var list: [String]?
            for (tk, tv) in tm {
                switch tk.string ?? "" {
                case "services": list = reader.strings(tv, "a team's services")
                default: reader.unknownKey(tk, in: "a team", expected: "services")
                }
            }
            guard let list, !list.isEmpty, list.allSatisfy({ !$0.isEmpty }) else {
                reader.fail(v, "team \(team) needs services: a list of service names or patterns")
                return nil
            }
            services[team] = list
        }
    }

    /// What a principal sees: every service for an admin or a credential without teams (nil);
    /// else the services of its teams that the section names — none when it names none of them,
    /// so that an unknown group never widens what a reader sees.
    func visibility(of principal: Principal?) -> ServiceVisibility? {
        guard let principal, principal.role != .admin, !principal.teams.isEmpty else { return nil }
        return ServiceVisibility(patterns: principal.teams.flatMap { services[$0] ?? [] })
    }
}

/// The `tenancy` section: without `auth`, `header_trusted: true` lets the `X-Scope-OrgID` header
/// name the tenant of a request, as Tempo does behind a proxy that sets it. With `auth` the
/// tenant is always the credential's (an admin may name another in the header to read it).
public struct TenancySection: ConfigSection {
    public static let key = "tenancy"
    public var headerTrusted = false

    public init() {}

    public init?(reading node: Node, with reader: inout ConfigReader) {
        guard let m = reader.mapping(node, "tenancy") else { return nil }
        for (k, v) in m {
            switch k.string ?? "" {
            case "header_trusted":
                guard let b = v.bool else {
                    reader.fail(v, "tenancy.header_trusted must be true or false")
                    return nil
                }
                headerTrusted = b
            default: reader.unknownKey(k, in: "tenancy", expected: "header_trusted")
            }
        }
    }
}

/// What a query request may see: its tenant's space, through the query service scoped to its
/// teams. Bound for the request by ``TenantScoping``; the query routes read it.
struct RequestScope: Sendable {
    let space: TenantSpace
    let queries: TraceQueryService
    /// Whether the node's own metrics (receivers, pipeline, stores: every tenant's traffic) are
    /// shown: to admins, and where nobody signs in.
    let seesNode: Bool

    @TaskLocal static var current: RequestScope?
}

/// Picks the tenant of each query request and binds its ``RequestScope``: the credential's
/// tenant; an admin's `X-Scope-OrgID` names another; without `auth`, the header only when
/// `tenancy.header_trusted`, else the default tenant. A non-admin naming another tenant is 403.
struct TenantScoping: RouterMiddleware {
    typealias Context = AriadneRequestContext
    let spaces: TenantSpaces
    let teams: TeamsSection
    let headerTrusted: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/") || path == "/metrics" else { return try await next(request, context) }
        let named = request.headers[Ingestor.tenantHeader]
        var tenant = context.principal?.tenant ?? TenantName.default
        if let named, named != tenant {
            if let p = context.principal {
                guard p.role == .admin else {
                    return QueryAPI.v3Error(.forbidden, "X-Scope-OrgID: role \(p.role.rawValue) may read only its own tenant (\(p.tenant))")
                }
                tenant = named
            } else if headerTrusted {
                tenant = named
            }
        }
        if let problem = TenantName.problem(tenant) { return QueryAPI.v3Error(.badRequest, "X-Scope-OrgID: \(problem)") }
        let space: TenantSpace
        do { space = try await spaces.space(tenant) } catch {
            var r = QueryAPI.v3Error(.serviceUnavailable, "the store of tenant \(tenant) cannot be opened: \(error)")
            r.headers[.retryAfter] = "5"
            return r
        }
        let scope = RequestScope(
            space: space, queries: space.queries.scoped(to: teams.visibility(of: context.principal)),
            seesNode: context.principal.map { $0.role == .admin } ?? true)
        return try await RequestScope.$current.withValue(scope) { try await next(request, context) }
    }
}

/// The RED and service-graph series on `/metrics`: the asking tenant's, and of those only the
/// services their teams see.
struct ScopedAnalyticsMetrics: MetricsSource {
    let home: Analytics

    func collect(into out: inout PrometheusExposition) {
        let scope = RequestScope.current
        (scope?.space.analytics ?? home).collect(into: &out, visibility: scope?.queries.visibility)
    }
}

/// A source of the node's own metrics on `/metrics`: left out for a reader who is not an admin,
/// since they count every tenant's spans.
struct NodeMetrics: MetricsSource {
    let source: any MetricsSource

    func collect(into out: inout PrometheusExposition) {
        if RequestScope.current?.seesNode ?? true { source.collect(into: &out) }
    }
}
