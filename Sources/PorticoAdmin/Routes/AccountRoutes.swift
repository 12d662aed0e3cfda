import PorticoCore
import PorticoStore

/// Developer accounts (`/admin/api/accounts`, `/admin/api/signup`), their users and service subscriptions.
enum AccountRoutes {
    static func register(into r: inout AdminRouter) {
        r.post("/admin/api/signup") { call in
            let params = try call.unwrapped("account")
            let fields = try await definedFields(call)
            var signup = BuyerOnboarding.SignupRequest(orgName: params.nonEmpty("org_name") ?? "", username: params.nonEmpty("username") ?? "",
                                                        email: params.string("email") ?? "", password: params.string("password"),
                                                        accountPlanID: params.int("account_plan_id"), servicePlanID: params.int("service_plan_id"),
                                                        applicationPlanID: params.int("application_plan_id"))
            signup.accountFields = extraFields(params, names: fields["Account"] ?? [], excluding: ["org_name"])
            signup.userFields = extraFields(params, names: fields["User"] ?? [], excluding: ["username", "email", "password"])
            let request = signup
            let account = try await call.transaction { tx in
                try await BuyerOnboarding.signup(request, store: tx.store, tenantID: tx.tenantID, now: tx.now)
            }
            return .created(call.representer.buyerAccount(account))
        }
        r.get("/admin/api/accounts") { call in
            let accounts: [Account]
            if let state = call.params.nonEmpty("state") {
                accounts = call.params.paginate(try await buyers(call).filter { $0.state.rawValue == state })
            } else {
                // A provider's account rows are all buyers (providers are rows of the master tenant), so the store pages.
                accounts = try await call.store.list(Account.self, tenantID: call.tenantID, page: call.params.page())
                    .filter { $0.kind == .buyer }
            }
            return AdminCall.collection("accounts", accounts.map { call.representer.buyerAccount($0) })
        }
        r.get("/admin/api/accounts/find") { call in
            let match: User?
            if let username = call.params.nonEmpty("username") {
                match = try await call.store.list(User.self, tenantID: call.tenantID, lookupKey: username).first
            } else if let email = call.params.nonEmpty("email") {
                match = try await call.store.list(User.self, tenantID: call.tenantID).first { $0.email == email }
            } else if let userID = call.params.int("user_id") {
                match = try await call.store.find(User.self, tenantID: call.tenantID, id: userID)
            } else {
                match = nil
            }
            guard let match, match.accountID != call.tenantID else { throw AdminError.notFound }
            return .json(call.representer.buyerAccount(try await call.requireBuyer(match.accountID)))
        }
        r.get("/admin/api/accounts/:id") { call in
            .json(call.representer.buyerAccount(try await call.requireBuyer(try call.id("id"))))
        }
        r.put("/admin/api/accounts/:id") { call in
            var account = try await call.requireBuyer(try call.id("id"))
            let params = try call.unwrapped("account")
            if params.has("org_name") {
                guard let name = params.nonEmpty("org_name") else { throw AdminError.validation("org_name", "can't be blank") }
                account.orgName = name
            }
            if let v = params.bool("monthly_billing_enabled") { account.monthlyBillingEnabled = v }
            if let v = params.bool("monthly_charging_enabled") { account.monthlyChargingEnabled = v }
            if let v = params.stringMap("annotations") { account.annotations = v }
            let fields = try await definedFields(call)
            for (k, v) in extraFields(params, names: fields["Account"] ?? [], excluding: ["org_name"]) { account.extraFields[k] = v }
            account.updatedAt = call.now
            try await call.store.update(account)
            return .json(call.representer.buyerAccount(account))
        }
        r.delete("/admin/api/accounts/:id") { call in
            let account = try await call.requireBuyer(try call.id("id"))
            try await call.transaction { tx in
                let scope = RecordScope.account(account.id)
                for app in try await tx.store.list(ClientApplication.self, tenantID: tx.tenantID, scope: scope) {
                    try await tx.store.delete(ClientApplication.self, tenantID: tx.tenantID, id: app.id)
                }
                for sub in try await tx.store.list(ServiceSubscription.self, tenantID: tx.tenantID, scope: scope) {
                    try await tx.store.delete(ServiceSubscription.self, tenantID: tx.tenantID, id: sub.id)
                }
                for user in try await tx.store.list(User.self, tenantID: tx.tenantID, scope: scope) {
                    try await tx.store.delete(User.self, tenantID: tx.tenantID, id: user.id)
                }
                try await tx.store.delete(Account.self, tenantID: tx.tenantID, id: account.id)
            }
            return .deleted
        }
        for (event, from, to) in [("approve", [Account.State.pending, .rejected], Account.State.approved),
                                  ("reject", [.pending, .approved], .rejected), ("make_pending", [.approved, .rejected], .pending)] {
            r.put("/admin/api/accounts/:id/\(event)") { call in
                var account = try await call.requireBuyer(try call.id("id"))
                guard from.contains(account.state) else {
                    throw AdminError(.invalidTransition(from: account.state.rawValue, event: event, message: "cannot \(event) an account that is \(account.state.rawValue)"))
                }
                account.state = to
                account.updatedAt = call.now
                try await call.store.update(account)
                return .json(call.representer.buyerAccount(account))
            }
        }
        r.get("/admin/api/accounts/:id/plan") { call in
            let account = try await call.requireBuyer(try call.id("id"))
            guard let planID = account.accountPlanID else { throw AdminError.notFound }
            return .json(call.representer.plan(try await call.requirePlan(planID, kind: .account)))
        }
        r.put("/admin/api/accounts/:id/change_plan") { call in
            var account = try await call.requireBuyer(try call.id("id"))
            guard let planID = call.params.int("plan_id") else { throw AdminError(.missingParameter("plan_id")) }
            let plan = try await call.requirePlan(planID, kind: .account)
            account.accountPlanID = plan.id
            account.updatedAt = call.now
            try await call.store.update(account)
            return .json(call.representer.plan(plan))
        }

        registerUsers(into: &r)
        registerSubscriptions(into: &r)
    }

    static func buyers(_ call: AdminCall) async throws -> [Account] {
        try await call.store.list(Account.self, tenantID: call.tenantID).filter { $0.kind == .buyer }
    }

    /// Names of the tenant's fields definitions by target (Account, User, Cinstance).
    static func definedFields(_ call: AdminCall) async throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for f in try await call.store.list(FieldsDefinition.self, tenantID: call.tenantID) { out[f.target, default: []].insert(f.name) }
        return out
    }

    static func extraFields(_ params: Parameters, names: Set<String>, excluding: Set<String>) -> [String: String] {
        var out: [String: String] = [:]
        for name in names.subtracting(excluding) {
            if let value = params.string(name) { out[name] = value }
        }
        return out
    }

    // MARK: buyer users

    private static func registerUsers(into r: inout AdminRouter) {
        let base = "/admin/api/accounts/:account_id/users"
        r.get(base) { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            var users = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(account.id))
            if let state = call.params.nonEmpty("state") { users = users.filter { $0.state.rawValue == state } }
            if let role = call.params.nonEmpty("role") { users = users.filter { $0.role.rawValue == role } }
            return AdminCall.collection("users", users.map { call.representer.user($0, buyer: true) })
        }
        r.post(base) { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            let user = try await UserRoutes.create(call, accountID: account.id, params: try call.unwrapped("user"), requirePassword: false)
            return .created(call.representer.user(user, buyer: true))
        }
        r.get("\(base)/:id") { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            return .json(call.representer.user(try await call.requireUser(try call.id("id"), accountID: account.id), buyer: true))
        }
        r.put("\(base)/:id") { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            var user = try await call.requireUser(try call.id("id"), accountID: account.id)
            try await UserRoutes.update(&user, call: call, params: try call.unwrapped("user"))
            return .json(call.representer.user(user, buyer: true))
        }
        r.delete("\(base)/:id") { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            let user = try await call.requireUser(try call.id("id"), accountID: account.id)
            let admins = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(account.id)).filter { $0.role == .admin }
            if user.role == .admin, admins.count <= 1 {
                throw AdminError(.refusedDeletion([("base", ["the last admin of an account cannot be deleted"])]))
            }
            try await call.store.delete(User.self, tenantID: call.tenantID, id: user.id)
            return .deleted
        }
        for event in UserRoutes.events {
            r.put("\(base)/:id/\(event)") { call in
                let account = try await call.requireBuyer(try call.id("account_id"))
                var user = try await call.requireUser(try call.id("id"), accountID: account.id)
                try await UserRoutes.apply(event: event, to: &user, call: call)
                return .json(call.representer.user(user, buyer: true))
            }
        }
    }

    // MARK: service subscriptions

    private static func registerSubscriptions(into r: inout AdminRouter) {
        let base = "/admin/api/accounts/:account_id/service_subscriptions"
        r.get(base) { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            let subs = try await call.store.list(ServiceSubscription.self, tenantID: call.tenantID, scope: RecordScope.account(account.id))
                .filter { call.principal.mayAccess(productID: $0.productID) }
            return AdminCall.collection("service_subscriptions", subs.map(call.representer.subscription))
        }
        r.post(base) { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            let params = try call.unwrapped("service_subscription")
            guard let planID = params.int("plan_id") else { throw AdminError.validation("plan_id", "can't be blank") }
            let plan = try await call.requirePlan(planID, kind: .service)
            let sub = try await call.transaction { tx in
                let existing = try await tx.store.list(ServiceSubscription.self, tenantID: tx.tenantID, scope: RecordScope.account(account.id))
                if existing.contains(where: { $0.productID == plan.issuerID }) {
                    throw AdminError.validation("base", "the account is already subscribed to this product")
                }
                return try await tx.store.insert(ServiceSubscription(tenantID: tx.tenantID, accountID: account.id, productID: plan.issuerID, planID: plan.id,
                                                                     state: plan.approvalRequired ? "pending" : "live", now: tx.now))
            }
            return .created(call.representer.subscription(sub))
        }
        r.get("\(base)/:id") { call in
            .json(call.representer.subscription(try await requireSubscription(call)))
        }
        r.delete("\(base)/:id") { call in
            let sub = try await requireSubscription(call)
            let apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID, scope: RecordScope.account(sub.accountID))
            if apps.contains(where: { $0.productID == sub.productID }) {
                throw AdminError(.refusedDeletion([("base", ["cannot unsubscribe while the account has applications of this product"])]))
            }
            try await call.store.delete(ServiceSubscription.self, tenantID: call.tenantID, id: sub.id)
            return .deleted
        }
        r.put("\(base)/:id/approve") { call in
            var sub = try await requireSubscription(call)
            guard sub.state == "pending" else {
                throw AdminError(.invalidTransition(from: sub.state, event: "accept", message: "only pending subscriptions can be approved"))
            }
            sub.state = "live"
            sub.updatedAt = call.now
            try await call.store.update(sub)
            return .json(call.representer.subscription(sub))
        }
        r.put("\(base)/:id/change_plan") { call in
            var sub = try await requireSubscription(call)
            guard let planID = call.params.int("plan_id") else { throw AdminError(.missingParameter("plan_id")) }
            let plan = try await call.requirePlan(planID, kind: .service, productID: sub.productID)
            if sub.planID != plan.id {
                sub.planID = plan.id
                sub.updatedAt = call.now
                try await call.store.update(sub)
            }
            return .json(call.representer.plan(plan))
        }
    }

    static func requireSubscription(_ call: AdminCall) async throws -> ServiceSubscription {
        let account = try await call.requireBuyer(try call.id("account_id"))
        guard let sub = try await call.store.find(ServiceSubscription.self, tenantID: call.tenantID, id: try call.id("id")),
            sub.accountID == account.id, call.principal.mayAccess(productID: sub.productID)
        else { throw AdminError.notFound }
        return sub
    }
}
