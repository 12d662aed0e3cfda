import PorticoCore
import PorticoStore

/// The behaviour every `RecordStore` must have, checked the same way against the in-memory,
/// SQLite and PostgreSQL stores. Each check throws `ConformanceFailure` naming what differed.
public enum RecordStoreConformance {
    public struct ConformanceFailure: Error, CustomStringConvertible {
        public let description: String
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }

    public static let checks: [(String, @Sendable (any RecordStore) async throws -> Void)] = [
        ("insert assigns increasing ids and find returns the record", insertAndFind),
        ("update replaces data and fails for another tenant", updateIsTenantConfined),
        ("delete removes only within the tenant", deleteIsTenantConfined),
        ("lists filter by scope and lookup key, in id order, with pages", listing),
        ("an empty page past the end", pagePastTheEnd),
        ("counts match listings", counting),
        ("lookup across tenants finds credentials only by key", acrossTenants),
        ("a failed transaction leaves nothing behind", rollback),
        ("a committed transaction keeps every write", commit),
        ("text survives byte for byte", textFidelity),
        ("find many by ids skips missing and foreign ids", findMany),
    ]

    static let now = Timestamp(secondsSinceEpoch: 1_700_000_000)

    /// Tenants are chosen high and random-ish per run so repeated runs against one database do not collide.
    static func tenants() -> (Int64, Int64) {
        let base = Int64.random(in: 1_000_000...9_000_000_000)
        return (base, base + 1)
    }

    static func insertAndFind(_ store: any RecordStore) async throws {
        let (t, _) = tenants()
        let a = try await store.insert(BackendAPI(tenantID: t, name: "A", systemName: "a", description: nil, privateEndpoint: "http://a:80", now: now))
        let b = try await store.insert(BackendAPI(tenantID: t, name: "B", systemName: "b", description: "d", privateEndpoint: "http://b:80", now: now))
        try expect(a.id > 0 && b.id > a.id, "ids must be positive and increasing, got \(a.id), \(b.id)")
        let found = try await store.find(BackendAPI.self, tenantID: t, id: b.id)
        try expect(found == b, "find returned \(String(describing: found)) instead of \(b)")
        try expect(try await store.find(BackendAPI.self, tenantID: t, id: b.id + 1_000_000) == nil, "a missing id must be nil")
    }

    static func updateIsTenantConfined(_ store: any RecordStore) async throws {
        let (t, other) = tenants()
        var p = try await store.insert(Plan(tenantID: t, kind: .account, issuerID: t, name: "Default", systemName: "default", now: now))
        p.name = "Renamed"
        try await store.update(p)
        try expect(try await store.find(Plan.self, tenantID: t, id: p.id)?.name == "Renamed", "update was not kept")
        var foreign = p
        foreign = Plan(tenantID: other, kind: .account, issuerID: other, name: "Hijack", systemName: "x", now: now)
        foreign.id = p.id
        var threw = false
        do { try await store.update(foreign) } catch { threw = true }
        try expect(threw, "updating another tenant's row must fail")
        try expect(try await store.find(Plan.self, tenantID: t, id: p.id)?.name == "Renamed", "another tenant changed the row")
    }

    static func deleteIsTenantConfined(_ store: any RecordStore) async throws {
        let (t, other) = tenants()
        let doc = try await store.insert(ActiveDoc(tenantID: t, productID: nil, name: "n", systemName: "n", body: "{}", now: now))
        try expect(try await store.delete(ActiveDoc.self, tenantID: other, id: doc.id) == false, "delete crossed tenants")
        try expect(try await store.find(ActiveDoc.self, tenantID: t, id: doc.id) != nil, "row vanished after a foreign delete")
        try expect(try await store.delete(ActiveDoc.self, tenantID: t, id: doc.id), "delete of an existing row must report true")
        try expect(try await store.find(ActiveDoc.self, tenantID: t, id: doc.id) == nil, "row still there after delete")
        try expect(try await store.delete(ActiveDoc.self, tenantID: t, id: doc.id) == false, "second delete must report false")
    }

    static func listing(_ store: any RecordStore) async throws {
        let (t, other) = tenants()
        var ids: [Int64] = []
        for i in 0..<5 {
            let m = Metric(tenantID: t, owner: i < 3 ? .product(1) : .backend(1), parentID: nil, systemName: "m\(i)", friendlyName: "M\(i)", unit: "hit",
                           description: nil, now: now)
            ids.append(try await store.insert(m).id)
        }
        _ = try await store.insert(Metric(tenantID: other, owner: .product(1), parentID: nil, systemName: "x", friendlyName: "X", unit: "hit",
                                          description: nil, now: now))
        let all = try await store.list(Metric.self, tenantID: t)
        try expect(all.map(\.id) == ids, "listing must be every row of the tenant in id order, got \(all.map(\.id))")
        let product = try await store.list(Metric.self, tenantID: t, scope: RecordScope.product(1))
        try expect(product.map(\.systemName) == ["m0", "m1", "m2"], "scope filter returned \(product.map(\.systemName))")
        let page2 = try await store.list(Metric.self, tenantID: t, page: PageRequest(page: 2, perPage: 2))
        try expect(page2.map(\.systemName) == ["m2", "m3"], "page 2 returned \(page2.map(\.systemName))")
        let plans = [
            try await store.insert(Plan(tenantID: t, kind: .application, issuerID: 1, name: "a", systemName: "a", now: now)),
            try await store.insert(Plan(tenantID: t, kind: .service, issuerID: 1, name: "s", systemName: "s", now: now)),
        ]
        let byKey = try await store.list(Plan.self, tenantID: t, scope: RecordScope.product(1), lookupKey: Plan.Kind.service.rawValue)
        try expect(byKey.map(\.id) == [plans[1].id], "lookup key filter returned \(byKey.map(\.id))")
    }

    static func pagePastTheEnd(_ store: any RecordStore) async throws {
        let (t, _) = tenants()
        _ = try await store.insert(FieldsDefinition(tenantID: t, target: "Account", name: "a", label: "A", required: false, position: 1, now: now))
        let page = try await store.list(FieldsDefinition.self, tenantID: t, page: PageRequest(page: 3, perPage: 500))
        try expect(page.isEmpty, "a page past the end must be empty")
    }

    static func counting(_ store: any RecordStore) async throws {
        let (t, _) = tenants()
        for i in 0..<4 {
            _ = try await store.insert(UsageLimit(tenantID: t, planID: Int64(i % 2), metricID: 1, period: .day, value: 1, now: now))
        }
        try expect(try await store.count(UsageLimit.self, tenantID: t) == 4, "count of the tenant")
        try expect(try await store.count(UsageLimit.self, tenantID: t, scope: RecordScope.plan(0)) == 2, "count within a scope")
    }

    static func acrossTenants(_ store: any RecordStore) async throws {
        let (t, other) = tenants()
        let digest = "digest-\(t)"
        let token = try await store.insert(AccessToken(tenantID: other, userID: 1, name: "n", scopes: ["stats"], permission: .ro, expiresAt: nil,
                                                       valueDigest: digest, now: now))
        let found = try await store.findAcrossTenants(AccessToken.self, lookupKey: digest)
        try expect(found.map(\.id) == [token.id], "lookup across tenants returned \(found.map(\.id))")
        try expect(try await store.list(AccessToken.self, tenantID: t).isEmpty, "the token leaked into another tenant's listing")
    }

    struct Deliberate: Error {}

    static func rollback(_ store: any RecordStore) async throws {
        let (t, _) = tenants()
        do {
            _ = try await store.withTransaction { tx -> Int in
                _ = try await tx.insert(Feature(tenantID: t, featurableID: t, name: "f", systemName: "f", description: nil, scope: "account_plan", now: now))
                throw Deliberate()
            }
        } catch is Deliberate {}
        try expect(try await store.list(Feature.self, tenantID: t).isEmpty, "a rolled-back insert is visible")
    }

    static func commit(_ store: any RecordStore) async throws {
        let (t, _) = tenants()
        let ids = try await store.withTransaction { tx -> [Int64] in
            let a = try await tx.insert(Feature(tenantID: t, featurableID: t, name: "a", systemName: "a", description: nil, scope: "account_plan", now: now))
            let b = try await tx.insert(Feature(tenantID: t, featurableID: t, name: "b", systemName: "b", description: nil, scope: "account_plan", now: now))
            try expect(try await tx.list(Feature.self, tenantID: t).count == 2, "a transaction must see its own writes")
            return [a.id, b.id]
        }
        try expect(try await store.list(Feature.self, tenantID: t).map(\.id) == ids, "committed rows are missing")
    }

    static func textFidelity(_ store: any RecordStore) async throws {
        let (t, _) = tenants()
        let body = "\n  {\"emoji\":\"🚀\",\"quote\":\"\\\"\",\"nul\":\"\\u0000\",\"tab\":\"\t\"}  \r\n"
        let doc = try await store.insert(ActiveDoc(tenantID: t, productID: 3, name: "n'; DROP TABLE x; --", systemName: "s", body: body, now: now))
        let found = try await store.find(ActiveDoc.self, tenantID: t, id: doc.id)
        try expect(found?.body == body && found?.name == doc.name, "text changed in storage")
    }

    static func findMany(_ store: any RecordStore) async throws {
        let (t, other) = tenants()
        let a = try await store.insert(ServiceSubscription(tenantID: t, accountID: 1, productID: 1, planID: 1, state: "live", now: now))
        let b = try await store.insert(ServiceSubscription(tenantID: other, accountID: 1, productID: 1, planID: 1, state: "live", now: now))
        let found = try await store.find(ServiceSubscription.self, tenantID: t, ids: [a.id, b.id, a.id + 10_000_000])
        try expect(found.map(\.id) == [a.id], "find many returned \(found.map(\.id))")
    }
}
