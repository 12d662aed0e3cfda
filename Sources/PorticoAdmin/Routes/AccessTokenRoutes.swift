import PorticoCore
import PorticoStore

/// `/admin/api/personal/access_tokens`: the calling user's own tokens.
enum AccessTokenRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/personal/access_tokens", area: .personal) { call in
            var tokens = try await call.store.list(AccessToken.self, tenantID: call.tenantID, scope: RecordScope.user(try user(call).id))
            if let name = call.params.nonEmpty("name") { tokens = tokens.filter { $0.name.contains(name) } }
            return AdminCall.collection("access_tokens", tokens.map { call.representer.accessToken($0) })
        }
        r.post("/admin/api/personal/access_tokens", area: .personal) { call in
            let (token, value) = try await create(call, user: try user(call), params: try call.unwrapped("token"))
            return .created(call.representer.accessToken(token, value: value))
        }
        r.get("/admin/api/personal/access_tokens/:id", area: .personal) { call in
            .json(call.representer.accessToken(try await find(call)))
        }
        r.delete("/admin/api/personal/access_tokens/:id", area: .personal) { call in
            let token = try await find(call)
            try await call.store.delete(AccessToken.self, tenantID: call.tenantID, id: token.id)
            return .deleted
        }
    }

    static func user(_ call: AdminCall) throws -> User {
        guard let user = call.principal.user else { throw AdminError(.accessDenied) }
        return user
    }

    /// By id, or by the token value itself (porta accepts both).
    static func find(_ call: AdminCall) async throws -> AccessToken {
        let owner = try user(call)
        let key = call.path("id")
        let tokens = try await call.store.list(AccessToken.self, tenantID: call.tenantID, scope: RecordScope.user(owner.id))
        if let id = Int64(key), let token = tokens.first(where: { $0.id == id }) { return token }
        let digest = Secrets.tokenDigest(key)
        guard let token = tokens.first(where: { constantTimeEquals($0.valueDigest, digest) }) else { throw AdminError.notFound }
        return token
    }

    static func create(_ call: AdminCall, user: User, params: Parameters) async throws -> (AccessToken, String) {
        var errors = ValidationErrors()
        let name = params.nonEmpty("name")
        if name == nil { errors.add("name", "can't be blank") }
        let permission = params.nonEmpty("permission").flatMap(AccessToken.Permission.init(rawValue:))
        if permission == nil { errors.add("permission", "is not included in the list") }
        let scopes = params.stringArray("scopes") ?? []
        if scopes.isEmpty { errors.add("scopes", "can't be blank") }
        let valid = call.tenant.kind == .master ? ["account_management"] : AccessToken.allScopes
        if scopes.contains(where: { !valid.contains($0) }) { errors.add("scopes", "invalid") }
        var expiresAt: Timestamp?
        if let text = params.nonEmpty("expires_at") {
            if let t = Timestamp(iso8601: text), t > call.now { expiresAt = t } else { errors.add("expires_at", "must be a time in the future") }
        }
        try errors.throwIfAny()
        let value = Secrets.newAccessTokenValue()
        let token = try await call.store.insert(AccessToken(tenantID: call.tenantID, userID: user.id, name: name ?? "", scopes: scopes,
                                                            permission: permission ?? .ro, expiresAt: expiresAt,
                                                            valueDigest: Secrets.tokenDigest(value), now: call.now))
        return (token, value)
    }
}
