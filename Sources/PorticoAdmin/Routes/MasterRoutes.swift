import PorticoCore
import PorticoStore

/// The Master API: tenants (`/master/api/providers`).
enum MasterRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/master/api/providers", area: .master) { call in
            let tenants = call.params.paginate(try await call.store.list(Account.self, tenantID: call.tenantID).filter { $0.kind == .provider })
            return AdminCall.collection("accounts", tenants.map(call.representer.providerAccount))
        }
        r.post("/master/api/providers", area: .master) { call in
            let params = try call.unwrapped("account")
            var errors = ValidationErrors()
            for key in ["org_name", "username", "email", "password"] where params.nonEmpty(key) == nil { errors.add(key, "can't be blank") }
            try errors.throwIfAny()
            let request = TenantProvisioning.TenantRequest(orgName: params.nonEmpty("org_name") ?? "", username: params.nonEmpty("username") ?? "",
                                                           email: params.nonEmpty("email") ?? "", password: params.nonEmpty("password"))
            let created = try await call.transaction { tx in
                try await TenantProvisioning.createTenant(request, store: tx.store, masterAccountID: tx.tenantID, settings: tx.settings, now: tx.now)
            }
            guard case .object(let accountEnvelope) = call.representer.providerAccount(created.account),
                case .object(let tokenEnvelope) = call.representer.accessToken(created.token, value: created.tokenValue)
            else { throw AdminError(.unavailable("could not render the new tenant")) }
            return .created(.object(["signup": .object([
                "account": accountEnvelope["account"] ?? .null,
                "access_token": tokenEnvelope["access_token"] ?? .null,
            ])]))
        }
        // What a gateway configured with a master endpoint polls (3scale's operator points APIcast at
        // `<master token>@system-master/master/api/proxy/configs`): every tenant's newest version, optionally for one host.
        r.get("/master/api/proxy/configs/:environment", area: .master) { call in
            guard let environment = ProxyConfig.Environment(pathComponent: call.path("environment")) else {
                throw AdminError(.unprocessable("invalid environment"))
            }
            let host = call.params.nonEmpty("host")?.lowercased()
            var items: [JSONValue] = []
            for config in try await GatewayDeployments.latest(store: call.store, masterAccountID: call.tenantID, environment: environment) {
                if let host, !(config.content["proxy"]?["hosts"]?.arrayValue?.contains(.string(host)) ?? false) { continue }
                items.append(call.representer.proxyConfig(config))
            }
            return AdminCall.collection("proxy_configs", items)
        }
        r.get("/master/api/providers/:id", area: .master) { call in
            .json(call.representer.providerAccount(try await requireTenant(call, includeScheduled: true)))
        }
        r.put("/master/api/providers/:id", area: .master) { call in
            var tenant = try await requireTenant(call, includeScheduled: true)
            let params = try call.unwrapped("account")
            for (key, path) in [("from_email", \Account.fromEmail), ("support_email", \.supportEmail), ("finance_support_email", \.financeSupportEmail),
                                ("site_access_code", \.siteAccessCode)] where params.has(key) {
                tenant[keyPath: path] = params.nonEmpty(key)
            }
            if let annotations = params.stringMap("annotations") { tenant.annotations = annotations }
            switch params.string("state_event") {
            case "suspend": tenant.state = .suspended
            case "resume", "approve", "activate": tenant.state = .approved
            case "reject": tenant.state = .rejected
            case nil: break
            case let other?: throw AdminError(.invalidTransition(from: tenant.state.rawValue, event: other, message: "unknown state event"))
            }
            tenant.updatedAt = call.now
            try await call.store.update(tenant)
            return .json(call.representer.providerAccount(tenant))
        }
        r.delete("/master/api/providers/:id", area: .master) { call in
            var tenant = try await requireTenant(call, includeScheduled: false)
            tenant.state = .scheduledForDeletion
            tenant.updatedAt = call.now
            try await call.store.update(tenant)
            return .deleted
        }
    }

    static func requireTenant(_ call: AdminCall, includeScheduled: Bool) async throws -> Account {
        guard let tenant = try await call.store.find(Account.self, tenantID: call.tenantID, id: try call.id("id")), tenant.kind == .provider,
            includeScheduled || tenant.state != .scheduledForDeletion
        else { throw AdminError.notFound }
        return tenant
    }
}
