import PorticoCore
import PorticoStore

/// Features of products (`/admin/api/services/{id}/features`) and of the tenant (`/admin/api/features`),
/// and which plans include them (`/admin/api/{application,service,account}_plans/{id}/features`).
extension PlanRoutes {
    static func registerFeatures(into r: inout AdminRouter) {
        for (base, isProduct) in [("/admin/api/services/:service_id/features", true), ("/admin/api/features", false)] {
            let featurable: @Sendable (AdminCall) async throws -> Int64 = { call in
                isProduct ? try await call.requireProduct().id : call.tenantID
            }
            r.get(base) { call in
                let owner = try await featurable(call)
                return AdminCall.collection("features", try await features(call, owner: owner, ofTenant: !isProduct).map(call.representer.feature))
            }
            r.post(base) { call in
                let owner = try await featurable(call)
                let params = try call.unwrapped("feature")
                var errors = ValidationErrors()
                let name = params.nonEmpty("name")
                if name == nil { errors.add("name", "can't be blank") }
                let systemName = params.nonEmpty("system_name") ?? SystemName.generate(from: name ?? "")
                if try await features(call, owner: owner, ofTenant: !isProduct).contains(where: { $0.systemName == systemName }) {
                    errors.add("system_name", "has already been taken")
                }
                let featureScope = params.nonEmpty("scope") ?? (isProduct ? "application_plan" : "account_plan")
                let allowed = isProduct ? ["application_plan", "service_plan"] : ["account_plan"]
                if !allowed.contains(featureScope) { errors.add("scope", "is not included in the list") }
                try errors.throwIfAny()
                let feature = try await call.store.insert(Feature(tenantID: call.tenantID, featurableID: owner, name: name ?? "", systemName: systemName,
                                                                  description: params.string("description"), scope: featureScope, now: call.now))
                return .created(call.representer.feature(feature))
            }
            r.get("\(base)/:id") { call in
                .json(call.representer.feature(try await requireFeature(call, featurableID: try await featurable(call), ofTenant: !isProduct)))
            }
            r.put("\(base)/:id") { call in
                var feature = try await requireFeature(call, featurableID: try await featurable(call), ofTenant: !isProduct)
                let params = try call.unwrapped("feature")
                if let name = params.nonEmpty("name") { feature.name = name }
                if params.has("description") { feature.description = params.string("description") }
                feature.updatedAt = call.now
                try await call.store.update(feature)
                return .json(call.representer.feature(feature))
            }
            r.delete("\(base)/:id") { call in
                let feature = try await requireFeature(call, featurableID: try await featurable(call), ofTenant: !isProduct)
                try await call.transaction { tx in
                    for var plan in try await tx.store.list(Plan.self, tenantID: tx.tenantID) where plan.featureIDs.contains(feature.id) {
                        plan.featureIDs.removeAll { $0 == feature.id }
                        try await tx.store.update(plan)
                    }
                    try await tx.store.delete(Feature.self, tenantID: tx.tenantID, id: feature.id)
                }
                return .deleted
            }
        }

        for (segment, kind) in [("application_plans", Plan.Kind.application), ("service_plans", .service), ("account_plans", .account)] {
            let base = "/admin/api/\(segment)/:plan_id/features"
            r.get(base) { call in
                let plan = try await call.requirePlan(try call.id("plan_id"), kind: kind)
                let features = try await call.store.find(Feature.self, tenantID: call.tenantID, ids: plan.featureIDs)
                return AdminCall.collection("features", features.map(call.representer.feature))
            }
            r.post(base) { call in
                var plan = try await call.requirePlan(try call.id("plan_id"), kind: kind)
                guard let featureID = call.params.int("feature_id"),
                    let feature = try await call.store.find(Feature.self, tenantID: call.tenantID, id: featureID),
                    feature.featurableID == (kind == .account ? call.tenantID : plan.issuerID), feature.isAccountFeature == (kind == .account)
                else { throw AdminError.validation("feature_id", "is invalid") }
                if !plan.featureIDs.contains(feature.id) {
                    plan.featureIDs.append(feature.id)
                    plan.updatedAt = call.now
                    try await call.store.update(plan)
                }
                return .created(call.representer.feature(feature))
            }
            r.delete("\(base)/:id") { call in
                var plan = try await call.requirePlan(try call.id("plan_id"), kind: kind)
                let featureID = try call.id("id")
                guard plan.featureIDs.contains(featureID) else { throw AdminError.notFound }
                plan.featureIDs.removeAll { $0 == featureID }
                try await call.store.update(plan)
                return .deleted
            }
        }
    }

    static func requireFeature(_ call: AdminCall, featurableID: Int64, ofTenant: Bool) async throws -> Feature {
        guard let feature = try await call.store.find(Feature.self, tenantID: call.tenantID, id: try call.id("id")),
            feature.featurableID == featurableID, feature.isAccountFeature == ofTenant
        else { throw AdminError.notFound }
        return feature
    }

    /// The tenant's account features or one product's features. Selected by the feature's own scope, not by its owner id alone:
    /// a product and the tenant account can have the same numeric id, and rows stored before that was noticed carry the
    /// tenant's record scope for such a product's features.
    static func features(_ call: AdminCall, owner: Int64, ofTenant: Bool) async throws -> [Feature] {
        try await call.store.list(Feature.self, tenantID: call.tenantID).filter { $0.featurableID == owner && $0.isAccountFeature == ofTenant }
    }
}
