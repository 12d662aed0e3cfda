import PorticoCore
import PorticoStore

/// `/admin/api/services/{id}/proxy`, its policy chain, deployments and the configuration endpoints gateways poll.
enum ProxyRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/services/:service_id/proxy") { call in
            let product = try await call.requireProduct()
            return .json(call.representer.proxy(product, apiBackend: try await ProductCatalog.apiBackend(store: call.store, product: product)))
        }
        r.put("/admin/api/services/:service_id/proxy") { call in
            let params = try call.unwrapped("proxy")
            let updated = try await call.transaction { tx in
                var product = try await tx.requireProduct()
                try await apply(params, to: &product, call: tx)
                product.proxy.lockVersion += 1
                product.proxy.updatedAt = tx.now
                try await tx.store.update(product)
                // Every successful update deploys a new staging version (reference/admin-api-client.md R1).
                try await ProductCatalog.deployToSandbox(store: tx.store, product: product, meteringEndpoint: tx.settings.meteringEndpoint, now: tx.now)
                return product
            }
            return .json(call.representer.proxy(updated, apiBackend: try await ProductCatalog.apiBackend(store: call.store, product: updated)))
        }
        r.post("/admin/api/services/:service_id/proxy/deploy") { call in
            let product = try await call.transaction { tx in
                let product = try await tx.requireProduct()
                try await ProductCatalog.deployToSandbox(store: tx.store, product: product, meteringEndpoint: tx.settings.meteringEndpoint,
                                                         now: tx.now, onlyIfChanged: true)
                return product
            }
            return .created(call.representer.proxy(product, apiBackend: try await ProductCatalog.apiBackend(store: call.store, product: product)))
        }

        let policyScopes: Set<String> = ["account_management", "policy_registry"]
        r.get("/admin/api/services/:service_id/proxy/policies", area: .tenant(scopes: policyScopes)) { call in
            .json(call.representer.policies(try await call.requireProduct()))
        }
        r.put("/admin/api/services/:service_id/proxy/policies", area: .tenant(scopes: policyScopes)) { call in
            _ = try await call.requireProduct()  // an unknown product is a 404 before the body is judged
            let chain = try policyChain(from: call.params)
            let product = try await call.transaction { tx in
                var product = try await tx.requireProduct()
                product.proxy.policies = chain
                product.proxy.updatedAt = tx.now
                try await tx.store.update(product)
                try await ProductCatalog.deployToSandbox(store: tx.store, product: product, meteringEndpoint: tx.settings.meteringEndpoint, now: tx.now)
                return product
            }
            return .json(call.representer.policies(product))
        }

        r.get("/admin/api/services/:service_id/proxy/configs/:environment") { call in
            let product = try await call.requireProduct()
            let configs = try await ProductCatalog.configs(store: call.store, product: product, environment: try environment(call))
            return AdminCall.collection("proxy_configs", configs.map(call.representer.proxyConfig))
        }
        r.get("/admin/api/services/:service_id/proxy/configs/:environment/latest", area: .gatewayConfiguration) { call in
            let product = try await call.requireProduct()
            guard let newest = try await ProductCatalog.configs(store: call.store, product: product, environment: try environment(call)).last else {
                throw AdminError.notFound
            }
            return .json(call.representer.proxyConfig(newest))
        }
        r.get("/admin/api/services/:service_id/proxy/configs/:environment/:version", area: .gatewayConfiguration) { call in
            let product = try await call.requireProduct()
            let version = try call.id("version")
            guard let config = try await ProductCatalog.configs(store: call.store, product: product, environment: try environment(call))
                .first(where: { $0.version == version })
            else { throw AdminError.notFound }
            return .json(call.representer.proxyConfig(config))
        }
        r.post("/admin/api/services/:service_id/proxy/configs/:environment/:version/promote") { call in
            _ = try await call.requireProduct()
            let from = try environment(call)
            guard let toName = call.params.nonEmpty("to") else { throw AdminError(.missingParameter("to")) }
            guard let to = ProxyConfig.Environment(pathComponent: toName), to != from else {
                throw AdminError(.badRequest("invalid environment"))
            }
            let version = try call.id("version")
            let promoted = try await call.transaction { tx in
                let product = try await tx.requireProduct()
                guard let source = try await ProductCatalog.configs(store: tx.store, product: product, environment: from)
                    .first(where: { $0.version == version })
                else { throw AdminError.notFound }
                let target = try await ProductCatalog.configs(store: tx.store, product: product, environment: to)
                if target.contains(where: { $0.version == version }) {
                    throw AdminError(.validation([("version", ["has already been promoted to \(to.rawValue)"])]))
                }
                return try await tx.store.insert(ProxyConfig(tenantID: tx.tenantID, productID: product.id, environment: to, version: version,
                                                             content: source.content, now: tx.now))
            }
            return .created(call.representer.proxyConfig(promoted))
        }

        // What APIcast polls: the newest (or a given) version of every product, optionally for one host.
        r.get("/admin/api/account/proxy_configs/:environment", area: .gatewayConfiguration) { call in
            guard let env = ProxyConfig.Environment(pathComponent: call.path("environment")) else {
                throw AdminError(.unprocessable("invalid environment"))
            }
            let host = call.params.nonEmpty("host")?.lowercased()
            let wanted = call.params.nonEmpty("version")
            var items: [JSONValue] = []
            for product in try await call.visibleProducts() {
                let configs = try await ProductCatalog.configs(store: call.store, product: product, environment: env)
                let chosen = (wanted == nil || wanted == "latest") ? configs.last : configs.first { String($0.version) == wanted }
                guard let config = chosen else { continue }
                if let host {
                    let hosts = config.content["proxy"]?["hosts"]?.arrayValue?.compactMap { $0.stringValue } ?? []
                    guard hosts.contains(host) else { continue }
                }
                items.append(call.representer.proxyConfig(config))
            }
            return AdminCall.collection("proxy_configs", call.params.paginate(items))
        }
    }

    static func environment(_ call: AdminCall) throws -> ProxyConfig.Environment {
        guard let env = ProxyConfig.Environment(pathComponent: call.path("environment")) else { throw AdminError(.badRequest("invalid environment")) }
        return env
    }

    /// `policies_config` as an array, or a JSON string of one (porta accepts both).
    static func policyChain(from params: Parameters) throws -> [JSONValue] {
        var raw = params["policies_config"]
        if case .string(let text) = raw {
            raw = try? JSONParser.parse(text)
        }
        guard case .array(let entries) = raw else {
            throw AdminError(.validation([("policies_config", ["can't be blank"])]))
        }
        var errors = ValidationErrors()
        var chain: [JSONValue] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(var policy) = entry, let name = policy["name"]?.stringValue, !name.isEmpty else {
                errors.add("policies_config", "entry \(index) must be an object with a name")
                continue
            }
            if policy["version"] == nil { policy["version"] = "builtin" }
            if policy["configuration"] == nil { policy["configuration"] = .object([:]) }
            if case .object? = policy["configuration"] {} else { errors.add("policies_config", "configuration of \(name) must be an object") }
            if policy["enabled"] == nil { policy["enabled"] = true }
            chain.append(.object(policy))
        }
        try errors.throwIfAny()
        return chain
    }

    static let credentialLocations = ["query", "headers", "authorization"]

    static func apply(_ params: Parameters, to product: inout Product, call: AdminCall) async throws {
        var errors = ValidationErrors()
        var proxy = product.proxy
        for key in ["endpoint", "sandbox_endpoint"] {
            guard let value = params.string(key) else { continue }
            if !EndpointNormalization.isValidURL(value) {
                errors.add(key, "is invalid")
            } else if key == "endpoint" {
                proxy.endpoint = EndpointNormalization.withExplicitPort(value)
            } else {
                proxy.sandboxEndpoint = EndpointNormalization.withExplicitPort(value)
            }
        }
        if let location = params.string("credentials_location") {
            if credentialLocations.contains(location) { proxy.credentialsLocation = location } else { errors.add("credentials_location", "is not included in the list") }
        }
        let names: [(String, WritableKeyPath<ProxySettings, String>)] = [
            ("auth_app_key", \.authAppKey), ("auth_app_id", \.authAppID), ("auth_user_key", \.authUserKey),
            ("error_auth_failed", \.errorAuthFailed), ("error_headers_auth_failed", \.errorHeadersAuthFailed),
            ("error_auth_missing", \.errorAuthMissing), ("error_headers_auth_missing", \.errorHeadersAuthMissing),
            ("error_no_match", \.errorNoMatch), ("error_headers_no_match", \.errorHeadersNoMatch),
            ("error_limits_exceeded", \.errorLimitsExceeded), ("error_headers_limits_exceeded", \.errorHeadersLimitsExceeded),
            ("secret_token", \.secretToken), ("api_test_path", \.apiTestPath), ("oidc_issuer_type", \.oidcIssuerType),
        ]
        for (key, path) in names {
            if let value = params.string(key) { proxy[keyPath: path] = value }
        }
        let optionals: [(String, WritableKeyPath<ProxySettings, String?>)] = [
            ("hostname_rewrite", \.hostnameRewrite), ("oauth_login_url", \.oauthLoginURL), ("oidc_issuer_endpoint", \.oidcIssuerEndpoint),
            ("jwt_claim_with_client_id", \.jwtClaimWithClientID), ("jwt_claim_with_client_id_type", \.jwtClaimWithClientIDType),
        ]
        for (key, path) in optionals where params.has(key) {
            proxy[keyPath: path] = params.string(key)
        }
        let statuses: [(String, WritableKeyPath<ProxySettings, Int64>)] = [
            ("error_status_auth_failed", \.errorStatusAuthFailed), ("error_status_auth_missing", \.errorStatusAuthMissing),
            ("error_status_no_match", \.errorStatusNoMatch), ("error_status_limits_exceeded", \.errorStatusLimitsExceeded),
        ]
        for (key, path) in statuses where params.has(key) && !(params[key]?.isNull ?? true) {
            if let status = params.int(key), (100...599).contains(status) { proxy[keyPath: path] = status } else { errors.add(key, "is not a valid HTTP status") }
        }
        if params.has("policies_config"), let chain = try? policyChain(from: params) { proxy.policies = chain }
        var apiBackend: String?
        if let value = params.string("api_backend"), !value.isEmpty {
            if EndpointNormalization.isValidURL(value) { apiBackend = EndpointNormalization.withExplicitPort(value) } else { errors.add("api_backend", "is invalid") }
        }
        try errors.throwIfAny()
        product.proxy = proxy
        if let apiBackend, apiBackend != (try await ProductCatalog.apiBackend(store: call.store, product: product)) {
            try await ProductCatalog.setAPIBackend(store: call.store, product: &product, endpoint: apiBackend, now: call.now)
        }
    }
}
