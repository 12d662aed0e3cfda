import NIOHTTP1
import PorticoCore

/// Carries out one `ConfigurationChange` through the Account Management API, the way a 3scale admin
/// would by hand: the same endpoints, parameters and state events.
struct ChangeApplier {
    let api: AdminAPIClient
    let target: ConfigurationTarget

    typealias Unresolved = ConfigurationTarget.Unresolved

    func apply(_ change: ConfigurationChange) async throws {
        switch change.action {
        case .create: try await create(change)
        case .update: try await update(change)
        case .delete: try await delete(change)
        }
    }

    // MARK: where things live

    func ancestor(_ change: ConfigurationChange, _ field: String) -> ConfigurationChange.Ancestor? {
        change.ancestors.last { $0.schema.field == field }
    }

    func ancestorID(_ change: ConfigurationChange, _ field: String) throws -> Int64 {
        guard let a = ancestor(change, field), let id = ConfigurationTarget.id(a.actual) else {
            throw Unresolved(description: "\(field) of \(change.path) has no id")
        }
        return id
    }

    /// `/admin/api/services/{id}` or `/admin/api/backend_apis/{id}`: the owner of a metric or mapping rule.
    func ownerPath(_ change: ConfigurationChange) throws -> (path: String, owner: JSONObject) {
        if let product = ancestor(change, "products"), let id = ConfigurationTarget.id(product.actual) {
            return ("/admin/api/services/\(id)", product.actual)
        }
        if let backend = ancestor(change, "backend_apis"), let id = ConfigurationTarget.id(backend.actual) {
            return ("/admin/api/backend_apis/\(id)", backend.actual)
        }
        throw Unresolved(description: "the owner of \(change.path) does not exist yet")
    }

    func mappingRulesPath(_ change: ConfigurationChange) throws -> String {
        let (path, _) = try ownerPath(change)
        return path.hasPrefix("/admin/api/services/") ? "\(path)/proxy/mapping_rules" : "\(path)/mapping_rules"
    }

    func productSystemName(_ change: ConfigurationChange) -> String? { ancestor(change, "products")?.key }

    func planPath(_ change: ConfigurationChange, id: Int64? = nil) throws -> String {
        switch change.schema.field {
        case "account_plans": return "/admin/api/account_plans" + (id.map { "/\($0)" } ?? "")
        case let field:
            return "/admin/api/services/\(try ancestorID(change, "products"))/\(field)" + (id.map { "/\($0)" } ?? "")
        }
    }

    func id(_ change: ConfigurationChange) throws -> Int64 {
        guard let id = ConfigurationTarget.id(change.actual) else { throw Unresolved(description: "\(change.path) has no id") }
        return id
    }

    // MARK: create

    func create(_ change: ConfigurationChange) async throws {
        guard let d = change.desired else { return }
        switch change.schema.field {
        case "fields_definitions":
            try await api.send(.POST, "/admin/api/fields_definitions", pick(d, ["target", "name", "label", "required", "hidden", "read_only", "choices"]))
        case "account_features":
            var body = pick(d, ["name", "system_name", "description"])
            body["scope"] = "account_plan"
            try await api.send(.POST, "/admin/api/features", body)
        case "features":
            try await api.send(.POST, "/admin/api/services/\(try ancestorID(change, "products"))/features", pick(d, ["name", "system_name", "description", "scope"]))
        case "account_plans", "application_plans", "service_plans":
            var body = pick(d, ["name", "system_name", "description", "approval_required", "setup_fee", "cost_per_month", "trial_period_days",
                                "cancellation_period"])
            if let event = stateEvent(plan: d["state"]) { body["state_event"] = .string(event) }
            try await api.send(.POST, try planPath(change), body)
        case "backend_apis":
            try await api.send(.POST, "/admin/api/backend_apis", pick(d, ["name", "system_name", "description", "private_endpoint"]))
        case "metrics":
            try await api.send(.POST, "\(try ownerPath(change).path)/metrics", pick(d, ["friendly_name", "system_name", "unit", "description"]))
        case "methods":
            let parent = try ancestorID(change, "metrics")
            try await api.send(.POST, "\(try ownerPath(change).path)/metrics/\(parent)/methods", pick(d, ["friendly_name", "system_name", "description"]))
        case "mapping_rules":
            var body = pick(d, ["http_method", "pattern", "delta", "position", "last", "redirect_url"])
            body["metric_id"] = .int(try target.metricID(d, owner: try ownerPath(change).owner))
            try await api.send(.POST, try mappingRulesPath(change), body)
        case "products":
            var body = pick(d, ["name", "system_name", "description", "deployment_option", "backend_version", "support_email", "intentions_required",
                                "buyers_manage_apps", "buyers_manage_keys", "referrer_filters_required", "custom_keys_enabled",
                                "buyer_key_regenerate_enabled", "mandatory_app_key", "buyer_can_select_plan", "buyer_plan_change_permission",
                                "annotations"])
            if body["annotations"]?.objectValue?.isEmpty == true { body["annotations"] = nil }
            try await api.send(.POST, "/admin/api/services", body)
        case "backend_usages":
            guard let backend = d["backend"]?.stringValue else { return }
            try await api.send(.POST, "/admin/api/services/\(try ancestorID(change, "products"))/backend_usages",
                               ["backend_api_id": .int(try target.backendID(backend)), "path": d["path"] ?? "/"])
        case "limits":
            let plan = try ancestorID(change, "application_plans")
            let metric = try target.metricID(d, owner: try ownerPath(change).owner)
            try await api.send(.POST, "/admin/api/application_plans/\(plan)/metrics/\(metric)/limits", pick(d, ["period", "value"]))
        case "pricing_rules":
            let plan = try ancestorID(change, "application_plans")
            let metric = try target.metricID(d, owner: try ownerPath(change).owner)
            try await api.send(.POST, "/admin/api/application_plans/\(plan)/metrics/\(metric)/pricing_rules", pick(d, ["min", "max", "cost_per_unit"]))
        case "active_docs":
            var body = pick(d, ["name", "system_name", "description", "published", "skip_swagger_validations", "body"])
            if let product = d["product"]?.stringValue { body["service_id"] = .int(try target.productID(product)) }
            try await api.send(.POST, "/admin/api/active_docs", body)
        case "accounts":
            // 3scale creates a developer account together with its first user (signup).
            let users = d["users"]?.arrayValue?.compactMap(\.objectValue) ?? []
            guard let first = users.first(where: { $0["role"]?.stringValue == "admin" }) ?? users.first else {
                throw OperationsError("\(change.path) has no users; 3scale creates a developer account with its first user, so the document must list at least one")
            }
            var body = pick(d, ["org_name"])
            body["username"] = first["username"] ?? .null
            body["email"] = first["email"] ?? .null
            if let plan = d["plan"]?.stringValue { body["account_plan_id"] = .int(try target.accountPlanID(plan)) }
            for (k, v) in (d["fields"]?.objectValue ?? JSONObject()).entries { body[k] = v }
            for (k, v) in (first["fields"]?.objectValue ?? JSONObject()).entries where body[k] == nil { body[k] = v }
            try await api.send(.POST, "/admin/api/signup", body)
        case "users":
            var body = pick(d, ["username", "email"])
            for (k, v) in (d["fields"]?.objectValue ?? JSONObject()).entries { body[k] = v }
            try await api.send(.POST, "/admin/api/accounts/\(try ancestorID(change, "accounts"))/users", body)
        case "service_subscriptions":
            guard let product = d["product"]?.stringValue, let plan = d["plan"]?.stringValue else { return }
            try await api.send(.POST, "/admin/api/accounts/\(try ancestorID(change, "accounts"))/service_subscriptions",
                               ["plan_id": .int(try target.planID(product: product, field: "service_plans", systemName: plan))])
        case "applications":
            guard let product = d["product"]?.stringValue, let plan = d["plan"]?.stringValue else { return }
            var body = pick(d, ["name", "description", "user_key", "application_id", "redirect_url"])
            body["plan_id"] = .int(try target.planID(product: product, field: "application_plans", systemName: plan))
            if let key = d["keys"]?.arrayValue?.first { body["application_key"] = key }
            for (k, v) in (d["fields"]?.objectValue ?? JSONObject()).entries { body[k] = v }
            try await api.send(.POST, "/admin/api/accounts/\(try ancestorID(change, "accounts"))/applications", body)
        default:
            throw OperationsError("\(change.path): creating a \(change.schema.label) is not supported")
        }
    }

    // MARK: update

    func update(_ change: ConfigurationChange) async throws {
        guard let d = change.desired else { return }
        let changed = Set(change.fields.map { String($0.name.split(separator: ".").first ?? "") })
        let plain = { (names: [String]) -> JSONObject in pick(d, names.filter { changed.contains($0) }) }
        let id = try id(change)
        switch change.schema.field {
        case "fields_definitions":
            var body = plain(["label", "required", "hidden", "read_only", "choices"])
            body["target"] = d["target"] ?? .null
            try await api.send(.PUT, "/admin/api/fields_definitions/\(id)", body)
        case "account_features":
            try await api.send(.PUT, "/admin/api/features/\(id)", plain(["name", "description"]))
        case "features":
            try await api.send(.PUT, "/admin/api/services/\(try ancestorID(change, "products"))/features/\(id)", plain(["name", "description"]))
        case "account_plans", "application_plans", "service_plans":
            var body = plain(["name", "description", "approval_required", "setup_fee", "cost_per_month", "trial_period_days", "cancellation_period"])
            if changed.contains("state"), let event = stateEvent(plan: d["state"]) { body["state_event"] = .string(event) }
            if !body.isEmpty { try await api.send(.PUT, try planPath(change, id: id), body) }
            if changed.contains("default"), d["default"] == .bool(true) { try await api.send(.PUT, "\(try planPath(change, id: id))/default") }
            if changed.contains("features") { try await syncPlanFeatures(change, planID: id) }
        case "backend_apis":
            try await api.send(.PUT, "/admin/api/backend_apis/\(id)", plain(["name", "description", "private_endpoint"]))
        case "metrics":
            try await api.send(.PUT, "\(try ownerPath(change).path)/metrics/\(id)", plain(["friendly_name", "unit", "description"]))
        case "methods":
            let parent = try ancestorID(change, "metrics")
            try await api.send(.PUT, "\(try ownerPath(change).path)/metrics/\(parent)/methods/\(id)", plain(["friendly_name", "description"]))
        case "mapping_rules":
            try await api.send(.PUT, "\(try mappingRulesPath(change))/\(id)", plain(["delta", "position", "last", "redirect_url"]))
        case "products":
            let product = plain(["name", "description", "deployment_option", "backend_version", "support_email", "intentions_required",
                                 "buyers_manage_apps", "buyers_manage_keys", "referrer_filters_required", "custom_keys_enabled",
                                 "buyer_key_regenerate_enabled", "mandatory_app_key", "buyer_can_select_plan", "buyer_plan_change_permission",
                                 "annotations"])
            if !product.isEmpty { try await api.send(.PUT, "/admin/api/services/\(id)", product) }
            let proxyChanges = change.fields.filter { $0.name.hasPrefix("proxy.") }
            if !proxyChanges.isEmpty {
                var body = JSONObject()
                for field in proxyChanges { body[String(field.name.dropFirst("proxy.".count))] = field.new }
                try await api.send(.PUT, "/admin/api/services/\(id)/proxy", body)
            }
            if changed.contains("policies"), let policies = d["policies"] {
                try await api.send(.PUT, "/admin/api/services/\(id)/proxy/policies", ["policies_config": policies])
            }
        case "backend_usages":
            try await api.send(.PUT, "/admin/api/services/\(try ancestorID(change, "products"))/backend_usages/\(id)", plain(["path"]))
        case "limits":
            let plan = try ancestorID(change, "application_plans")
            let metric = try target.metricID(d, owner: try ownerPath(change).owner)
            try await api.send(.PUT, "/admin/api/application_plans/\(plan)/metrics/\(metric)/limits/\(id)", plain(["value"]))
        case "pricing_rules":
            // 3scale has no update for pricing rules: replace the rule.
            try await delete(change)
            try await create(change)
        case "active_docs":
            var body = plain(["name", "description", "published", "skip_swagger_validations", "body"])
            if changed.contains("product") {
                body["service_id"] = try d["product"]?.stringValue.map { .int(try target.productID($0)) } ?? .null
            }
            try await api.send(.PUT, "/admin/api/active_docs/\(id)", body)
        case "accounts":
            var body = plain(["org_name", "monthly_billing_enabled", "monthly_charging_enabled", "annotations"])
            for field in change.fields where field.name.hasPrefix("fields.") { body[String(field.name.dropFirst("fields.".count))] = field.new }
            if !body.isEmpty { try await api.send(.PUT, "/admin/api/accounts/\(id)", body) }
            if changed.contains("plan"), let plan = d["plan"]?.stringValue {
                try await api.send(.PUT, "/admin/api/accounts/\(id)/change_plan", ["plan_id": .int(try target.accountPlanID(plan))])
            }
            if changed.contains("state"), let state = d["state"]?.stringValue {
                let events = ["approved": "approve", "rejected": "reject", "pending": "make_pending", "suspended": "suspend"]
                guard let event = events[state] else { throw OperationsError("\(change.path): unknown account state `\(state)`") }
                if change.actual?["state"]?.stringValue == "suspended", state == "approved" {
                    try await api.send(.PUT, "/admin/api/accounts/\(id)/resume")
                } else {
                    try await api.send(.PUT, "/admin/api/accounts/\(id)/\(event)")
                }
            }
        case "users":
            let account = try ancestorID(change, "accounts")
            var body = plain(["email"])
            for field in change.fields where field.name.hasPrefix("fields.") { body[String(field.name.dropFirst("fields.".count))] = field.new }
            if !body.isEmpty { try await api.send(.PUT, "/admin/api/accounts/\(account)/users/\(id)", body) }
            if changed.contains("role"), let role = d["role"]?.stringValue {
                try await api.send(.PUT, "/admin/api/accounts/\(account)/users/\(id)/\(role == "admin" ? "admin" : "member")")
            }
            if changed.contains("state"), let state = d["state"]?.stringValue {
                let event: String
                switch (change.actual?["state"]?.stringValue, state) {
                case ("suspended", "active"): event = "unsuspend"
                case (_, "active"): event = "activate"
                case (_, "suspended"): event = "suspend"
                default: throw OperationsError("\(change.path): a user cannot be moved to state `\(state)` through the API")
                }
                try await api.send(.PUT, "/admin/api/accounts/\(account)/users/\(id)/\(event)")
            }
        case "service_subscriptions":
            guard let product = d["product"]?.stringValue, let plan = d["plan"]?.stringValue else { return }
            try await api.send(.PUT, "/admin/api/accounts/\(try ancestorID(change, "accounts"))/service_subscriptions/\(id)/change_plan",
                               ["plan_id": .int(try target.planID(product: product, field: "service_plans", systemName: plan))])
        case "applications":
            try await updateApplication(change, d, id: id, changed: changed)
        default:
            throw OperationsError("\(change.path): changing a \(change.schema.label) is not supported")
        }
    }

    func updateApplication(_ change: ConfigurationChange, _ d: JSONObject, id: Int64, changed: Set<String>) async throws {
        let base = "/admin/api/accounts/\(try ancestorID(change, "accounts"))/applications/\(id)"
        var body = pick(d, ["name", "description", "user_key", "application_id", "redirect_url"].filter { changed.contains($0) })
        for field in change.fields where field.name.hasPrefix("fields.") { body[String(field.name.dropFirst("fields.".count))] = field.new }
        if !body.isEmpty { try await api.send(.PUT, base, body) }
        if changed.contains("plan"), let product = d["product"]?.stringValue, let plan = d["plan"]?.stringValue {
            try await api.send(.PUT, "\(base)/change_plan", ["plan_id": .int(try target.planID(product: product, field: "application_plans", systemName: plan))])
        }
        if changed.contains("keys") {
            let wanted = Set(d["keys"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let current = Set(change.actual?["keys"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            // Add first: a product that requires an app key refuses to delete an application's last one.
            for key in wanted.subtracting(current).sorted() { try await api.send(.POST, "\(base)/keys", ["key": .string(key)]) }
            for key in current.subtracting(wanted).sorted() { try await api.send(.DELETE, "\(base)/keys/\(FormEncoding.escape(key))") }
        }
        if changed.contains("referrer_filters") {
            let wanted = Set(d["referrer_filters"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let filters = try await api.list("\(base)/referrer_filters")
            for filter in filters {
                if let value = filter["value"]?.stringValue, !wanted.contains(value), let filterID = filter["id"]?.intValue {
                    try await api.send(.DELETE, "\(base)/referrer_filters/\(filterID)")
                }
            }
            let present = Set(filters.compactMap { $0["value"]?.stringValue })
            for value in wanted.subtracting(present).sorted() { try await api.send(.POST, "\(base)/referrer_filters", ["referrer_filter": .string(value)]) }
        }
        if changed.contains("state"), let state = d["state"]?.stringValue {
            let event: String
            switch (change.actual?["state"]?.stringValue, state) {
            case ("pending", "live"): event = "accept"
            case ("suspended", "live"): event = "resume"
            case (_, "suspended"): event = "suspend"
            default: throw OperationsError("\(change.path): an application cannot be moved to state `\(state)` through the API")
            }
            try await api.send(.PUT, "\(base)/\(event)")
        }
    }

    func syncPlanFeatures(_ change: ConfigurationChange, planID: Int64) async throws {
        let kind = change.schema.field
        let product = kind == "account_plans" ? nil : productSystemName(change)
        let wanted = Set(change.desired?["features"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let current = Set(change.actual?["features"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for name in wanted.subtracting(current).sorted() {
            try await api.send(.POST, "/admin/api/\(kind)/\(planID)/features", ["feature_id": .int(try target.featureID(product: product, systemName: name))])
        }
        for name in current.subtracting(wanted).sorted() {
            try await api.send(.DELETE, "/admin/api/\(kind)/\(planID)/features/\(try target.featureID(product: product, systemName: name))")
        }
    }

    // MARK: delete

    func delete(_ change: ConfigurationChange) async throws {
        let id = try id(change)
        let path: String
        switch change.schema.field {
        case "fields_definitions": path = "/admin/api/fields_definitions/\(id)"
        case "account_features": path = "/admin/api/features/\(id)"
        case "features": path = "/admin/api/services/\(try ancestorID(change, "products"))/features/\(id)"
        case "account_plans", "application_plans", "service_plans": path = try planPath(change, id: id)
        case "backend_apis": path = "/admin/api/backend_apis/\(id)"
        case "metrics": path = "\(try ownerPath(change).path)/metrics/\(id)"
        case "methods": path = "\(try ownerPath(change).path)/metrics/\(try ancestorID(change, "metrics"))/methods/\(id)"
        case "mapping_rules": path = "\(try mappingRulesPath(change))/\(id)"
        case "products": path = "/admin/api/services/\(id)"
        case "backend_usages": path = "/admin/api/services/\(try ancestorID(change, "products"))/backend_usages/\(id)"
        case "limits", "pricing_rules":
            let plan = try ancestorID(change, "application_plans")
            guard let reference = change.actual else { return }
            let metric = try target.metricID(reference, owner: try ownerPath(change).owner)
            path = "/admin/api/application_plans/\(plan)/metrics/\(metric)/\(change.schema.field)/\(id)"
        case "active_docs": path = "/admin/api/active_docs/\(id)"
        case "accounts": path = "/admin/api/accounts/\(id)"
        case "users": path = "/admin/api/accounts/\(try ancestorID(change, "accounts"))/users/\(id)"
        case "service_subscriptions": path = "/admin/api/accounts/\(try ancestorID(change, "accounts"))/service_subscriptions/\(id)"
        case "applications": path = "/admin/api/accounts/\(try ancestorID(change, "accounts"))/applications/\(id)"
        default: throw OperationsError("\(change.path): deleting a \(change.schema.label) is not supported")
        }
        try await api.send(.DELETE, path)
    }

    // MARK: values

    func pick(_ object: JSONObject, _ names: [String]) -> JSONObject {
        var out = JSONObject()
        for name in names { if let value = object[name] { out[name] = value } }
        return out
    }

    func stateEvent(plan state: JSONValue?) -> String? {
        switch state?.stringValue {
        case "published": return "publish"
        case "hidden": return "hide"
        default: return nil
        }
    }
}
