import Testing

@testable import AriadneServer

/// Tenant names become directory and database names: nothing a tenant is called may reach a path
/// or SQL as written, and two tenants never share a name on disk.
@Suite struct TenancyTests {
    @Test func namesOnDiskAreSafeDistinctAndReversible() {
        let tenants = ["shop", "Shop", "team-a", "team_a", "../../etc", "a b", "x'; DROP TABLE y; --", "ünï", "_2d"]
        let encoded = tenants.map(TenantName.encode)
        #expect(Set(encoded).count == tenants.count)
        for (t, e) in zip(tenants, encoded) {
            #expect(e.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "_") }, "\(e)")
            #expect(TenantName.decode(e) == t)
        }
        #expect(TenantName.encode("team-a") == "team_2da")
        #expect(TenantName.decode("team_2") == nil && TenantName.decode("Shop") == nil && TenantName.decode("_zz") == nil)
    }

    @Test func tenantNamesAreBounded() {
        #expect(TenantName.problem("shop") == nil && TenantName.problem("org:42/eu") == nil)
        for bad in ["", String(repeating: "x", count: 65), "a b", "tab\there", "ünï"] { #expect(TenantName.problem(bad) != nil, "\(bad)") }
    }
}
