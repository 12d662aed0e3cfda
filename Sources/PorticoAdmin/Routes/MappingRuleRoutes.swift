import PorticoCore
import PorticoStore

/// Mapping rules of products (`.../proxy/mapping_rules`) and backends (`/admin/api/backend_apis/{id}/mapping_rules`).
enum MappingRuleRoutes {
    static func register(into r: inout AdminRouter) {
        for (prefix, kind) in [("/admin/api/services/:owner_id/proxy", "product"), ("/admin/api/backend_apis/:owner_id", "backend")] {
            r.get("\(prefix)/mapping_rules") { call in
                let owner = try await MetricRoutes.resolveOwner(call, kind: kind)
                var rules = try await call.store.list(MappingRule.self, tenantID: call.tenantID, scope: RecordScope.owner(owner))
                    .sorted { ($0.position, $0.id) < ($1.position, $1.id) }
                if kind == "backend" { rules = call.params.paginate(rules) }
                return AdminCall.collection("mapping_rules", rules.map(call.representer.mappingRule))
            }
            r.post("\(prefix)/mapping_rules") { call in
                let owner = try await MetricRoutes.resolveOwner(call, kind: kind)
                let params = try call.unwrapped("mapping_rule")
                let rule = try await call.transaction { tx in
                    let existing = try await tx.store.list(MappingRule.self, tenantID: tx.tenantID, scope: RecordScope.owner(owner))
                    var rule = MappingRule(tenantID: tx.tenantID, owner: owner, httpMethod: "", pattern: "", metricID: 0, delta: 0,
                                           position: (existing.map(\.position).max() ?? 0) + 1, last: false, now: tx.now)
                    try await apply(params, to: &rule, call: tx, creating: true)
                    return try await tx.store.insert(rule)
                }
                return .created(call.representer.mappingRule(rule))
            }
            r.get("\(prefix)/mapping_rules/:id") { call in
                let owner = try await MetricRoutes.resolveOwner(call, kind: kind)
                return .json(call.representer.mappingRule(try await requireRule(call, owner: owner)))
            }
            r.put("\(prefix)/mapping_rules/:id") { call in
                let owner = try await MetricRoutes.resolveOwner(call, kind: kind)
                var rule = try await requireRule(call, owner: owner)
                try await apply(try call.unwrapped("mapping_rule"), to: &rule, call: call, creating: false)
                rule.updatedAt = call.now
                try await call.store.update(rule)
                return .json(call.representer.mappingRule(rule))
            }
            r.delete("\(prefix)/mapping_rules/:id") { call in
                let owner = try await MetricRoutes.resolveOwner(call, kind: kind)
                let rule = try await requireRule(call, owner: owner)
                try await call.store.delete(MappingRule.self, tenantID: call.tenantID, id: rule.id)
                return .deleted
            }
        }
    }

    static func requireRule(_ call: AdminCall, owner: OwnerReference) async throws -> MappingRule {
        guard let rule = try await call.store.find(MappingRule.self, tenantID: call.tenantID, id: try call.id("id")), rule.owner == owner else {
            throw AdminError.notFound
        }
        return rule
    }

    /// Metrics a rule of this owner may count: its own, and for a product also those of the backends it uses.
    static func allowedMetricIDs(_ call: AdminCall, owner: OwnerReference) async throws -> Set<Int64> {
        var ids = Set(try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.owner(owner)).map(\.id))
        if case .product(let productID) = owner {
            for usage in try await call.store.list(BackendUsage.self, tenantID: call.tenantID, scope: RecordScope.product(productID)) {
                ids.formUnion(try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.backend(usage.backendID)).map(\.id))
            }
        }
        return ids
    }

    static func apply(_ params: Parameters, to rule: inout MappingRule, call: AdminCall, creating: Bool) async throws {
        var errors = ValidationErrors()
        if creating || params.has("http_method") {
            let method = params.nonEmpty("http_method")?.uppercased()
            if let method, MappingRule.httpMethods.contains(method) || method == "ANY" {
                rule.httpMethod = method
            } else {
                errors.add("http_method", method == nil ? "can't be blank" : "is not included in the list")
            }
        }
        if creating || params.has("pattern") {
            if let pattern = params.nonEmpty("pattern") {
                if !pattern.hasPrefix("/") {
                    errors.add("pattern", "shall start with '/'")
                } else if pattern.count > 255 {
                    errors.add("pattern", "is too long (maximum is 255 characters)")
                } else {
                    rule.pattern = pattern
                }
            } else {
                errors.add("pattern", "can't be blank")
            }
        }
        if creating || params.has("delta") {
            if let delta = params.int("delta"), delta > 0 {
                rule.delta = delta
            } else {
                errors.add("delta", params.nonEmpty("delta") == nil ? "can't be blank" : "must be greater than 0")
            }
        }
        if creating || params.has("metric_id") {
            if let metricID = params.int("metric_id"), try await allowedMetricIDs(call, owner: rule.owner).contains(metricID) {
                rule.metricID = metricID
            } else {
                errors.add("metric_id", params.nonEmpty("metric_id") == nil ? "can't be blank" : "is invalid")
            }
        }
        if let position = params.int("position"), position > 0 { rule.position = position }
        if let last = params.bool("last") { rule.last = last }
        if params.has("redirect_url") { rule.redirectURL = params.string("redirect_url") }
        try errors.throwIfAny()
    }
}
