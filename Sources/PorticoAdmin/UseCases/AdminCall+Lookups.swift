import PorticoCore
import PorticoStore

/// Loading records of the caller's tenant; anything missing, or hidden from a member, is a 404.
extension AdminCall {
    func requireProduct(_ id: Int64) async throws -> Product {
        guard let p = try await store.find(Product.self, tenantID: tenantID, id: id), principal.mayAccess(productID: p.id) else {
            throw AdminError.notFound
        }
        return p
    }

    func requireProduct(param name: String = "service_id") async throws -> Product {
        try await requireProduct(try id(name))
    }

    func requireBackend(_ id: Int64) async throws -> BackendAPI {
        guard let b = try await store.find(BackendAPI.self, tenantID: tenantID, id: id) else { throw AdminError.notFound }
        return b
    }

    func requireBuyer(_ id: Int64) async throws -> Account {
        guard let a = try await store.find(Account.self, tenantID: tenantID, id: id), a.kind == .buyer else { throw AdminError.notFound }
        return a
    }

    func requirePlan(_ id: Int64, kind: Plan.Kind, productID: Int64? = nil) async throws -> Plan {
        guard let p = try await store.find(Plan.self, tenantID: tenantID, id: id), p.kind == kind else { throw AdminError.notFound }
        if let productID, p.issuerID != productID { throw AdminError.notFound }
        if kind != .account, !principal.mayAccess(productID: p.issuerID) { throw AdminError.notFound }
        return p
    }

    func requireMetric(_ id: Int64, owner: OwnerReference) async throws -> Metric {
        guard let m = try await store.find(Metric.self, tenantID: tenantID, id: id), m.owner == owner else { throw AdminError.notFound }
        return m
    }

    func requireUser(_ id: Int64, accountID: Int64) async throws -> User {
        guard let u = try await store.find(User.self, tenantID: tenantID, id: id), u.accountID == accountID else { throw AdminError.notFound }
        return u
    }

    func requireApplication(_ id: Int64, accountID: Int64) async throws -> ClientApplication {
        guard let a = try await store.find(ClientApplication.self, tenantID: tenantID, id: id), a.accountID == accountID,
            principal.mayAccess(productID: a.productID)
        else { throw AdminError.notFound }
        return a
    }

    /// Products the caller may see, in creation order.
    func visibleProducts() async throws -> [Product] {
        try await store.list(Product.self, tenantID: tenantID).filter { principal.mayAccess(productID: $0.id) }
    }

    /// The tenant's account record as stored (the principal's copy may be stale within a request).
    func currentTenantAccount() async throws -> Account {
        let ownerTenant = tenant.kind == .master ? 0 : environment.masterAccountID
        guard let account = try await store.find(Account.self, tenantID: ownerTenant, id: tenantID) else { throw AdminError.notFound }
        return account
    }

    /// A list response: `{"<collection>": [{"<item root>": {...}}, ...]}`.
    static func collection(_ key: String, _ items: [JSONValue]) -> AdminResponse {
        .json(.object([key: .array(items)]))
    }
}
