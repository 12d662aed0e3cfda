import PorticoCore

/// Reads a tenant's whole configuration through the Account Management API into one document keyed by
/// system names (see `ConfigurationSchema`). Works against any 3scale-compatible admin API.
///
/// Every object also carries `_id`, the numeric id on the instance it was read from; the importer uses
/// those ids to address what it changes, and they are removed before a document is written to a file.
public struct TenantExport: Sendable {
    let api: AdminAPIClient
    let progress: @Sendable (String) -> Void

    public init(api: AdminAPIClient, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.api = api
        self.progress = progress
    }

    /// Metrics and methods by id, named by system name and qualified by their backend.
    struct MetricNames {
        var byID: [Int64: (backend: String?, systemName: String)] = [:]

        func reference(_ id: Int64?, into object: inout JSONObject) {
            guard let id, let name = byID[id] else {
                object["metric"] = .null
                return
            }
            object["metric"] = .string(name.systemName)
            if let backend = name.backend { object["backend"] = .string(backend) }
        }
    }

    /// The document, with credentials (they are removed later unless the user asked for them) and `_id`s.
    public func read() async throws -> JSONObject {
        var document: JSONObject = [ConfigurationSchema.formatField: .int(ConfigurationSchema.formatVersion)]
        document["exported_from"] = .string(api.baseURL)

        progress("reading fields definitions")
        document["fields_definitions"] = .array(try await api.list("/admin/api/fields_definitions").map { f in
            .object(pick(f, ["target", "name", "label", "required", "hidden", "read_only", "choices"]))
        })

        progress("reading account features and plans")
        let accountFeatures = try await api.list("/admin/api/features")
        document["account_features"] = .array(accountFeatures.map { .object(pick($0, ["system_name", "name", "description"])) })
        let accountPlans = try await api.list("/admin/api/account_plans")
        var accountPlanNames: [Int64: String] = [:]
        var plans: [JSONValue] = []
        for plan in accountPlans {
            var out = planFields(plan)
            out["features"] = try await planFeatures(kind: "account_plans", plan)
            plans.append(.object(out))
            if let id = plan["id"]?.intValue, let name = plan["name"]?.stringValue { accountPlanNames[id] = name }
        }
        document["account_plans"] = .array(plans)

        progress("reading backends")
        var metricNames = MetricNames()
        var backendNames: [Int64: String] = [:]
        var backends: [JSONValue] = []
        let backendList = try await api.list("/admin/api/backend_apis")
        for backend in backendList {
            guard let id = backend["id"]?.intValue, let systemName = backend["system_name"]?.stringValue else { continue }
            backendNames[id] = systemName
            var out = pick(backend, ["system_name", "name", "description", "private_endpoint"])
            let metrics = try await readMetrics("/admin/api/backend_apis/\(id)", backendID: id)
            for (metricID, name) in metrics.names { metricNames.byID[metricID] = (systemName, name) }
            out["metrics"] = .array(metrics.document)
            backends.append(.object(out))
        }
        // Backend mapping rules may name only the backend's own metrics, which are all known now.
        for (index, backend) in backendList.enumerated() where index < backends.count {
            guard let id = backend["id"]?.intValue, var out = backends[index].objectValue else { continue }
            out["mapping_rules"] = .array(try await api.list("/admin/api/backend_apis/\(id)/mapping_rules").map { mappingRule($0, metricNames) })
            backends[index] = .object(out)
        }
        document["backend_apis"] = .array(backends)

        var productNames: [Int64: String] = [:]
        var productVersions: [String: String] = [:]
        var referrerFiltersRequired: Set<String> = []
        var planNames: [Int64: String] = [:]
        var products: [JSONValue] = []
        let productList = try await api.list("/admin/api/services")
        for (index, product) in productList.enumerated() {
            guard let id = product["id"]?.intValue, let systemName = product["system_name"]?.stringValue else { continue }
            progress("reading product \(index + 1) of \(productList.count): \(systemName)")
            productNames[id] = systemName
            productVersions[systemName] = product["backend_version"]?.stringValue ?? "1"
            if product["referrer_filters_required"] == .bool(true) { referrerFiltersRequired.insert(systemName) }
            var out = pick(product, ["system_name", "name", "description", "deployment_option", "backend_version", "support_email",
                                     "intentions_required", "buyers_manage_apps", "buyers_manage_keys", "referrer_filters_required",
                                     "custom_keys_enabled", "buyer_key_regenerate_enabled", "mandatory_app_key", "buyer_can_select_plan",
                                     "buyer_plan_change_permission"])
            if let annotations = product["annotations"]?.objectValue, !annotations.isEmpty { out["annotations"] = .object(annotations) }
            out["proxy"] = .object(proxyFields(try await api.get("/admin/api/services/\(id)/proxy"),
                                               selfManaged: product["deployment_option"]?.stringValue != "hosted"))
            let policies = try await api.request(.GET, "/admin/api/services/\(id)/proxy/policies")
            out["policies"] = policies["policies_config"] ?? .array([])

            let metrics = try await readMetrics("/admin/api/services/\(id)", backendID: nil)
            var names = metricNames
            for (metricID, name) in metrics.names { names.byID[metricID] = (nil, name) }
            out["metrics"] = .array(metrics.document)
            out["mapping_rules"] = .array(try await api.list("/admin/api/services/\(id)/proxy/mapping_rules").map { mappingRule($0, names) })
            out["backend_usages"] = .array(try await api.list("/admin/api/services/\(id)/backend_usages").map { usage in
                var u: JSONObject = ["_id": usage["id"] ?? .null]
                u["backend"] = usage["backend_id"].flatMap(\.intValue).flatMap { backendNames[$0] }.map(JSONValue.string) ?? .null
                u["path"] = usage["path"] ?? .string("/")
                return .object(u)
            })
            out["features"] = .array(try await api.list("/admin/api/services/\(id)/features").map {
                .object(pick($0, ["system_name", "name", "description", "scope"]))
            })
            var applicationPlans: [JSONValue] = []
            for plan in try await api.list("/admin/api/services/\(id)/application_plans") where plan["custom"] != .bool(true) {
                guard let planID = plan["id"]?.intValue else { continue }
                planNames[planID] = plan["system_name"]?.stringValue
                var p = planFields(plan)
                p["features"] = try await planFeatures(kind: "application_plans", plan)
                p["limits"] = .array(try await api.list("/admin/api/application_plans/\(planID)/limits").map { limit in
                    var l: JSONObject = ["_id": limit["id"] ?? .null]
                    names.reference(limit["metric_id"]?.intValue, into: &l)
                    l["period"] = limit["period"] ?? .null
                    l["value"] = limit["value"] ?? .null
                    return .object(l)
                })
                p["pricing_rules"] = .array(try await api.list("/admin/api/application_plans/\(planID)/pricing_rules").map { rule in
                    var r: JSONObject = ["_id": rule["id"] ?? .null]
                    names.reference(rule["metric_id"]?.intValue, into: &r)
                    r["min"] = rule["min"] ?? .null
                    r["max"] = rule["max"] ?? .null
                    r["cost_per_unit"] = rule["cost_per_unit"] ?? .null
                    return .object(r)
                })
                applicationPlans.append(.object(p))
            }
            out["application_plans"] = .array(applicationPlans)
            var servicePlans: [JSONValue] = []
            for plan in try await api.list("/admin/api/services/\(id)/service_plans") {
                if let planID = plan["id"]?.intValue { planNames[planID] = plan["system_name"]?.stringValue }
                var p = planFields(plan)
                p["features"] = try await planFeatures(kind: "service_plans", plan)
                servicePlans.append(.object(p))
            }
            out["service_plans"] = .array(servicePlans)
            products.append(.object(out))
        }
        document["products"] = .array(products)

        progress("reading ActiveDocs")
        document["active_docs"] = .array(try await api.list("/admin/api/active_docs").map { doc in
            var d = pick(doc, ["system_name", "name", "description", "published", "skip_swagger_validations"])
            d["product"] = doc["service_id"].flatMap(\.intValue).flatMap { productNames[$0] }.map(JSONValue.string) ?? .null
            d["body"] = doc["body"] ?? .null
            return .object(d)
        })

        let accountList = try await api.list("/admin/api/accounts")
        let context = AccountContext(accountPlanNames: accountPlanNames, productNames: productNames, planNames: planNames,
                                     productVersions: productVersions, referrerFiltersRequired: referrerFiltersRequired)
        // Each account costs several requests; a few at a time keep a remote API busy without flooding it.
        var accounts = [JSONValue?](repeating: nil, count: accountList.count)
        try await withThrowingTaskGroup(of: (Int, JSONValue?).self) { group in
            var next = 0, done = 0
            while next < min(Self.parallelRequests, accountList.count) {
                let index = next
                group.addTask { (index, try await self.readAccount(accountList[index], context)) }
                next += 1
            }
            while let (index, value) = try await group.next() {
                accounts[index] = value
                done += 1
                if done % 250 == 0 || done == accountList.count { progress("read \(done) of \(accountList.count) developer accounts") }
                if next < accountList.count {
                    let index = next
                    group.addTask { (index, try await self.readAccount(accountList[index], context)) }
                    next += 1
                }
            }
        }
        document["accounts"] = .array(accounts.compactMap { $0 })
        return document
    }

    static let parallelRequests = 8

    /// What reading a developer account needs to name the things it refers to.
    struct AccountContext: Sendable {
        let accountPlanNames: [Int64: String]
        let productNames: [Int64: String]
        let planNames: [Int64: String]
        let productVersions: [String: String]
        let referrerFiltersRequired: Set<String>
    }

    /// One developer account with its users, subscriptions and applications.
    func readAccount(_ account: JSONObject, _ context: AccountContext) async throws -> JSONValue? {
        guard let id = account["id"]?.intValue else { return nil }
        var out = pick(account, ["org_name", "state", "monthly_billing_enabled", "monthly_charging_enabled"])
        out["plan"] = try await accountPlan(id, context.accountPlanNames)
        if let annotations = account["annotations"]?.objectValue, !annotations.isEmpty { out["annotations"] = .object(annotations) }
        let fields = extraFields(account, known: Self.knownAccountKeys)
        if !fields.isEmpty { out["fields"] = .object(fields) }
        out["users"] = .array(try await api.list("/admin/api/accounts/\(id)/users").map { user in
            var u = pick(user, ["username", "email", "role", "state"])
            let fields = extraFields(user, known: Self.knownUserKeys)
            if !fields.isEmpty { u["fields"] = .object(fields) }
            return .object(u)
        })
        out["service_subscriptions"] = .array(try await api.list("/admin/api/accounts/\(id)/service_subscriptions").map { sub in
            var s: JSONObject = ["_id": sub["id"] ?? .null]
            s["product"] = sub["service_id"].flatMap(\.intValue).flatMap { context.productNames[$0] }.map(JSONValue.string) ?? .null
            s["plan"] = sub["plan_id"].flatMap(\.intValue).flatMap { context.planNames[$0] }.map(JSONValue.string) ?? .null
            return .object(s)
        })
        var applications: [JSONValue] = []
        for app in try await api.list("/admin/api/accounts/\(id)/applications") {
            guard let appID = app["id"]?.intValue else { continue }
            let product = app["service_id"].flatMap(\.intValue).flatMap { context.productNames[$0] }
            var a: JSONObject = ["_id": .int(appID)]
            a["product"] = product.map(JSONValue.string) ?? .null
            a["name"] = app["name"] ?? .null
            a["description"] = app["description"] ?? .null
            a["plan"] = app["plan_id"].flatMap(\.intValue).flatMap { context.planNames[$0] }.map(JSONValue.string) ?? .null
            a["state"] = app["state"] ?? .null
            if let redirect = app["redirect_url"] { a["redirect_url"] = redirect }
            let fields = extraFields(app, known: Self.knownApplicationKeys)
            if !fields.isEmpty { a["fields"] = .object(fields) }
            let version = product.flatMap { context.productVersions[$0] } ?? "1"
            if version == "1" {
                a["user_key"] = app["user_key"] ?? .null
            } else {
                a["application_id"] = app["application_id"] ?? .null
                let keys = try await api.list("/admin/api/accounts/\(id)/applications/\(appID)/keys").compactMap { $0["value"]?.stringValue }
                a["keys"] = .array(keys.sorted().map(JSONValue.string))
            }
            // 3scale checks referrer filters only for products that require them; reading them costs a request per application.
            if let product, context.referrerFiltersRequired.contains(product) {
                let filters = try await api.list("/admin/api/accounts/\(id)/applications/\(appID)/referrer_filters")
                a["referrer_filters"] = .array(filters.compactMap { $0["value"]?.stringValue }.sorted().map(JSONValue.string))
            }
            applications.append(.object(a))
        }
        out["applications"] = .array(applications)
        out["_id"] = .int(id)
        return .object(out)
    }

    // MARK: pieces

    /// Copies the named fields in order (missing ones are left out) and keeps the id for the importer.
    func pick(_ object: JSONObject, _ names: [String]) -> JSONObject {
        var out = JSONObject()
        for name in names { if let value = object[name] { out[name] = value } }
        if let id = object["id"] { out["_id"] = id }
        return out
    }

    func planFields(_ plan: JSONObject) -> JSONObject {
        // Account plans carry no system name in 3scale's JSON; they are matched by name.
        pick(plan, ["system_name", "name", "description", "state", "approval_required", "setup_fee", "cost_per_month",
                    "trial_period_days", "cancellation_period", "default"])
    }

    func planFeatures(kind: String, _ plan: JSONObject) async throws -> JSONValue {
        guard let id = plan["id"]?.intValue else { return .array([]) }
        let names = try await api.list("/admin/api/\(kind)/\(id)/features").compactMap { $0["system_name"]?.stringValue }
        return .array(names.sorted().map(JSONValue.string))
    }

    static let proxyFields = [
        "credentials_location", "auth_user_key", "auth_app_id", "auth_app_key", "hostname_rewrite", "oauth_login_url", "api_test_path",
        "oidc_issuer_type", "jwt_claim_with_client_id", "jwt_claim_with_client_id_type",
        "error_status_auth_failed", "error_headers_auth_failed", "error_auth_failed",
        "error_status_auth_missing", "error_headers_auth_missing", "error_auth_missing",
        "error_status_no_match", "error_headers_no_match", "error_no_match",
        "error_status_limits_exceeded", "error_headers_limits_exceeded", "error_limits_exceeded",
        "secret_token", "oidc_issuer_endpoint",
    ]

    /// Hosted products get their gateway hosts from the instance's own domain, so only self-managed ones carry them.
    func proxyFields(_ proxy: JSONObject, selfManaged: Bool) -> JSONObject {
        var out = JSONObject()
        if selfManaged {
            for name in ["endpoint", "sandbox_endpoint"] { if let value = proxy[name] { out[name] = value } }
        }
        for name in Self.proxyFields { if let value = proxy[name] { out[name] = value } }
        return out
    }

    func mappingRule(_ rule: JSONObject, _ names: MetricNames) -> JSONValue {
        var out = pick(rule, ["http_method", "pattern"])
        names.reference(rule["metric_id"]?.intValue, into: &out)
        for name in ["delta", "last", "position", "redirect_url"] { if let value = rule[name] { out[name] = value } }
        return .object(out)
    }

    /// Metrics with their methods nested; 3scale lists methods among the metrics (with a parent_id) or only under `hits`.
    /// A backend's metrics are shown with the backend's id appended (`hits.42`), which differs between instances: it is removed,
    /// and 3scale appends the target's own id when the importer creates the metric.
    func readMetrics(_ owner: String, backendID: Int64?) async throws -> (document: [JSONValue], names: [(Int64, String)]) {
        let all = try await api.list("\(owner)/metrics").map { withoutBackendSuffix($0, backendID) }
        var names: [(Int64, String)] = []
        for item in all { if let id = item["id"]?.intValue, let name = item["system_name"]?.stringValue { names.append((id, name)) } }
        var methodsByParent: [Int64: [JSONObject]] = [:]
        var methodIDs = Set<Int64>()
        if all.contains(where: { $0["parent_id"] != nil && $0["parent_id"] != .null }) {
            for item in all { if let parent = item["parent_id"]?.intValue { methodsByParent[parent, default: []].append(item) } }
        } else if let hits = all.first(where: { ($0["system_name"]?.stringValue ?? "").hasPrefix("hits") }), let hitsID = hits["id"]?.intValue {
            let methods = try await api.list("\(owner)/metrics/\(hitsID)/methods").map { withoutBackendSuffix($0, backendID) }
            methodsByParent[hitsID] = methods
            for m in methods {
                if let id = m["id"]?.intValue, let name = m["system_name"]?.stringValue {
                    methodIDs.insert(id)
                    if !names.contains(where: { $0.0 == id }) { names.append((id, name)) }
                }
            }
        }
        var document: [JSONValue] = []
        for metric in all {
            guard let id = metric["id"]?.intValue, !methodIDs.contains(id), metric["parent_id"]?.intValue == nil else { continue }
            var out = pick(metric, ["system_name", "friendly_name", "unit", "description"])
            out["methods"] = .array((methodsByParent[id] ?? []).map { .object(pick($0, ["system_name", "friendly_name", "description"])) })
            document.append(.object(out))
        }
        return (document, names)
    }

    func withoutBackendSuffix(_ metric: JSONObject, _ backendID: Int64?) -> JSONObject {
        guard let backendID, let name = metric["system_name"]?.stringValue, name.hasSuffix(".\(backendID)") else { return metric }
        var out = metric
        out["system_name"] = .string(String(name.dropLast(".\(backendID)".count)))
        return out
    }

    func accountPlan(_ accountID: Int64, _ names: [Int64: String]) async throws -> JSONValue {
        do {
            let plan = try await api.get("/admin/api/accounts/\(accountID)/plan")
            return plan["name"] ?? plan["id"].flatMap(\.intValue).flatMap { names[$0] }.map(JSONValue.string) ?? .null
        } catch let error as AdminAPIError where error.status == 404 {
            return .null
        }
    }

    static let knownAccountKeys: Set<String> = [
        "id", "created_at", "updated_at", "state", "org_name", "annotations", "credit_card_stored", "monthly_billing_enabled",
        "monthly_charging_enabled", "links", "admin_domain", "domain", "admin_base_url", "base_url", "from_email", "support_email",
        "finance_support_email", "site_access_code", "extra_fields", "bank_account", "billing_address", "plans", "users",
    ]
    static let knownUserKeys: Set<String> = ["id", "created_at", "updated_at", "account_id", "state", "role", "username", "email", "links"]
    static let knownApplicationKeys: Set<String> = [
        "id", "state", "enabled", "end_user_required", "created_at", "updated_at", "service_id", "service_name", "plan_id", "plan_name",
        "account_id", "org_name", "user_key", "provider_verification_key", "application_id", "client_id", "client_secret", "redirect_url",
        "first_traffic_at", "first_daily_traffic_at", "name", "description", "links", "keys", "plan", "user_account_id",
    ]

    /// Fields defined by the tenant (fields definitions) that the API shows flat among the built-in ones.
    func extraFields(_ object: JSONObject, known: Set<String>) -> JSONObject {
        var out = JSONObject()
        for (key, value) in object.entries.sorted(by: { $0.key < $1.key }) where !known.contains(key) {
            if case .string = value { out[key] = value }
        }
        return out
    }
}
