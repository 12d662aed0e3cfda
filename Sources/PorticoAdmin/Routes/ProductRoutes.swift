import PorticoCore
import PorticoStore

/// `/admin/api/services`: products.
enum ProductRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/services") { call in
            let products = call.params.paginate(try await call.visibleProducts())
            return AdminCall.collection("services", products.map(call.representer.product))
        }
        r.post("/admin/api/services") { call in
            let params = try call.unwrapped("service")
            var errors = ValidationErrors()
            let name = params.nonEmpty("name")
            if name == nil { errors.add("name", "can't be blank") }
            let systemName = params.nonEmpty("system_name") ?? SystemName.generate(from: name ?? "")
            if name != nil, !SystemName.isValid(systemName) { errors.add("system_name", "is invalid") }
            try validate(params, into: &errors)
            let taken = Set(try await call.store.list(Product.self, tenantID: call.tenantID).map(\.systemName))
            if name != nil, taken.contains(systemName) { errors.add("system_name", "has already been taken") }
            try errors.throwIfAny()
            let product = try await call.transaction { tx in
                try await ProductCatalog.createProduct(store: tx.store, tenant: tx.tenant, settings: tx.settings, name: name ?? "",
                                                       systemName: systemName, now: tx.now) { p in apply(params, to: &p) }
            }
            return .created(call.representer.product(product))
        }
        r.get("/admin/api/services/:id") { call in
            .json(call.representer.product(try await call.requireProduct(try call.id("id"))))
        }
        r.put("/admin/api/services/:id") { call in
            var product = try await call.requireProduct(try call.id("id"))
            let params = try call.unwrapped("service")
            var errors = ValidationErrors()
            if params.has("name"), params.nonEmpty("name") == nil { errors.add("name", "can't be blank") }
            try validate(params, into: &errors)
            try errors.throwIfAny()
            if let name = params.nonEmpty("name") { product.name = name }
            apply(params, to: &product)
            product.updatedAt = call.now
            try await call.store.update(product)
            return .json(call.representer.product(product))
        }
        r.delete("/admin/api/services/:id") { call in
            let product = try await call.requireProduct(try call.id("id"))
            try await call.transaction { tx in
                let count = try await tx.store.count(Product.self, tenantID: tx.tenantID)
                if count <= 1 {
                    throw AdminError(.invalidTransition(from: product.state, event: "mark_as_deleted",
                                                        message: "the last product of an account cannot be deleted"))
                }
                try await ProductCatalog.deleteProduct(store: tx.store, product: product)
            }
            return .deleted
        }
    }

    static let deploymentOptions = ["hosted", "self_managed", "service_mesh_istio"]

    static func validate(_ params: Parameters, into errors: inout ValidationErrors) throws {
        if let version = params.string("backend_version"), !["1", "2", "oidc", "oauth"].contains(version) {
            errors.add("backend_version", "is not included in the list")
        }
        if let option = params.string("deployment_option"), !deploymentOptions.contains(option), !option.hasPrefix("plugin_") {
            errors.add("deployment_option", "is not included in the list")
        }
        if let permission = params.string("buyer_plan_change_permission"),
            !["request", "direct", "credit_card", "request_credit_card", "none"].contains(permission)
        {
            errors.add("buyer_plan_change_permission", "is not included in the list")
        }
    }

    /// Applies the attributes a create or update may set; unknown and read-only keys are ignored.
    static func apply(_ params: Parameters, to p: inout Product) {
        if params.has("description") { p.description = params.string("description") }
        if let v = params.string("backend_version") { p.backendVersion = v == "oauth" ? "oidc" : v }
        if let v = params.string("deployment_option") { p.deploymentOption = v }
        if params.has("support_email") { p.supportEmail = params.string("support_email") }
        if let v = params.bool("intentions_required") { p.intentionsRequired = v }
        if let v = params.bool("buyers_manage_apps") { p.buyersManageApps = v }
        if let v = params.bool("buyers_manage_keys") { p.buyersManageKeys = v }
        if let v = params.bool("referrer_filters_required") { p.referrerFiltersRequired = v }
        if let v = params.bool("custom_keys_enabled") { p.customKeysEnabled = v }
        if let v = params.bool("buyer_key_regenerate_enabled") { p.buyerKeyRegenerateEnabled = v }
        if let v = params.bool("mandatory_app_key") { p.mandatoryAppKey = v }
        if let v = params.bool("buyer_can_select_plan") { p.buyerCanSelectPlan = v }
        if let v = params.string("buyer_plan_change_permission") { p.buyerPlanChangePermission = v }
        if case .object = params["notification_settings"] { p.notificationSettings = params["notification_settings"] }
        if let v = params.stringMap("annotations") { p.annotations = v }
        switch params.string("state_event") {
        case "publish": p.state = "published"
        case "hide": p.state = "hidden"
        case "deprecate": p.state = "deprecated"
        default: break
        }
    }
}
