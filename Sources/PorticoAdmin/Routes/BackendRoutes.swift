import PorticoCore
import PorticoStore

/// `/admin/api/backend_apis` and `/admin/api/services/{id}/backend_usages`.
enum BackendRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/backend_apis") { call in
            let backends = call.params.paginate(try await call.store.list(BackendAPI.self, tenantID: call.tenantID))
            return AdminCall.collection("backend_apis", backends.map(call.representer.backend))
        }
        r.post("/admin/api/backend_apis") { call in
            let params = try call.unwrapped("backend_api")
            var errors = ValidationErrors()
            let name = params.nonEmpty("name")
            if name == nil { errors.add("name", "can't be blank") }
            let endpoint = params.nonEmpty("private_endpoint")
            if let endpoint {
                if !EndpointNormalization.isValidURL(endpoint) { errors.add("private_endpoint", "is invalid") }
            } else {
                errors.add("private_endpoint", "can't be blank")
            }
            let systemName = params.nonEmpty("system_name") ?? SystemName.generate(from: name ?? "")
            if name != nil, !SystemName.isValid(systemName) { errors.add("system_name", "is invalid") }
            if try await call.store.list(BackendAPI.self, tenantID: call.tenantID).contains(where: { $0.systemName == systemName }) {
                errors.add("system_name", "has already been taken")
            }
            try errors.throwIfAny()
            let backend = try await call.transaction { tx in
                var b = try await ProductCatalog.createBackend(store: tx.store, tenantID: tx.tenantID, name: name ?? "", systemName: systemName,
                                                               description: params.string("description"),
                                                               privateEndpoint: EndpointNormalization.withExplicitPort(endpoint ?? ""), now: tx.now)
                if let annotations = params.stringMap("annotations") {
                    b.annotations = annotations
                    try await tx.store.update(b)
                }
                return b
            }
            return .created(call.representer.backend(backend))
        }
        r.get("/admin/api/backend_apis/:id") { call in
            .json(call.representer.backend(try await call.requireBackend(try call.id("id"))))
        }
        r.put("/admin/api/backend_apis/:id") { call in
            var backend = try await call.requireBackend(try call.id("id"))
            let params = try call.unwrapped("backend_api")
            var errors = ValidationErrors()
            if params.has("name") {
                if let name = params.nonEmpty("name") { backend.name = name } else { errors.add("name", "can't be blank") }
            }
            if let endpoint = params.string("private_endpoint") {
                if EndpointNormalization.isValidURL(endpoint) {
                    backend.privateEndpoint = EndpointNormalization.withExplicitPort(endpoint)
                } else {
                    errors.add("private_endpoint", "is invalid")
                }
            }
            if params.has("description") { backend.description = params.string("description") }
            if let annotations = params.stringMap("annotations") { backend.annotations = annotations }
            try errors.throwIfAny()
            backend.updatedAt = call.now
            try await call.store.update(backend)
            return .json(call.representer.backend(backend))
        }
        r.delete("/admin/api/backend_apis/:id") { call in
            let backend = try await call.requireBackend(try call.id("id"))
            try await call.transaction { tx in
                let usages = try await tx.store.list(BackendUsage.self, tenantID: tx.tenantID, lookupKey: RecordScope.backend(backend.id))
                if !usages.isEmpty {
                    throw AdminError(.refusedDeletion([("base", ["cannot be deleted because it is used by at least one product"])]))
                }
                let scope = RecordScope.backend(backend.id)
                for m in try await tx.store.list(Metric.self, tenantID: tx.tenantID, scope: scope) {
                    try await tx.store.delete(Metric.self, tenantID: tx.tenantID, id: m.id)
                }
                for rule in try await tx.store.list(MappingRule.self, tenantID: tx.tenantID, scope: scope) {
                    try await tx.store.delete(MappingRule.self, tenantID: tx.tenantID, id: rule.id)
                }
                try await tx.store.delete(BackendAPI.self, tenantID: tx.tenantID, id: backend.id)
            }
            return .deleted
        }

        // Backend usages: porta lists them as a bare array.
        r.get("/admin/api/services/:service_id/backend_usages") { call in
            let product = try await call.requireProduct()
            let usages = call.params.paginate(
                try await call.store.list(BackendUsage.self, tenantID: call.tenantID, scope: RecordScope.product(product.id)))
            return .json(.array(usages.map(call.representer.backendUsage)))
        }
        r.post("/admin/api/services/:service_id/backend_usages") { call in
            let params = try call.unwrapped("backend_api_config")
            let usage = try await call.transaction { tx in
                let product = try await tx.requireProduct()
                var errors = ValidationErrors()
                let backendID = params.int("backend_api_id") ?? params.int("backend_id")
                var backend: BackendAPI?
                if let backendID { backend = try await tx.store.find(BackendAPI.self, tenantID: tx.tenantID, id: backendID) }
                if backend == nil { errors.add("backend_api_id", backendID == nil ? "can't be blank" : "is invalid") }
                let path = try validatePath(params.string("path"), into: &errors)
                let existing = try await tx.store.list(BackendUsage.self, tenantID: tx.tenantID, scope: RecordScope.product(product.id))
                if let backend, existing.contains(where: { $0.backendID == backend.id }) { errors.add("backend_api_id", "has already been taken") }
                if existing.contains(where: { $0.path == path }) { errors.add("path", "has already been taken") }
                try errors.throwIfAny()
                guard let backend else { throw AdminError.validation("backend_api_id", "is invalid") }
                return try await tx.store.insert(BackendUsage(tenantID: tx.tenantID, productID: product.id, backendID: backend.id, path: path,
                                                              now: tx.now))
            }
            return .created(call.representer.backendUsage(usage))
        }
        r.get("/admin/api/services/:service_id/backend_usages/:id") { call in
            .json(call.representer.backendUsage(try await requireUsage(call)))
        }
        r.put("/admin/api/services/:service_id/backend_usages/:id") { call in
            var usage = try await requireUsage(call)
            let params = try call.unwrapped("backend_api_config")
            if params.has("path") {
                var errors = ValidationErrors()
                let path = try validatePath(params.string("path"), into: &errors)
                let siblings = try await call.store.list(BackendUsage.self, tenantID: call.tenantID, scope: RecordScope.product(usage.productID))
                if siblings.contains(where: { $0.path == path && $0.id != usage.id }) { errors.add("path", "has already been taken") }
                try errors.throwIfAny()
                usage.path = path
            }
            usage.updatedAt = call.now
            try await call.store.update(usage)
            return .json(call.representer.backendUsage(usage))
        }
        r.delete("/admin/api/services/:service_id/backend_usages/:id") { call in
            let usage = try await requireUsage(call)
            try await call.store.delete(BackendUsage.self, tenantID: call.tenantID, id: usage.id)
            return .deleted
        }
    }

    static func requireUsage(_ call: AdminCall) async throws -> BackendUsage {
        let product = try await call.requireProduct()
        guard let usage = try await call.store.find(BackendUsage.self, tenantID: call.tenantID, id: try call.id("id")),
            usage.productID == product.id
        else { throw AdminError.notFound }
        return usage
    }

    /// Usage paths start with `/`, have no trailing slash (except `/` itself) and no query.
    static func validatePath(_ raw: String?, into errors: inout ValidationErrors) throws -> String {
        var path = raw.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        if !path.hasPrefix("/") { path = "/" + path }
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        if path.contains("?") || path.contains(" ") || path.contains("//") { errors.add("path", "is invalid") }
        return path
    }
}
