import PorticoCore
import PorticoStore

/// Signing up developer accounts and creating their applications, with 3scale's side effects.
enum BuyerOnboarding {
    struct SignupRequest: Sendable {
        var orgName: String
        var username: String
        var email: String
        var password: String?
        var accountPlanID: Int64?
        var servicePlanID: Int64?
        var applicationPlanID: Int64?
        var accountFields: [String: String] = [:]
        var userFields: [String: String] = [:]
    }

    /// Buyer account + admin user + account plan contract + subscriptions to default service plans +
    /// applications on default application plans. Run inside a transaction.
    static func signup(_ request: SignupRequest, store: any RecordStore, tenantID: Int64, now: Timestamp) async throws -> Account {
        var errors = ValidationErrors()
        if request.orgName.isEmpty { errors.add("org_name", "can't be blank") }
        if request.username.isEmpty { errors.add("username", "can't be blank") }
        if !request.username.isEmpty, try await store.count(User.self, tenantID: tenantID, lookupKey: request.username) > 0 {
            errors.add("username", "has already been taken")
        }
        let accountPlans = try await store.list(Plan.self, tenantID: tenantID, scope: RecordScope.tenant, lookupKey: Plan.Kind.account.rawValue)
        let accountPlan: Plan?
        if let id = request.accountPlanID {
            accountPlan = accountPlans.first { $0.id == id }
            if accountPlan == nil { errors.add("account_plan_id", "is invalid") }
        } else {
            accountPlan = accountPlans.first(where: \.isDefault) ?? accountPlans.first
            if accountPlan == nil { errors.add("account_plan", "the tenant has no default account plan; create one first") }
        }
        try errors.throwIfAny()

        var account = Account(tenantID: tenantID, kind: .buyer, orgName: request.orgName,
                              state: (accountPlan?.approvalRequired ?? false) ? .pending : .approved, now: now)
        account.accountPlanID = accountPlan?.id
        account.extraFields = request.accountFields
        account = try await store.insert(account)
        var user = User(tenantID: tenantID, accountID: account.id, username: request.username, email: request.email, role: .admin,
                        state: .active, now: now)
        if let password = request.password, !password.isEmpty { user.passwordDigest = try PasswordHasher.hash(password) }
        user.extraFields = request.userFields
        try await store.insert(user)

        for product in try await store.list(Product.self, tenantID: tenantID) {
            let plans = try await store.list(Plan.self, tenantID: tenantID, scope: RecordScope.product(product.id))
            let servicePlans = plans.filter { $0.kind == .service }
            let servicePlan = servicePlans.first { $0.id == request.servicePlanID } ?? servicePlans.first(where: \.isDefault)
            if let servicePlan {
                try await store.insert(ServiceSubscription(tenantID: tenantID, accountID: account.id, productID: product.id, planID: servicePlan.id,
                                                           state: servicePlan.approvalRequired ? "pending" : "live", now: now))
            }
            let appPlans = plans.filter { $0.kind == .application && !$0.custom }
            if let appPlan = appPlans.first(where: { $0.id == request.applicationPlanID }) ?? appPlans.first(where: \.isDefault) {
                _ = try await createApplication(store: store, tenantID: tenantID, account: account, product: product, plan: appPlan,
                                                name: "API signup", description: "API signup", now: now)
            }
        }
        return account
    }

    /// An application with generated credentials (overridable by `configure`).
    static func createApplication(store: any RecordStore, tenantID: Int64, account: Account, product: Product, plan: Plan, name: String,
                                  description: String?, now: Timestamp,
                                  configure: (inout ClientApplication) -> Void = { _ in }) async throws -> ClientApplication {
        var app = ClientApplication(tenantID: tenantID, accountID: account.id, productID: product.id, planID: plan.id, name: name,
                                    state: plan.approvalRequired ? .pending : .live, userKey: Secrets.randomHex(byteCount: 16),
                                    applicationID: Secrets.randomHex(byteCount: 4), providerVerificationKey: Secrets.randomHex(byteCount: 16), now: now)
        app.description = description
        if product.backendVersion != "1", product.mandatoryAppKey {
            app.keys = [ClientApplication.Key(value: Secrets.randomHex(byteCount: 16), createdAt: now)]
        }
        configure(&app)
        return try await store.insert(app)
    }

    /// user_key: up to 256 characters of `[A-Za-z0-9_.-]`, or a base64 string.
    static func isValidUserKey(_ key: String) -> Bool {
        guard !key.isEmpty, key.count <= 256 else { return false }
        let word = key.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "_.-".unicodeScalars.contains($0) }
        let base64 = key.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "+/=".unicodeScalars.contains($0) }
        return word || base64
    }

    /// Printable ASCII without spaces, as porta's key and application id formats.
    static func isPrintable(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
    }
}
