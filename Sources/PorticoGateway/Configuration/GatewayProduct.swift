import PorticoCore

/// One product (`services[]` entry of the APIcast document), compiled for request handling.
public struct GatewayProduct: Sendable {
    public var id: String
    public var systemName: String?
    public var credentials: CredentialExtractor
    public var isOIDC: Bool
    /// `service_token` or `provider_key`, and its value (also the secret of `X-3scale-Debug`).
    public var backendAuthenticationType: String
    public var backendAuthenticationValue: String
    public var hosts: [String]
    public var apiBackend: UpstreamURL?
    public var backendEndpoint: String?
    public var backendHost: String?
    public var hostnameRewrite: String?
    public var secretToken: String?
    public var authMissing: ErrorReply
    public var authFailed: ErrorReply
    public var limitsExceeded: ErrorReply
    public var noMatch: ErrorReply
    public var rules: [GatewayMappingRule]
    public var chain: PolicyChain
    /// OIDC: the claim naming the 3scale application (`azp` by default).
    public var clientIDClaim: String
    /// OIDC: `proxy.oidc_issuer_endpoint` (discovery when the document has no `oidc` entry).
    public var oidcIssuerEndpoint: String?
    /// OIDC: the document's `oidc[]` entry of this product, if any.
    public var oidcEntry: JSONValue?
    /// OIDC: the issuer's keys, once resolved; requests are denied (auth-failed) without them.
    public var oidc: OIDCVerifier?
    /// The service object this product was compiled from (the management API's `GET /config` shows it).
    public let document: JSONValue

    /// Parses one service object; a problem that makes the product unusable is an error naming the field.
    public init(document: JSONValue) throws(GatewayConfigurationError) {
        guard case .object = document else { throw GatewayConfigurationError("a service entry is not a JSON object") }
        self.document = document
        id = document["id"].flatMap { $0.isNull ? nil : $0.stringValue } ?? "default"
        systemName = document["system_name"]?.stringValue
        let proxy = document["proxy"].flatMap { $0.isNull ? nil : $0 } ?? .object([:])
        func string(_ key: String) -> String? {
            guard let v = proxy[key], !v.isNull, let s = v.stringValue else { return nil }
            return s
        }
        func nonEmpty(_ key: String) -> String? {
            guard let s = string(key)?.trimmingSpaces, !s.isEmpty else { return nil }
            return s
        }
        func reply(_ suffix: String, _ fallback: ErrorReply) -> ErrorReply {
            var r = fallback
            if let body = string("error_\(suffix)") { r.body = body }
            if let status = string("error_status_\(suffix)").flatMap({ Int($0) }), (100...599).contains(status) { r.status = status }
            if let type = nonEmpty("error_headers_\(suffix)") { r.contentType = type }
            return r
        }
        let version = document["backend_version"]?.stringValue ?? "1"
        let method = string("authentication_method") ?? version
        isOIDC = method == "oidc" || version == "oauth"
        let location = CredentialsLocation(rawValue: string("credentials_location") ?? "query") ?? .unknown
        let mode: CredentialExtractor.Mode
        if isOIDC {
            mode = .oidc
        } else if version == "2" {
            mode = .appID(idName: (nonEmpty("auth_app_id") ?? "app_id").lowercased(), keyName: (nonEmpty("auth_app_key") ?? "app_key").lowercased())
        } else {
            mode = .userKey(name: (nonEmpty("auth_user_key") ?? "user_key").lowercased())
        }
        credentials = CredentialExtractor(mode: mode, location: location)
        backendAuthenticationType = document["backend_authentication_type"]?.stringValue ?? "service_token"
        backendAuthenticationValue = document["backend_authentication_value"]?.stringValue ?? ""
        hosts = (proxy["hosts"]?.arrayValue ?? [.string("localhost")]).compactMap { $0.stringValue?.lowercased() }
        if let raw = nonEmpty("api_backend") {
            guard let url = UpstreamURL(raw) else {
                throw GatewayConfigurationError("product \(id): api_backend \"\(raw)\" is not an http(s) URL")
            }
            apiBackend = url
        } else {
            apiBackend = nil
        }
        backendEndpoint = proxy["backend"]?["endpoint"]?.stringValue
        backendHost = proxy["backend"]?["host"]?.stringValue
        hostnameRewrite = nonEmpty("hostname_rewrite")
        secretToken = nonEmpty("secret_token")
        authMissing = reply("auth_missing", .authMissing)
        authFailed = reply("auth_failed", .authFailed)
        limitsExceeded = reply("limits_exceeded", .limitsExceeded)
        noMatch = reply("no_match", .noMatch)
        clientIDClaim = nonEmpty("jwt_claim_with_client_id") ?? "azp"
        oidcIssuerEndpoint = nonEmpty("oidc_issuer_endpoint")
        var rules: [GatewayMappingRule] = []
        for (index, rule) in (proxy["proxy_rules"]?.arrayValue ?? []).enumerated() {
            guard let metric = rule["metric_system_name"]?.stringValue, !metric.isEmpty else {
                throw GatewayConfigurationError("product \(id): mapping rule \(index + 1) has no metric_system_name")
            }
            var query: [(String, GatewayMappingRule.ExpectedValue)] = []
            for (name, value) in rule["querystring_parameters"]?.objectValue?.entries ?? [] {
                let expected = value.stringValue ?? ""
                query.append((name, GatewayMappingRule.isPlaceholder(expected) ? .present : .literal(expected)))
            }
            let owner = rule["owner_type"]?.stringValue == "BackendApi" ? rule["owner_id"]?.stringValue : nil
            rules.append(GatewayMappingRule(httpMethod: rule["http_method"]?.stringValue ?? "GET", pattern: rule["pattern"]?.stringValue ?? "/",
                                            queryParameters: query, metric: metric, delta: Int64(rule["delta"]?.stringValue ?? "0") ?? 0,
                                            last: rule["last"]?.stringValue == "true", backendOwnerID: owner))
        }
        self.rules = rules
        chain = PolicyChain(entries: proxy["policy_chain"].flatMap { $0.isNull ? nil : $0.arrayValue } ?? [ProxySettings.builtinAPIcastPolicy])
    }

    /// The Host header towards the upstream.
    func upstreamHostHeader(_ upstream: UpstreamURL, override: String?) -> String {
        override ?? hostnameRewrite ?? upstream.hostHeader
    }
}

/// A configuration document or entry that cannot be used, with what to fix.
public struct GatewayConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
