import PorticoCore
import PorticoStore

/// Applications of developer accounts, their keys and referrer filters, and the tenant-wide application list.
enum ApplicationRoutes {
    static func register(into r: inout AdminRouter) {
        let base = "/admin/api/accounts/:account_id/applications"
        r.get(base) { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            var apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID, scope: RecordScope.account(account.id))
                .filter { call.principal.mayAccess(productID: $0.productID) }
            if let state = call.params.nonEmpty("state") { apps = apps.filter { $0.state.rawValue == state } }
            return try await render(apps, call: call)
        }
        r.post(base) { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            let app = try await create(call, account: account, params: try call.unwrapped("application"))
            return .created(try await single(app, call: call))
        }
        r.get("/admin/api/accounts/:account_id/applications/find") { call in
            let account = try await call.requireBuyer(try call.id("account_id"))
            let apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID, scope: RecordScope.account(account.id))
            guard let app = try await find(apps, call: call) else { throw AdminError.notFound }
            return .json(try await single(app, call: call))
        }
        r.get("\(base)/:id") { call in
            .json(try await single(try await requireApp(call), call: call))
        }
        r.put("\(base)/:id") { call in
            var app = try await requireApp(call)
            try await update(&app, call: call, params: try call.unwrapped("application"))
            return .json(try await single(app, call: call))
        }
        r.delete("\(base)/:id") { call in
            let app = try await requireApp(call)
            try await call.store.delete(ClientApplication.self, tenantID: call.tenantID, id: app.id)
            return .deleted
        }
        for (event, from, to) in [("accept", [ClientApplication.State.pending], ClientApplication.State.live),
                                  ("suspend", [.live], .suspended), ("resume", [.suspended], .live)] {
            r.put("\(base)/:id/\(event)") { call in
                var app = try await requireApp(call)
                guard from.contains(app.state) else {
                    throw AdminError(.invalidTransition(from: app.state.rawValue, event: event, message: "cannot \(event) an application that is \(app.state.rawValue)"))
                }
                app.state = to
                app.updatedAt = call.now
                try await call.store.update(app)
                return .json(try await single(app, call: call))
            }
        }
        r.put("\(base)/:id/change_plan") { call in
            var app = try await requireApp(call)
            guard let planID = call.params.int("plan_id") else { throw AdminError(.missingParameter("plan_id")) }
            let plan = try await call.requirePlan(planID, kind: .application, productID: app.productID)
            app.planID = plan.id
            app.updatedAt = call.now
            try await call.store.update(app)
            return .json(try await single(app, call: call))
        }

        // Keys
        r.get("\(base)/:id/keys") { call in
            let app = try await requireApp(call)
            return AdminCall.collection("keys", app.keys.map { call.representer.applicationKey($0, app: app) })
        }
        r.post("\(base)/:id/keys") { call in
            var app = try await requireApp(call)
            guard let value = call.params.string("key") else { throw AdminError.validation("value", "can't be blank") }
            try validateNewKey(value, app: app)
            app.keys.append(ClientApplication.Key(value: value, createdAt: call.now))
            app.updatedAt = call.now
            try await call.store.update(app)
            return .created(try await single(app, call: call))
        }
        r.delete("\(base)/:id/keys/:key") { call in
            var app = try await requireApp(call)
            let value = call.path("key")
            guard app.keys.contains(where: { $0.value == value }) else { throw AdminError.notFound }
            let product = try await call.store.find(Product.self, tenantID: call.tenantID, id: app.productID)
            if app.keys.count == 1, product?.mandatoryAppKey == true, product?.backendVersion != "1" {
                throw AdminError(.unprocessable("the last key of an application whose product requires an app key cannot be deleted"))
            }
            app.keys.removeAll { $0.value == value }
            app.updatedAt = call.now
            try await call.store.update(app)
            return .deleted
        }

        // Referrer filters
        r.get("\(base)/:id/referrer_filters") { call in
            let app = try await requireApp(call)
            return AdminCall.collection("referrer_filters", app.referrerFilters.map { call.representer.referrerFilter($0, app: app) })
        }
        r.post("\(base)/:id/referrer_filters") { call in
            var app = try await requireApp(call)
            guard let value = call.params.nonEmpty("referrer_filter"), value.count <= 255, BuyerOnboarding.isPrintable(value) else {
                throw AdminError.validation("value", "is invalid")
            }
            if app.referrerFilters.count >= 5 { throw AdminError.validation("base", "too many referrer filters (maximum is 5)") }
            if app.referrerFilters.contains(where: { $0.value == value }) { throw AdminError.validation("value", "has already been taken") }
            let filter = ClientApplication.ReferrerFilter(id: (app.referrerFilters.map(\.id).max() ?? 0) + 1, value: value, createdAt: call.now)
            app.referrerFilters.append(filter)
            try await call.store.update(app)
            return .created(call.representer.referrerFilter(filter, app: app))
        }
        r.delete("\(base)/:id/referrer_filters/:filter_id") { call in
            var app = try await requireApp(call)
            let filterID = try call.id("filter_id")
            guard app.referrerFilters.contains(where: { $0.id == filterID }) else { throw AdminError.notFound }
            app.referrerFilters.removeAll { $0.id == filterID }
            try await call.store.update(app)
            return .deleted
        }

        // Every application of the tenant.
        r.get("/admin/api/applications") { call in
            let filtering = call.params.has("service_id") || call.params.has("plan_id")
                || call.principal.user?.role == .member
            var apps: [ClientApplication]
            if filtering {
                apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID)
                if let sid = call.params.int("service_id") { apps = apps.filter { $0.productID == sid } }
                if let pid = call.params.int("plan_id") { apps = apps.filter { $0.planID == pid } }
                apps = apps.filter { call.principal.mayAccess(productID: $0.productID) }
                apps = call.params.paginate(apps)
            } else {
                apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID, page: call.params.page())
            }
            return try await render(apps, call: call)
        }
        r.get("/admin/api/applications/find") { call in
            let apps: [ClientApplication]
            if let userKey = call.params.nonEmpty("user_key") {
                apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID, lookupKey: userKey)
            } else {
                apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID)
            }
            guard let app = try await find(apps, call: call), call.principal.mayAccess(productID: app.productID) else { throw AdminError.notFound }
            return .json(try await single(app, call: call))
        }
    }

    static func find(_ apps: [ClientApplication], call: AdminCall) async throws -> ClientApplication? {
        let serviceID = call.params.int("service_id")
        return apps.first { app in
            if let serviceID, app.productID != serviceID { return false }
            if let id = call.params.int("application_id") ?? call.params.int("id"), app.id == id { return true }
            if let key = call.params.nonEmpty("user_key"), app.userKey == key { return true }
            if let appID = call.params.nonEmpty("app_id"), app.applicationID == appID { return true }
            return false
        }
    }

    static func requireApp(_ call: AdminCall) async throws -> ClientApplication {
        let account = try await call.requireBuyer(try call.id("account_id"))
        return try await call.requireApplication(try call.id("id"), accountID: account.id)
    }

    /// Renders many applications with three batched lookups (products, plans, accounts) instead of three per row.
    static func render(_ apps: [ClientApplication], call: AdminCall) async throws -> AdminResponse {
        let t = call.tenantID
        let products = Dictionary(try await call.store.find(Product.self, tenantID: t, ids: apps.map(\.productID)).map { ($0.id, $0) },
                                  uniquingKeysWith: { a, _ in a })
        let plans = Dictionary(try await call.store.find(Plan.self, tenantID: t, ids: apps.map(\.planID)).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let accounts = Dictionary(try await call.store.find(Account.self, tenantID: t, ids: apps.map(\.accountID)).map { ($0.id, $0) },
                                  uniquingKeysWith: { a, _ in a })
        return AdminCall.collection("applications", apps.map {
            call.representer.application($0, product: products[$0.productID], plan: plans[$0.planID], account: accounts[$0.accountID])
        })
    }

    static func single(_ app: ClientApplication, call: AdminCall) async throws -> JSONValue {
        let t = call.tenantID
        return call.representer.application(app, product: try await call.store.find(Product.self, tenantID: t, id: app.productID),
                                             plan: try await call.store.find(Plan.self, tenantID: t, id: app.planID),
                                             account: try await call.store.find(Account.self, tenantID: t, id: app.accountID))
    }

    static func validateNewKey(_ value: String, app: ClientApplication) throws {
        var errors = ValidationErrors()
        if value.count < 5 || value.count > 255 { errors.add("value", "must be between 5 and 255 characters") }
        if !BuyerOnboarding.isPrintable(value) { errors.add("value", "may contain only printable characters") }
        if app.keys.contains(where: { $0.value == value }) { errors.add("value", "has already been taken") }
        if app.keys.count >= ClientApplication.maximumKeys { errors.add("base", "limit of \(ClientApplication.maximumKeys) keys reached") }
        try errors.throwIfAny()
    }

    static func userKeyTaken(_ key: String, call: AdminCall, except id: Int64?) async throws -> Bool {
        try await call.store.list(ClientApplication.self, tenantID: call.tenantID, lookupKey: key).contains { $0.id != id }
    }

    static func create(_ call: AdminCall, account: Account, params: Parameters) async throws -> ClientApplication {
        guard let planID = params.int("plan_id") else { throw AdminError.validation("plan_id", "can't be blank") }
        let plan = try await call.requirePlan(planID, kind: .application)
        var errors = ValidationErrors()
        let name = params.nonEmpty("name")
        if name == nil { errors.add("name", "can't be blank") }
        let userKey = params.nonEmpty("user_key")
        if let userKey {
            if !BuyerOnboarding.isValidUserKey(userKey) { errors.add("user_key", "is invalid") } else if try await userKeyTaken(userKey, call: call, except: nil) {
                errors.add("user_key", "has already been taken")
            }
        }
        let applicationID = params.nonEmpty("application_id")
        if let applicationID, applicationID.count < 4 || applicationID.count > 255 || !BuyerOnboarding.isPrintable(applicationID) {
            errors.add("application_id", "is invalid")
        }
        let keys = params.stringArray("application_key") ?? []
        for key in keys where key.count < 5 || key.count > 255 || !BuyerOnboarding.isPrintable(key) { errors.add("application_key", "is invalid") }
        try errors.throwIfAny()
        let fields = try await AccountRoutes.definedFields(call)
        return try await call.transaction { tx in
            guard let product = try await tx.store.find(Product.self, tenantID: tx.tenantID, id: plan.issuerID) else { throw AdminError.notFound }
            if let applicationID {
                let apps = try await tx.store.list(ClientApplication.self, tenantID: tx.tenantID)
                if apps.contains(where: { $0.productID == product.id && $0.applicationID == applicationID }) {
                    throw AdminError.validation("application_id", "has already been taken")
                }
            }
            let subs = try await tx.store.list(ServiceSubscription.self, tenantID: tx.tenantID, scope: RecordScope.account(account.id))
            if !subs.contains(where: { $0.productID == product.id }) {
                let servicePlans = try await tx.store.list(Plan.self, tenantID: tx.tenantID, scope: RecordScope.product(product.id),
                                                          lookupKey: Plan.Kind.service.rawValue)
                guard let servicePlan = servicePlans.first(where: \.isDefault) ?? servicePlans.first else {
                    throw AdminError(.unprocessable("You cannot subscribe to that service."))
                }
                try await tx.store.insert(ServiceSubscription(tenantID: tx.tenantID, accountID: account.id, productID: product.id, planID: servicePlan.id,
                                                              state: servicePlan.approvalRequired ? "pending" : "live", now: tx.now))
            }
            return try await BuyerOnboarding.createApplication(store: tx.store, tenantID: tx.tenantID, account: account, product: product, plan: plan,
                                                               name: name ?? "", description: params.string("description"), now: tx.now) { app in
                if let userKey { app.userKey = userKey }
                if let applicationID { app.applicationID = applicationID }
                if !keys.isEmpty { app.keys = keys.prefix(ClientApplication.maximumKeys).map { ClientApplication.Key(value: $0, createdAt: tx.now) } }
                if params.has("redirect_url") { app.redirectURL = params.string("redirect_url") }
                app.extraFields = AccountRoutes.extraFields(params, names: fields["Cinstance"] ?? [], excluding: ["name", "description"])
            }
        }
    }

    static func update(_ app: inout ClientApplication, call: AdminCall, params: Parameters) async throws {
        var errors = ValidationErrors()
        if params.has("name") {
            if let name = params.nonEmpty("name") { app.name = name } else { errors.add("name", "can't be blank") }
        }
        if params.has("description") { app.description = params.string("description") }
        if let userKey = params.nonEmpty("user_key"), userKey != app.userKey {
            if !BuyerOnboarding.isValidUserKey(userKey) {
                errors.add("user_key", "is invalid")
            } else if try await userKeyTaken(userKey, call: call, except: app.id) {
                errors.add("user_key", "has already been taken")
            } else {
                app.userKey = userKey
            }
        }
        if params.has("redirect_url") { app.redirectURL = params.string("redirect_url") }
        for (key, path) in [("first_traffic_at", \ClientApplication.firstTrafficAt), ("first_daily_traffic_at", \.firstDailyTrafficAt)] {
            if let text = params.nonEmpty(key) {
                if let t = Timestamp(iso8601: text) { app[keyPath: path] = t } else { errors.add(key, "is invalid") }
            }
        }
        let fields = try await AccountRoutes.definedFields(call)
        for (k, v) in AccountRoutes.extraFields(params, names: fields["Cinstance"] ?? [], excluding: ["name", "description"]) { app.extraFields[k] = v }
        try errors.throwIfAny()
        app.updatedAt = call.now
        try await call.store.update(app)
    }
}
