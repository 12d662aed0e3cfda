import PorticoCore
import PorticoStore

/// Application, service and account plans, their limits, pricing rules and features.
enum PlanRoutes {
    static func register(into r: inout AdminRouter) {
        registerProductPlans(.application, path: "application_plans", into: &r)
        registerProductPlans(.service, path: "service_plans", into: &r)

        r.get("/admin/api/application_plans") { call in
            AdminCall.collection("plans", try await allPlans(call, kind: .application).map(call.representer.plan))
        }
        r.get("/admin/api/service_plans") { call in
            AdminCall.collection("plans", try await allPlans(call, kind: .service).map(call.representer.plan))
        }

        r.get("/admin/api/account_plans") { call in
            let plans = try await call.store.list(Plan.self, tenantID: call.tenantID, scope: RecordScope.tenant, lookupKey: Plan.Kind.account.rawValue)
            return AdminCall.collection("plans", plans.map(call.representer.plan))
        }
        r.post("/admin/api/account_plans") { call in
            let plan = try await create(call, kind: .account, issuerID: call.tenantID, params: try call.unwrapped("account_plan"))
            return .created(call.representer.plan(plan))
        }
        r.get("/admin/api/account_plans/:id") { call in
            .json(call.representer.plan(try await call.requirePlan(try call.id("id"), kind: .account)))
        }
        r.put("/admin/api/account_plans/:id") { call in
            var plan = try await call.requirePlan(try call.id("id"), kind: .account)
            try await update(&plan, call: call, params: try call.unwrapped("account_plan"))
            return .json(call.representer.plan(plan))
        }
        r.put("/admin/api/account_plans/:id/default") { call in
            let plan = try await makeDefault(call, try await call.requirePlan(try call.id("id"), kind: .account))
            return .json(call.representer.plan(plan))
        }
        r.delete("/admin/api/account_plans/:id") { call in
            let plan = try await call.requirePlan(try call.id("id"), kind: .account)
            let inUse = try await call.store.list(Account.self, tenantID: call.tenantID).contains { $0.accountPlanID == plan.id }
            try await delete(plan, call: call, inUse: inUse)
            return .deleted
        }

        registerLimits(into: &r)
        registerPricingRules(into: &r)
        registerFeatures(into: &r)
    }

    private static func registerProductPlans(_ kind: Plan.Kind, path: String, into r: inout AdminRouter) {
        let base = "/admin/api/services/:service_id/\(path)"
        r.get(base) { call in
            let product = try await call.requireProduct()
            let plans = try await call.store.list(Plan.self, tenantID: call.tenantID, scope: RecordScope.product(product.id), lookupKey: kind.rawValue)
            return AdminCall.collection("plans", plans.filter { !$0.custom }.map(call.representer.plan))
        }
        r.post(base) { call in
            let product = try await call.requireProduct()
            let plan = try await create(call, kind: kind, issuerID: product.id, params: try call.unwrapped(kind.rootKey))
            return .created(call.representer.plan(plan))
        }
        r.get("\(base)/:id") { call in
            let product = try await call.requireProduct()
            return .json(call.representer.plan(try await call.requirePlan(try call.id("id"), kind: kind, productID: product.id)))
        }
        r.put("\(base)/:id") { call in
            let product = try await call.requireProduct()
            var plan = try await call.requirePlan(try call.id("id"), kind: kind, productID: product.id)
            try await update(&plan, call: call, params: try call.unwrapped(kind.rootKey))
            return .json(call.representer.plan(plan))
        }
        r.put("\(base)/:id/default") { call in
            let product = try await call.requireProduct()
            let plan = try await makeDefault(call, try await call.requirePlan(try call.id("id"), kind: kind, productID: product.id))
            return .json(call.representer.plan(plan))
        }
        r.delete("\(base)/:id") { call in
            let product = try await call.requireProduct()
            let plan = try await call.requirePlan(try call.id("id"), kind: kind, productID: product.id)
            let inUse: Bool
            if kind == .application {
                inUse = try await call.store.list(ClientApplication.self, tenantID: call.tenantID).contains { $0.planID == plan.id }
            } else {
                inUse = try await call.store.list(ServiceSubscription.self, tenantID: call.tenantID).contains { $0.planID == plan.id }
            }
            try await delete(plan, call: call, inUse: inUse)
            return .deleted
        }
    }

    static func allPlans(_ call: AdminCall, kind: Plan.Kind) async throws -> [Plan] {
        let visible = Set(try await call.visibleProducts().map(\.id))
        return try await call.store.list(Plan.self, tenantID: call.tenantID, lookupKey: kind.rawValue)
            .filter { visible.contains($0.issuerID) && !$0.custom }
    }

    static func create(_ call: AdminCall, kind: Plan.Kind, issuerID: Int64, params: Parameters) async throws -> Plan {
        var errors = ValidationErrors()
        let name = params.nonEmpty("name")
        if name == nil { errors.add("name", "can't be blank") }
        let scope = kind == .account ? RecordScope.tenant : RecordScope.product(issuerID)
        let siblings = try await call.store.list(Plan.self, tenantID: call.tenantID, scope: scope, lookupKey: kind.rawValue)
        var systemName = params.nonEmpty("system_name") ?? SystemName.generate(from: name ?? "")
        if params.nonEmpty("system_name") != nil {
            if siblings.contains(where: { $0.systemName == systemName }) { errors.add("system_name", "has already been taken") }
        } else {
            systemName = ProductCatalog.uniqueSystemName(systemName, taken: Set(siblings.map(\.systemName)))
        }
        var plan = Plan(tenantID: call.tenantID, kind: kind, issuerID: issuerID, name: name ?? "", systemName: systemName, now: call.now)
        apply(params, to: &plan, errors: &errors)
        try errors.throwIfAny()
        return try await call.store.insert(plan)
    }

    static func update(_ plan: inout Plan, call: AdminCall, params: Parameters) async throws {
        var errors = ValidationErrors()
        if params.has("name") {
            if let name = params.nonEmpty("name") { plan.name = name } else { errors.add("name", "can't be blank") }
        }
        apply(params, to: &plan, errors: &errors)
        try errors.throwIfAny()
        plan.updatedAt = call.now
        try await call.store.update(plan)
    }

    static func apply(_ params: Parameters, to plan: inout Plan, errors: inout ValidationErrors) {
        if let v = params.bool("approval_required") { plan.approvalRequired = v }
        if params.has("description") { plan.description = params.string("description") }
        for (key, path) in [("setup_fee", \Plan.setupFee), ("cost_per_month", \Plan.costPerMonth)] where params.has(key) && !(params[key]?.isNull ?? true) {
            if let v = params.double(key), v >= 0 { plan[keyPath: path] = v } else { errors.add(key, "is not a number") }
        }
        if params.has("trial_period_days") {
            if params[key: "trial_period_days"] { plan.trialPeriodDays = nil } else if let v = params.int("trial_period_days"), v >= 0 {
                plan.trialPeriodDays = v
            } else {
                errors.add("trial_period_days", "is not a number")
            }
        }
        if let v = params.int("cancellation_period"), v >= 0 { plan.cancellationPeriod = v }
        switch params.string("state_event") {
        case "publish": plan.state = "published"
        case "hide": plan.state = "hidden"
        case nil: break
        default: errors.add("state_event", "is invalid")
        }
    }

    static func makeDefault(_ call: AdminCall, _ plan: Plan) async throws -> Plan {
        try await call.transaction { tx in
            let scope = plan.kind == .account ? RecordScope.tenant : RecordScope.product(plan.issuerID)
            for var other in try await tx.store.list(Plan.self, tenantID: tx.tenantID, scope: scope, lookupKey: plan.kind.rawValue)
            where other.isDefault && other.id != plan.id {
                other.isDefault = false
                try await tx.store.update(other)
            }
            var updated = plan
            updated.isDefault = true
            updated.updatedAt = tx.now
            try await tx.store.update(updated)
            return updated
        }
    }

    static func delete(_ plan: Plan, call: AdminCall, inUse: Bool) async throws {
        if inUse {
            throw AdminError(.refusedDeletion([("base", ["This plan cannot be deleted because it has contracts"])]))
        }
        try await call.transaction { tx in
            try await ProductCatalog.deletePlanContents(store: tx.store, tenantID: tx.tenantID, planID: plan.id)
            try await tx.store.delete(Plan.self, tenantID: tx.tenantID, id: plan.id)
        }
    }

    /// The application plan of the path and the metric, which must be the plan's product's or one of its backends'.
    static func planAndMetric(_ call: AdminCall) async throws -> (Plan, Metric) {
        let plan = try await call.requirePlan(try call.id("plan_id"), kind: .application)
        guard let metric = try await call.store.find(Metric.self, tenantID: call.tenantID, id: try call.id("metric_id")) else { throw AdminError.notFound }
        switch metric.owner {
        case .product(let id):
            guard id == plan.issuerID else { throw AdminError.notFound }
        case .backend(let id):
            let usages = try await call.store.list(BackendUsage.self, tenantID: call.tenantID, scope: RecordScope.product(plan.issuerID))
            guard usages.contains(where: { $0.backendID == id }) else { throw AdminError.notFound }
        }
        return (plan, metric)
    }

    private static func registerLimits(into r: inout AdminRouter) {
        let base = "/admin/api/application_plans/:plan_id/metrics/:metric_id/limits"
        r.get("/admin/api/application_plans/:plan_id/limits") { call in
            let plan = try await call.requirePlan(try call.id("plan_id"), kind: .application)
            let limits = call.params.paginate(try await call.store.list(UsageLimit.self, tenantID: call.tenantID, scope: RecordScope.plan(plan.id)))
            return AdminCall.collection("limits", limits.map(call.representer.limit))
        }
        r.get(base) { call in
            let (plan, metric) = try await planAndMetric(call)
            let limits = try await call.store.list(UsageLimit.self, tenantID: call.tenantID, scope: RecordScope.plan(plan.id))
                .filter { $0.metricID == metric.id }
            return AdminCall.collection("limits", limits.map(call.representer.limit))
        }
        r.post(base) { call in
            let (plan, metric) = try await planAndMetric(call)
            let params = try call.unwrapped("usage_limit")
            var limit = UsageLimit(tenantID: call.tenantID, planID: plan.id, metricID: metric.id, period: .eternity, value: 0, now: call.now)
            try await applyLimit(params, to: &limit, call: call, creating: true)
            return .created(call.representer.limit(try await call.store.insert(limit)))
        }
        r.get("\(base)/:id") { call in
            .json(call.representer.limit(try await requireLimit(call)))
        }
        r.put("\(base)/:id") { call in
            var limit = try await requireLimit(call)
            try await applyLimit(try call.unwrapped("usage_limit"), to: &limit, call: call, creating: false)
            limit.updatedAt = call.now
            try await call.store.update(limit)
            return .json(call.representer.limit(limit))
        }
        r.delete("\(base)/:id") { call in
            let limit = try await requireLimit(call)
            try await call.store.delete(UsageLimit.self, tenantID: call.tenantID, id: limit.id)
            return .deleted
        }
    }

    static func requireLimit(_ call: AdminCall) async throws -> UsageLimit {
        let (plan, metric) = try await planAndMetric(call)
        guard let limit = try await call.store.find(UsageLimit.self, tenantID: call.tenantID, id: try call.id("id")),
            limit.planID == plan.id, limit.metricID == metric.id
        else { throw AdminError.notFound }
        return limit
    }

    static func applyLimit(_ params: Parameters, to limit: inout UsageLimit, call: AdminCall, creating: Bool) async throws {
        var errors = ValidationErrors()
        if creating || params.has("period") {
            if let period = params.nonEmpty("period").flatMap(LimitPeriod.init(rawValue:)) {
                limit.period = period
            } else {
                errors.add("period", params.nonEmpty("period") == nil ? "can't be blank" : "is not included in the list")
            }
        }
        if creating || params.has("value") {
            if let value = params.int("value"), value >= 0 { limit.value = value } else { errors.add("value", "is not a number") }
        }
        let siblings = try await call.store.list(UsageLimit.self, tenantID: call.tenantID, scope: RecordScope.plan(limit.planID))
        if siblings.contains(where: { $0.metricID == limit.metricID && $0.period == limit.period && $0.id != limit.id }) {
            errors.add("period", "has already been taken")
        }
        try errors.throwIfAny()
    }

    /// Decimal text as porta renders it: "20" and 20 become "20.0".
    static func decimalText(_ value: Parameters, _ key: String) -> String? {
        guard let d = value.double(key), d.isFinite, d >= 0 else { return nil }
        if d == d.rounded(), abs(d) < 1e15 { return "\(Int64(d)).0" }
        return "\(d)"
    }

    private static func registerPricingRules(into r: inout AdminRouter) {
        let base = "/admin/api/application_plans/:plan_id/metrics/:metric_id/pricing_rules"
        r.get("/admin/api/application_plans/:plan_id/pricing_rules") { call in
            let plan = try await call.requirePlan(try call.id("plan_id"), kind: .application)
            let rules = try await call.store.list(PricingRule.self, tenantID: call.tenantID, scope: RecordScope.plan(plan.id))
            return AdminCall.collection("pricing_rules", rules.map(call.representer.pricingRule))
        }
        r.get(base) { call in
            let (plan, metric) = try await planAndMetric(call)
            let rules = try await call.store.list(PricingRule.self, tenantID: call.tenantID, scope: RecordScope.plan(plan.id))
                .filter { $0.metricID == metric.id }
            return AdminCall.collection("pricing_rules", rules.map(call.representer.pricingRule))
        }
        r.post(base) { call in
            let (plan, metric) = try await planAndMetric(call)
            let params = try call.unwrapped("pricing_rule")
            var errors = ValidationErrors()
            let min = params.int("min") ?? 1
            if min < 1 { errors.add("min", "must be greater than or equal to 1") }
            let max = params.int("max")
            if let max, max < min { errors.add("max", "must be greater than min") }
            let cost = decimalText(params, "cost_per_unit")
            if cost == nil { errors.add("cost_per_unit", "is not a number") }
            let siblings = try await call.store.list(PricingRule.self, tenantID: call.tenantID, scope: RecordScope.plan(plan.id))
                .filter { $0.metricID == metric.id }
            let upper = max ?? Int64.max
            if siblings.contains(where: { min <= ($0.max ?? Int64.max) && $0.min <= upper }) { errors.add("min", "overlaps with another pricing rule") }
            try errors.throwIfAny()
            let rule = try await call.store.insert(PricingRule(tenantID: call.tenantID, planID: plan.id, metricID: metric.id, min: min, max: max,
                                                               costPerUnit: cost ?? "0.0", now: call.now))
            return .created(call.representer.pricingRule(rule))
        }
        r.delete("\(base)/:id") { call in
            let (plan, metric) = try await planAndMetric(call)
            guard let rule = try await call.store.find(PricingRule.self, tenantID: call.tenantID, id: try call.id("id")),
                rule.planID == plan.id, rule.metricID == metric.id
            else { throw AdminError.notFound }
            try await call.store.delete(PricingRule.self, tenantID: call.tenantID, id: rule.id)
            return .deleted
        }
    }
}

extension Parameters {
    /// True when the key is present with JSON null or an empty string.
    fileprivate subscript(key key: String) -> Bool {
        guard let v = self[key] else { return false }
        if v.isNull { return true }
        if case .string(let s) = v { return s.isEmpty }
        return false
    }
}
