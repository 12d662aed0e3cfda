import PorticoCore
import PorticoStore

/// Metrics and methods of products (`/admin/api/services/{id}/metrics`) and backends (`/admin/api/backend_apis/{id}/metrics`).
enum MetricRoutes {
    static func register(into r: inout AdminRouter) {
        for (prefix, param) in [("/admin/api/services/:owner_id", "product"), ("/admin/api/backend_apis/:owner_id", "backend")] {
            let paginated = param == "backend"
            r.get("\(prefix)/metrics") { call in
                let owner = try await resolveOwner(call, kind: param)
                var metrics = try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.owner(owner))
                if paginated { metrics = call.params.paginate(metrics) }
                return AdminCall.collection("metrics", metrics.map { call.representer.metric($0) })
            }
            r.post("\(prefix)/metrics") { call in
                let owner = try await resolveOwner(call, kind: param)
                let metric = try await create(call, owner: owner, parent: nil, params: try call.unwrapped("metric"))
                return .created(call.representer.metric(metric))
            }
            r.get("\(prefix)/metrics/:id") { call in
                let owner = try await resolveOwner(call, kind: param)
                return .json(call.representer.metric(try await call.requireMetric(try call.id("id"), owner: owner)))
            }
            r.put("\(prefix)/metrics/:id") { call in
                let owner = try await resolveOwner(call, kind: param)
                var metric = try await call.requireMetric(try call.id("id"), owner: owner)
                try await update(&metric, call: call, params: try call.unwrapped("metric"))
                return .json(call.representer.metric(metric))
            }
            r.delete("\(prefix)/metrics/:id") { call in
                let owner = try await resolveOwner(call, kind: param)
                let metric = try await call.requireMetric(try call.id("id"), owner: owner)
                try await delete(metric, call: call)
                return .deleted
            }
            r.get("\(prefix)/metrics/:metric_id/methods") { call in
                let owner = try await resolveOwner(call, kind: param)
                let parent = try await requireHits(call, owner: owner)
                var methods = try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.owner(owner))
                    .filter { $0.parentID == parent.id }
                if paginated { methods = call.params.paginate(methods) }
                return AdminCall.collection("methods", methods.map { call.representer.metric($0) })
            }
            r.post("\(prefix)/metrics/:metric_id/methods") { call in
                let owner = try await resolveOwner(call, kind: param)
                let parent = try await requireHits(call, owner: owner)
                let method = try await create(call, owner: owner, parent: parent, params: try call.unwrapped("metric"))
                return .created(call.representer.metric(method))
            }
            r.get("\(prefix)/metrics/:metric_id/methods/:id") { call in
                let owner = try await resolveOwner(call, kind: param)
                let parent = try await requireHits(call, owner: owner)
                let method = try await call.requireMetric(try call.id("id"), owner: owner)
                guard method.parentID == parent.id else { throw AdminError.notFound }
                return .json(call.representer.metric(method))
            }
            r.put("\(prefix)/metrics/:metric_id/methods/:id") { call in
                let owner = try await resolveOwner(call, kind: param)
                let parent = try await requireHits(call, owner: owner)
                var method = try await call.requireMetric(try call.id("id"), owner: owner)
                guard method.parentID == parent.id else { throw AdminError.notFound }
                try await update(&method, call: call, params: try call.unwrapped("metric"))
                return .json(call.representer.metric(method))
            }
            r.delete("\(prefix)/metrics/:metric_id/methods/:id") { call in
                let owner = try await resolveOwner(call, kind: param)
                let parent = try await requireHits(call, owner: owner)
                let method = try await call.requireMetric(try call.id("id"), owner: owner)
                guard method.parentID == parent.id else { throw AdminError.notFound }
                try await delete(method, call: call)
                return .deleted
            }
        }
    }

    static func resolveOwner(_ call: AdminCall, kind: String) async throws -> OwnerReference {
        let id = try call.id("owner_id")
        if kind == "product" {
            return .product(try await call.requireProduct(id).id)
        }
        return .backend(try await call.requireBackend(id).id)
    }

    static func requireHits(_ call: AdminCall, owner: OwnerReference) async throws -> Metric {
        let metric = try await call.requireMetric(try call.id("metric_id"), owner: owner)
        guard metric.isHits else { throw AdminError.notFound }
        return metric
    }

    static func create(_ call: AdminCall, owner: OwnerReference, parent: Metric?, params: Parameters) async throws -> Metric {
        var errors = ValidationErrors()
        let friendlyName = params.nonEmpty("friendly_name")
        if friendlyName == nil { errors.add("friendly_name", "can't be blank") }
        let unit = parent?.unit ?? params.nonEmpty("unit")
        if unit == nil { errors.add("unit", "can't be blank") }
        let requested = params.nonEmpty("system_name") ?? params.nonEmpty("name")
        let plainSystemName = requested ?? SystemName.generate(from: friendlyName ?? "")
        if friendlyName != nil || requested != nil, !SystemName.isValid(plainSystemName) { errors.add("system_name", "is invalid") }
        var systemName = plainSystemName
        if case .backend(let id) = owner { systemName += ".\(id)" }
        let siblings = try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.owner(owner))
        if let friendlyName, siblings.contains(where: { $0.friendlyName == friendlyName }) {
            errors.add("friendly_name", "has already been taken")
            errors.add("system_name", "has already been taken")
        } else if siblings.contains(where: { $0.systemName == systemName }), !plainSystemName.isEmpty {
            errors.add("system_name", "has already been taken")
        }
        try errors.throwIfAny()
        return try await call.store.insert(Metric(tenantID: call.tenantID, owner: owner, parentID: parent?.id, systemName: systemName,
                                                  friendlyName: friendlyName ?? "", unit: unit ?? "", description: params.string("description"),
                                                  now: call.now))
    }

    static func update(_ metric: inout Metric, call: AdminCall, params: Parameters) async throws {
        var errors = ValidationErrors()
        if params.has("friendly_name") {
            if let name = params.nonEmpty("friendly_name") {
                let siblings = try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.owner(metric.owner))
                if siblings.contains(where: { $0.friendlyName == name && $0.id != metric.id }) {
                    errors.add("friendly_name", "has already been taken")
                } else {
                    metric.friendlyName = name
                }
            } else {
                errors.add("friendly_name", "can't be blank")
            }
        }
        if metric.parentID == nil, params.has("unit") {
            if let unit = params.nonEmpty("unit") { metric.unit = unit } else { errors.add("unit", "can't be blank") }
        }
        if params.has("description") { metric.description = params.string("description") }
        try errors.throwIfAny()
        metric.updatedAt = call.now
        try await call.store.update(metric)
    }

    /// Removes a metric with its methods, limits, pricing rules and the mapping rules that count it.
    static func delete(_ metric: Metric, call: AdminCall) async throws {
        if metric.isHits {
            throw AdminError(.refusedDeletion([("base", ["the hits metric cannot be deleted"])]))
        }
        try await call.transaction { tx in
            let t = tx.tenantID
            var doomed = [metric.id]
            doomed += try await tx.store.list(Metric.self, tenantID: t, scope: RecordScope.owner(metric.owner))
                .filter { $0.parentID == metric.id }.map(\.id)
            for id in doomed { try await tx.store.delete(Metric.self, tenantID: t, id: id) }
            let ids = Set(doomed)
            for rule in try await tx.store.list(MappingRule.self, tenantID: t, scope: RecordScope.owner(metric.owner)) where ids.contains(rule.metricID) {
                try await tx.store.delete(MappingRule.self, tenantID: t, id: rule.id)
            }
            for limit in try await tx.store.list(UsageLimit.self, tenantID: t) where ids.contains(limit.metricID) {
                try await tx.store.delete(UsageLimit.self, tenantID: t, id: limit.id)
            }
            for rule in try await tx.store.list(PricingRule.self, tenantID: t) where ids.contains(rule.metricID) {
                try await tx.store.delete(PricingRule.self, tenantID: t, id: rule.id)
            }
        }
    }
}
