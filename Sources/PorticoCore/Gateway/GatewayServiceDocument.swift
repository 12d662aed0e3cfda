/// Builds the APIcast service document (the `content` of a proxy config) from a product's configuration.
///
/// The shape follows what porta generates and APIcast reads (reference/gateway.md §1): product
/// attributes, backend authentication, and a `proxy` object with hosts, credentials, error replies,
/// mapping rules of the product and of every mounted backend (prefixed with the usage path) and the
/// policy chain, with a `routing` policy in front of `apicast` when backends are mounted at sub-paths.
public struct GatewayServiceDocument: Sendable {
    public struct MountedBackend: Sendable {
        public var usage: BackendUsage
        public var backend: BackendAPI
        public var rules: [MappingRule]
        public init(usage: BackendUsage, backend: BackendAPI, rules: [MappingRule]) {
            self.usage = usage
            self.backend = backend
            self.rules = rules
        }
    }

    public var product: Product
    public var productRules: [MappingRule]
    public var metricsByID: [Int64: Metric]
    public var backends: [MountedBackend]
    /// Where gateways reach the Service Management API (`proxy.backend.endpoint`).
    public var meteringEndpoint: String

    public init(product: Product, productRules: [MappingRule], metricsByID: [Int64: Metric], backends: [MountedBackend], meteringEndpoint: String) {
        self.product = product
        self.productRules = productRules
        self.metricsByID = metricsByID
        self.backends = backends
        self.meteringEndpoint = meteringEndpoint
    }

    /// Host part (no scheme, port or path) of an endpoint URL, lower-cased.
    public static func host(of url: String) -> String? {
        var rest = Substring(url)
        if let schemeEnd = rest.firstRange(of: "://") { rest = rest[schemeEnd.upperBound...] }
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("[") {
            if let close = rest.firstIndex(of: "]") { return String(rest[...close]).lowercased() }
            return nil
        }
        if let colon = rest.firstIndex(of: ":") { rest = rest[..<colon] }
        return rest.isEmpty ? nil : rest.lowercased()
    }

    public func render() -> JSONValue {
        let proxy = product.proxy
        var hosts: [JSONValue] = []
        for url in [proxy.endpoint, proxy.sandboxEndpoint] {
            if let h = GatewayServiceDocument.host(of: url), !hosts.contains(.string(h)) { hosts.append(.string(h)) }
        }
        var rules: [JSONValue] = productRules.sorted { ($0.position, $0.id) < ($1.position, $1.id) }.map { rule in
            ruleDocument(rule, prefix: "")
        }
        let orderedBackends = backends.sorted { $0.usage.path.count > $1.usage.path.count }
        for mounted in orderedBackends {
            let prefix = mounted.usage.path == "/" ? "" : mounted.usage.path
            for rule in mounted.rules.sorted(by: { ($0.position, $0.id) < ($1.position, $1.id) }) {
                rules.append(ruleDocument(rule, prefix: prefix))
            }
        }
        var proxyObject: JSONObject = [
            "service_id": .int(product.id),
            "endpoint": .string(proxy.endpoint),
            "sandbox_endpoint": .string(proxy.sandboxEndpoint),
            "api_backend": .optional(apiBackend),
            "hosts": .array(hosts),
            "backend": .object([
                "endpoint": .string(meteringEndpoint),
                "host": .optional(GatewayServiceDocument.host(of: meteringEndpoint)),
            ]),
            "credentials_location": .string(proxy.credentialsLocation),
            "auth_app_key": .string(proxy.authAppKey),
            "auth_app_id": .string(proxy.authAppID),
            "auth_user_key": .string(proxy.authUserKey),
            "error_auth_failed": .string(proxy.errorAuthFailed),
            "error_status_auth_failed": .int(proxy.errorStatusAuthFailed),
            "error_headers_auth_failed": .string(proxy.errorHeadersAuthFailed),
            "error_auth_missing": .string(proxy.errorAuthMissing),
            "error_status_auth_missing": .int(proxy.errorStatusAuthMissing),
            "error_headers_auth_missing": .string(proxy.errorHeadersAuthMissing),
            "error_no_match": .string(proxy.errorNoMatch),
            "error_status_no_match": .int(proxy.errorStatusNoMatch),
            "error_headers_no_match": .string(proxy.errorHeadersNoMatch),
            "error_limits_exceeded": .string(proxy.errorLimitsExceeded),
            "error_status_limits_exceeded": .int(proxy.errorStatusLimitsExceeded),
            "error_headers_limits_exceeded": .string(proxy.errorHeadersLimitsExceeded),
            "secret_token": .string(proxy.secretToken),
            "hostname_rewrite": .string(proxy.hostnameRewrite ?? ""),
            "api_test_path": .string(proxy.apiTestPath),
            "oauth_login_url": .optional(proxy.oauthLoginURL),
            "authentication_method": .string(product.backendVersion),
            "oidc_issuer_endpoint": .optional(proxy.oidcIssuerEndpoint),
            "oidc_issuer_type": .string(proxy.oidcIssuerType),
            "jwt_claim_with_client_id": .optional(proxy.jwtClaimWithClientID),
            "jwt_claim_with_client_id_type": .optional(proxy.jwtClaimWithClientIDType),
            "lock_version": .int(proxy.lockVersion),
            "updated_at": .string(proxy.updatedAt.iso8601),
        ]
        proxyObject["proxy_rules"] = .array(rules)
        proxyObject["policy_chain"] = .array(policyChain(orderedBackends))
        return .object([
            "id": .int(product.id),
            "account_id": .int(product.tenantID),
            "name": .string(product.name),
            "system_name": .string(product.systemName),
            "description": .optional(product.description),
            "state": .string(product.state),
            "deployment_option": .string(product.deploymentOption),
            "backend_version": .string(product.backendVersion == "oidc" ? "oauth" : product.backendVersion),
            "backend_authentication_type": "service_token",
            "backend_authentication_value": .string(product.serviceToken),
            "created_at": .string(product.createdAt.iso8601),
            "updated_at": .string(product.updatedAt.iso8601),
            "proxy": .object(proxyObject),
        ])
    }

    /// The upstream of the product: the backend mounted at `/`, or the legacy `api_backend` value.
    var apiBackend: String? {
        backends.first(where: { $0.usage.path == "/" })?.backend.privateEndpoint ?? product.proxy.apiBackend
    }

    private func ruleDocument(_ rule: MappingRule, prefix: String) -> JSONValue {
        let fullPattern = prefix.isEmpty ? rule.pattern : prefix + (rule.pattern == "/" ? "" : rule.pattern)
        let pattern = fullPattern.isEmpty ? "/" : fullPattern
        let (parameters, query) = GatewayServiceDocument.placeholders(in: pattern)
        return .object([
            "id": .int(rule.id),
            "http_method": .string(rule.httpMethod),
            "pattern": .string(pattern),
            "metric_system_name": .string(metricsByID[rule.metricID]?.plainSystemName ?? "hits"),
            "metric_id": .int(rule.metricID),
            "delta": .int(rule.delta),
            "last": .bool(rule.last),
            "position": .int(rule.position),
            "owner_id": .int(rule.owner.id),
            "owner_type": .string(rule.owner.ownerType),
            "parameters": .array(parameters.map { .string($0) }),
            "querystring_parameters": .object(query),
        ])
    }

    /// Placeholder names of the path and the expected query parameters (`?a={x}&b=c`) of a pattern.
    static func placeholders(in pattern: String) -> ([String], JSONObject) {
        let parts = pattern.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var names: [String] = []
        var current: String?
        for ch in parts[0] {
            if ch == "{" {
                current = ""
            } else if ch == "}", let name = current {
                names.append(name)
                current = nil
            } else if current != nil {
                current?.append(ch)
            }
        }
        var query = JSONObject()
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") where !pair.isEmpty {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query[String(kv[0])] = .string(kv.count == 2 ? String(kv[1]) : "")
            }
        }
        return (names, query)
    }

    private func policyChain(_ orderedBackends: [MountedBackend]) -> [JSONValue] {
        var chain = product.proxy.policies
        if !chain.contains(where: { $0["name"]?.stringValue == "apicast" }) {
            chain.append(ProxySettings.builtinAPIcastPolicy)
        }
        let needsRouting = orderedBackends.contains { $0.usage.path != "/" }
        guard needsRouting, !chain.contains(where: { $0["name"]?.stringValue == "routing" }) else { return chain }
        let routingRules: [JSONValue] = orderedBackends.map { mounted in
            let path = mounted.usage.path
            var rule: JSONObject = [
                "url": .string(mounted.backend.privateEndpoint),
                "owner_id": .int(mounted.backend.id),
                "owner_type": "BackendApi",
            ]
            if path == "/" {
                rule["condition"] = .object(["operations": .array([.object(["match": "path", "op": "matches", "value": "/.*"])])])
            } else {
                let escaped = path.map { $0 == "." ? "\\." : String($0) }.joined()
                rule["condition"] = .object([
                    "operations": .array([.object(["match": "path", "op": "matches", "value": .string("^(\(escaped)/.*|\(escaped)/?)")])])
                ])
                rule["replace_path"] = .string("{{original_request.path | remove_first: '\(path)'}}")
            }
            return .object(rule)
        }
        let routing: JSONValue = .object([
            "name": "routing", "version": "builtin", "enabled": true,
            "configuration": .object(["rules": .array(routingRules)]),
        ])
        let apicastIndex = chain.firstIndex(where: { $0["name"]?.stringValue == "apicast" }) ?? chain.endIndex
        chain.insert(routing, at: apicastIndex)
        return chain
    }
}
