import PorticoCore
import PorticoStore

/// Everything a handler needs for one admin API call: who is calling, on which tenant, with what.
struct AdminCall: Sendable {
    let method: String
    let pathParameters: [String: String]
    let params: Parameters
    let principal: Principal
    let store: any RecordStore
    let environment: AdminEnvironment
    let representer: Representer
    let now: Timestamp

    var tenant: Account { principal.tenant }
    var tenantID: Int64 { principal.tenant.id }
    var settings: AdminSettings { environment.settings }

    /// A numeric path parameter; anything else is a 404, as in porta.
    func id(_ name: String) throws -> Int64 {
        guard let raw = pathParameters[name], let value = Int64(raw) else { throw AdminError.notFound }
        return value
    }

    func path(_ name: String) -> String { pathParameters[name] ?? "" }

    /// A copy with another store, for running a handler's work inside a transaction.
    func with(store: any RecordStore) -> AdminCall {
        AdminCall(method: method, pathParameters: pathParameters, params: params, principal: principal, store: store,
                  environment: environment, representer: representer, now: now)
    }

    func unwrapped(_ wrapper: String) throws -> Parameters { try params.unwrapping(wrapper) }

    /// Runs `body` atomically against the store.
    func transaction<T: Sendable>(_ body: @Sendable @escaping (AdminCall) async throws -> T) async throws -> T {
        let call = self
        return try await store.withTransaction { txStore in try await body(call.with(store: txStore)) }
    }
}

/// The caller of an admin API request.
struct Principal: Sendable {
    /// The provider (or the master) whose data the call works on.
    var tenant: Account
    /// Nil when authenticated by provider key: the account itself, with every right.
    var user: User?
    var token: AccessToken?

    /// Whether a member user is limited to some products; admins and provider keys see all.
    func mayAccess(productID: Int64) -> Bool {
        guard let user, user.role == .member, let allowed = user.allowedServiceIDs else { return true }
        return allowed.contains(productID)
    }
}
