import PorticoCore
import PorticoStore

/// Developer-portal content managed through the API: ActiveDocs and fields definitions.
enum PortalRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/active_docs") { call in
            var docs = try await call.store.list(ActiveDoc.self, tenantID: call.tenantID)
            docs = docs.filter { $0.productID.map(call.principal.mayAccess(productID:)) ?? true }
            return AdminCall.collection("api_docs", docs.map(call.representer.activeDoc))
        }
        r.post("/admin/api/active_docs") { call in
            let params = try call.unwrapped("api_docs_service")
            var errors = ValidationErrors()
            let name = params.nonEmpty("name")
            if name == nil { errors.add("name", "can't be blank") }
            let body = params.string("body")
            if (body ?? "").isEmpty { errors.add("body", "can't be blank") }
            let skip = params.bool("skip_swagger_validations") ?? false
            if let body, !body.isEmpty, !skip, (try? JSONParser.parse(body)) == nil { errors.add("body", "JSON Spec is invalid") }
            let productID = params.int("service_id")
            if let productID, try await call.store.find(Product.self, tenantID: call.tenantID, id: productID) == nil { errors.add("service_id", "is invalid") }
            let docs = try await call.store.list(ActiveDoc.self, tenantID: call.tenantID)
            let systemName = params.nonEmpty("system_name") ?? SystemName.generate(from: name ?? "")
            if docs.contains(where: { $0.systemName == systemName }) { errors.add("system_name", "has already been taken") }
            try errors.throwIfAny()
            var doc = ActiveDoc(tenantID: call.tenantID, productID: productID, name: name ?? "", systemName: systemName, body: body ?? "", now: call.now)
            doc.description = params.string("description")
            doc.published = params.bool("published") ?? false
            doc.skipSwaggerValidations = skip
            return .created(call.representer.activeDoc(try await call.store.insert(doc)))
        }
        r.get("/admin/api/active_docs/:id") { call in
            .json(call.representer.activeDoc(try await requireDoc(call)))
        }
        r.put("/admin/api/active_docs/:id") { call in
            var doc = try await requireDoc(call)
            let params = try call.unwrapped("api_docs_service")
            var errors = ValidationErrors()
            if params.has("name") {
                if let name = params.nonEmpty("name") { doc.name = name } else { errors.add("name", "can't be blank") }
            }
            if let v = params.bool("skip_swagger_validations") { doc.skipSwaggerValidations = v }
            if params.has("body") {
                if let body = params.string("body"), !body.isEmpty {
                    if !doc.skipSwaggerValidations, (try? JSONParser.parse(body)) == nil { errors.add("body", "JSON Spec is invalid") } else { doc.body = body }
                } else {
                    errors.add("body", "can't be blank")
                }
            }
            if params.has("description") { doc.description = params.string("description") }
            if let v = params.bool("published") { doc.published = v }
            if params.has("service_id") {
                if let pid = params.int("service_id") {
                    if try await call.store.find(Product.self, tenantID: call.tenantID, id: pid) == nil { errors.add("service_id", "is invalid") } else { doc.productID = pid }
                } else {
                    doc.productID = nil
                }
            }
            try errors.throwIfAny()
            doc.updatedAt = call.now
            try await call.store.update(doc)
            return .json(call.representer.activeDoc(doc))
        }
        r.delete("/admin/api/active_docs/:id") { call in
            let doc = try await requireDoc(call)
            try await call.store.delete(ActiveDoc.self, tenantID: call.tenantID, id: doc.id)
            return .deleted
        }

        r.get("/admin/api/fields_definitions") { call in
            let defs = try await call.store.list(FieldsDefinition.self, tenantID: call.tenantID).sorted { ($0.target, $0.position, $0.id) < ($1.target, $1.position, $1.id) }
            return AdminCall.collection("fields_definitions", defs.map(call.representer.fieldsDefinition))
        }
        r.post("/admin/api/fields_definitions") { call in
            let params = try call.unwrapped("fields_definition")
            var errors = ValidationErrors()
            let target = params.nonEmpty("target")
            if !FieldsDefinition.targets.contains(target ?? "") { errors.add("target", "is not included in the list") }
            let name = params.nonEmpty("name")
            if name == nil { errors.add("name", "can't be blank") }
            let label = params.nonEmpty("label")
            if label == nil { errors.add("label", "can't be blank") }
            let existing = try await call.store.list(FieldsDefinition.self, tenantID: call.tenantID)
            if let name, let target, existing.contains(where: { $0.name == name && $0.target == target }) { errors.add("name", "has already been taken") }
            try errors.throwIfAny()
            var def = FieldsDefinition(tenantID: call.tenantID, target: target ?? "", name: name ?? "", label: label ?? "",
                                       required: params.bool("required") ?? false,
                                       position: (existing.filter { $0.target == target }.map(\.position).max() ?? 0) + 1, now: call.now)
            applyField(params, to: &def)
            return .created(call.representer.fieldsDefinition(try await call.store.insert(def)))
        }
        r.get("/admin/api/fields_definitions/:id") { call in
            .json(call.representer.fieldsDefinition(try await requireField(call)))
        }
        r.put("/admin/api/fields_definitions/:id") { call in
            var def = try await requireField(call)
            let params = try call.unwrapped("fields_definition")
            if let target = params.nonEmpty("target") {
                guard FieldsDefinition.targets.contains(target) else { throw AdminError.validation("target", "is not included in the list") }
                def.target = target
            }
            if params.has("label") {
                guard let label = params.nonEmpty("label") else { throw AdminError.validation("label", "can't be blank") }
                def.label = label
            }
            if let v = params.bool("required") { def.required = v }
            applyField(params, to: &def)
            def.updatedAt = call.now
            try await call.store.update(def)
            return .json(call.representer.fieldsDefinition(def))
        }
        r.delete("/admin/api/fields_definitions/:id") { call in
            let def = try await requireField(call)
            if TenantProvisioning.requiredFieldNames.contains(where: { $0 == (def.target, def.name) }) {
                throw AdminError(.refusedDeletion([("base", ["built-in required fields cannot be deleted"])]))
            }
            try await call.store.delete(FieldsDefinition.self, tenantID: call.tenantID, id: def.id)
            return .deleted
        }
    }

    static func applyField(_ params: Parameters, to def: inout FieldsDefinition) {
        if let v = params.bool("hidden") { def.hidden = v }
        if let v = params.bool("read_only") { def.readOnly = v }
        if let v = params.int("position") { def.position = v }
        if params.has("choices") { def.choices = params.stringArray("choices") ?? [] }
    }

    static func requireDoc(_ call: AdminCall) async throws -> ActiveDoc {
        guard let doc = try await call.store.find(ActiveDoc.self, tenantID: call.tenantID, id: try call.id("id")),
            doc.productID.map(call.principal.mayAccess(productID:)) ?? true
        else { throw AdminError.notFound }
        return doc
    }

    static func requireField(_ call: AdminCall) async throws -> FieldsDefinition {
        guard let def = try await call.store.find(FieldsDefinition.self, tenantID: call.tenantID, id: try call.id("id")) else { throw AdminError.notFound }
        return def
    }
}
