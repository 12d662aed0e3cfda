import PorticoCore
import PorticoStore

/// Turns a request's Host and credential into a `Principal`, enforcing reference/admin-api.md §2.
struct Authenticator: Sendable {
    let environment: AdminEnvironment

    struct Credentials {
        var accessToken: String?
        var providerKey: String?
        var basic: [String] = []
    }

    static func credentials(params: Parameters, authorization: String?, area: RouteArea) -> Credentials {
        var c = Credentials()
        c.accessToken = params.nonEmpty("access_token")
        c.providerKey = params.nonEmpty(area.isMaster ? "api_key" : "provider_key") ?? params.nonEmpty("provider_key")
        if let header = authorization, header.lowercased().hasPrefix("basic "),
            let decoded = Base64.decode(String(header.dropFirst(6)).trimmingSpaces)
        {
            let text = String(decoding: decoded, as: UTF8.self)
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            c.basic = parts.filter { !$0.isEmpty }
        } else if let header = authorization, header.lowercased().hasPrefix("bearer ") {
            c.accessToken = c.accessToken ?? String(header.dropFirst(7)).trimmingSpaces
        }
        return c
    }

    func authenticate(host: String?, credentials: Credentials, area: RouteArea, method: String) async throws -> Principal {
        let hostKind = environment.settings.classify(host: host)
        let failure: AdminError = area.isMaster ? AdminError(.masterUnauthorized) : AdminError(.accessDenied)

        if case .developerPortal = hostKind { throw AdminError(area.isMaster ? .forbiddenEmpty : .accessDenied) }
        if area.isMaster, case .tenantAdmin = hostKind { throw AdminError(.forbiddenEmpty) }

        var principal: Principal?
        var tokenCandidates: [String] = credentials.accessToken.map { [$0] } ?? []
        var keyCandidates: [String] = credentials.providerKey.map { [$0] } ?? []
        // HTTP Basic carries either an access token or a provider key, in the user or the password part.
        tokenCandidates += credentials.basic
        keyCandidates += credentials.basic
        for value in tokenCandidates where principal == nil {
            principal = try await principalForToken(value)
        }
        if principal == nil, !(area.isPersonal) {
            for value in keyCandidates where principal == nil {
                principal = try await principalForProviderKey(value)
            }
        }
        guard let principal else { throw failure }

        // The Host, when it names a tenant, must be the credential's tenant.
        switch hostKind {
        case .master:
            guard principal.tenant.kind == .master else { throw failure }
        case .tenantAdmin(let subdomain):
            guard principal.tenant.kind == .provider, principal.tenant.subdomain == subdomain else { throw failure }
        case .neutral, .developerPortal:
            break
        }
        if area.isMaster, principal.tenant.kind != .master { throw failure }
        if !area.isMaster, principal.tenant.state == .suspended || principal.tenant.state == .scheduledForDeletion {
            throw AdminError(.forbiddenEmpty)
        }
        if area.isPersonal, principal.user == nil { throw AdminError(.accessDenied) }
        try authorize(principal, area: area, method: method)
        return principal
    }

    /// Scope and ro/rw checks of access tokens, and member section rights.
    func authorize(_ principal: Principal, area: RouteArea, method: String) throws {
        guard let token = principal.token else { return }
        let required: Set<String>
        switch area {
        case .tenant(let scopes): required = scopes
        case .master: required = AdminRouter.accountManagement
        case .personal, .gatewayConfiguration: required = []
        }
        if !required.isEmpty {
            var usable = Set(token.scopes).intersection(required)
            if let user = principal.user, user.role == .member {
                let sections = Set(user.allowedSections ?? [])
                usable = usable.filter { scope in Authenticator.sectionForScope[scope].map { sections.contains($0) } ?? false }
            }
            if usable.isEmpty { throw AdminError(.insufficientPermissions) }
        }
        let writes = !["GET", "HEAD"].contains(method)
        if writes, token.permission == .ro { throw AdminError(.insufficientPermissions) }
    }

    /// Which member section grants each scope (porta's `AccessToken` scopes <- `AdminSection`).
    static let sectionForScope = [
        "account_management": "partners", "stats": "monitoring", "cms": "portal", "finance": "finance", "policy_registry": "policy_registry",
    ]

    private func principalForToken(_ value: String) async throws -> Principal? {
        let digest = Secrets.tokenDigest(value)
        let store = environment.store
        for token in try await store.findAcrossTenants(AccessToken.self, lookupKey: digest) {
            guard constantTimeEquals(token.valueDigest, digest) else { continue }
            if let expiry = token.expiresAt, expiry <= environment.clock() { continue }
            guard let user = try await store.find(User.self, tenantID: token.tenantID, id: token.userID), user.state != .suspended,
                let tenant = try await tenantAccount(id: token.tenantID)
            else { continue }
            guard user.accountID == tenant.id else { continue }  // tokens of buyer users are not admin credentials
            return Principal(tenant: tenant, user: user, token: token)
        }
        return nil
    }

    private func principalForProviderKey(_ value: String) async throws -> Principal? {
        for account in try await environment.store.findAcrossTenants(Account.self, lookupKey: value) where account.kind != .buyer {
            guard let key = account.providerKey, constantTimeEquals(key, value) else { continue }
            return Principal(tenant: account, user: nil, token: nil)
        }
        return nil
    }

    /// A provider or the master by id.
    func tenantAccount(id: Int64) async throws -> Account? {
        if id == environment.masterAccountID {
            return try await environment.store.find(Account.self, tenantID: 0, id: id)
        }
        guard let account = try await environment.store.find(Account.self, tenantID: environment.masterAccountID, id: id),
            account.kind == .provider
        else { return nil }
        return account
    }
}

extension RouteArea {
    var isMaster: Bool {
        if case .master = self { return true }
        return false
    }
    var isPersonal: Bool {
        if case .personal = self { return true }
        return false
    }
}

/// Standard base64 decoding (RFC 4648) for HTTP Basic credentials; nil on malformed input.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(c - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(c - 71)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(c + 4)
            case UInt8(ascii: "+"), UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "/"), UInt8(ascii: "_"): values.append(63)
            case UInt8(ascii: "="): continue
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i + 1 < values.count {
            let chunk = values[i..<min(i + 4, values.count)]
            let a = chunk[chunk.startIndex], b = chunk[chunk.startIndex + 1]
            out.append(a << 2 | b >> 4)
            if chunk.count > 2 {
                let c = chunk[chunk.startIndex + 2]
                out.append((b & 0xF) << 4 | c >> 2)
                if chunk.count > 3 { out.append((c & 0x3) << 6 | chunk[chunk.startIndex + 3]) }
            }
            i += 4
        }
        return out
    }
}
