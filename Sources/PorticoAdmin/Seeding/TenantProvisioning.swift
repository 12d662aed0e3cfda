import PorticoCore
import PorticoStore

/// Creating tenants (provider accounts) with the sample data 3scale gives a new tenant
/// (reference/admin-api-client.md R6, admin-api.md §4.2).
public enum TenantProvisioning {
    public struct TenantRequest: Sendable {
        public var orgName: String
        public var username: String
        public var email: String
        public var password: String?
        /// A value to use for the admin's access token; generated when nil.
        public var accessTokenValue: String?
        public var tokenScopes: [String]
        /// The DNS label of the tenant's portals; derived from `orgName` when nil.
        public var subdomain: String?

        public init(orgName: String, username: String, email: String, password: String?, accessTokenValue: String? = nil,
                    tokenScopes: [String] = ["account_management", "policy_registry"], subdomain: String? = nil) {
            self.orgName = orgName
            self.username = username
            self.email = email
            self.password = password
            self.accessTokenValue = accessTokenValue
            self.tokenScopes = tokenScopes
            self.subdomain = subdomain
        }
    }

    public struct CreatedTenant: Sendable {
        public var account: Account
        public var admin: User
        public var token: AccessToken
        public var tokenValue: String
    }

    /// Required fields every tenant starts with; they cannot be deleted.
    static let requiredFieldNames: [(String, String)] = [("Account", "org_name"), ("User", "username"), ("User", "email"), ("Cinstance", "name")]

    /// Creates the provider account, its admin and token, and the seed data. Run inside a transaction.
    public static func createTenant(_ request: TenantRequest, store: any RecordStore, masterAccountID: Int64, settings: AdminSettings,
                                    now: Timestamp) async throws -> CreatedTenant {
        var errors = ValidationErrors()
        if request.orgName.isEmpty { errors.add("org_name", "can't be blank") }
        if request.username.isEmpty { errors.add("username", "can't be blank") }
        if request.email.isEmpty { errors.add("email", "can't be blank") } else if !UserRoutes.isEmail(request.email) {
            errors.add("email", "should look like an email address")
        }
        try errors.throwIfAny()
        let taken = Set(try await store.list(Account.self, tenantID: masterAccountID).compactMap(\.subdomain) + [settings.masterSubdomain])
        let base = request.subdomain ?? SystemName.dnsLabel(from: request.orgName)
        var subdomain = base
        var n = 2
        while taken.contains(subdomain) {
            if request.subdomain != nil { throw AdminError.validation("subdomain", "has already been taken") }
            subdomain = "\(base)-\(n)"
            n += 1
        }
        var account = Account(tenantID: masterAccountID, kind: .provider, orgName: request.orgName, state: .approved, subdomain: subdomain,
                              providerKey: Secrets.randomHex(byteCount: 16), now: now)
        account.fromEmail = "no-reply@\(settings.wildcardDomain)"
        account = try await store.insert(account)
        var admin = User(tenantID: account.id, accountID: account.id, username: request.username, email: request.email, role: .admin, state: .active, now: now)
        if let password = request.password, !password.isEmpty { admin.passwordDigest = try PasswordHasher.hash(password) }
        admin = try await store.insert(admin)
        let value = request.accessTokenValue ?? Secrets.newAccessTokenValue()
        let token = try await store.insert(AccessToken(tenantID: account.id, userID: admin.id, name: "Administration", scopes: request.tokenScopes,
                                                       permission: .rw, expiresAt: nil, valueDigest: Secrets.tokenDigest(value), now: now))
        try await seedSampleData(store: store, tenant: account, settings: settings, now: now)
        return CreatedTenant(account: account, admin: admin, token: token, tokenValue: value)
    }

    static func seedSampleData(store: any RecordStore, tenant: Account, settings: AdminSettings, now: Timestamp) async throws {
        let t = tenant.id
        let fields: [(String, String, String, Bool)] = [
            ("Account", "org_name", "Organization/Group Name", true), ("Account", "org_legaladdress", "Legal Address", false),
            ("Account", "country", "Country", false),
            ("User", "username", "Username", true), ("User", "email", "Email", true), ("User", "first_name", "First Name", false),
            ("User", "last_name", "Last Name", false),
            ("Cinstance", "name", "Name", true), ("Cinstance", "description", "Description", false),
        ]
        var positions: [String: Int64] = [:]
        for (target, name, label, required) in fields {
            let position = (positions[target] ?? 0) + 1
            positions[target] = position
            try await store.insert(FieldsDefinition(tenantID: t, target: target, name: name, label: label, required: required, position: position, now: now))
        }

        var accountPlan = Plan(tenantID: t, kind: .account, issuerID: t, name: "Default", systemName: "default", now: now)
        accountPlan.isDefault = true
        try await store.insert(accountPlan)

        var product = try await ProductCatalog.createProduct(store: store, tenant: tenant, settings: settings, name: "API", systemName: "api", now: now) { p in
            p.description = "API"
        }
        try await ProductCatalog.setAPIBackend(store: store, product: &product, endpoint: "https://echo-api.3scale.net:443", now: now)
        try await store.update(product)
        var basic = Plan(tenantID: t, kind: .application, issuerID: product.id, name: "Basic", systemName: "basic", now: now)
        basic.isDefault = true
        try await store.insert(basic)
        try await store.insert(Plan(tenantID: t, kind: .application, issuerID: product.id, name: "Unlimited", systemName: "unlimited", now: now))
        try await ProductCatalog.deployToSandbox(store: store, product: product, meteringEndpoint: settings.meteringEndpoint, now: now)

        let sample = BuyerOnboarding.SignupRequest(orgName: "Developer", username: "john", email: "john@\(tenant.subdomain ?? "tenant").example.com",
                                                   password: nil, accountFields: [:], userFields: ["first_name": "John", "last_name": "Doe"])
        _ = try await BuyerOnboarding.signup(sample, store: store, tenantID: t, now: now)

        try await store.insert(ActiveDoc(tenantID: t, productID: product.id, name: "Echo", systemName: "echo", body: echoSpec, now: now))
    }

    static let echoSpec = """
        {"swagger":"2.0","info":{"title":"Echo","description":"Echoes back the request.","version":"1.0"},"basePath":"/","schemes":["https"],\
        "paths":{"/":{"get":{"summary":"Say hello","parameters":[{"name":"user_key","in":"query","type":"string","required":true}],\
        "responses":{"200":{"description":"The request, echoed"}}}}}}
        """
}
