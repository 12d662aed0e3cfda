import PorticoCore

/// One product (`services[]` entry of the APIcast document), compiled for request handling.
///
/// Every request copies its product out of the configuration, and a request's decision, memo and metrics
/// carry it on; what was parsed from the document is therefore kept in one shared, immutable box, so a copy
/// is one reference count rather than one per field. Only the OIDC keys, resolved after parsing, are set later.
public struct GatewayProduct: Sendable {
    private let compiled: CompiledProduct
    /// OIDC: the document's `oidc[]` entry of this product, if any.
    public var oidcEntry: JSONValue?
    /// OIDC: the issuer's keys, once resolved; requests are denied (auth-failed) without them.
    public var oidc: OIDCVerifier?

    /// Parses one service object; a problem that makes the product unusable is an error naming the field.
    public init(document: JSONValue) throws(GatewayConfigurationError) {
        compiled = try CompiledProduct(document: document)
    }

    /// Two products with the same compilation were parsed from the same document (a prepared authrep made for
    /// one is right for the other).
    func isSameCompilation(as other: AnyObject) -> Bool { compiled === other }
    var compilation: AnyObject & Sendable { compiled }

    public var id: String { compiled.id }
    public var systemName: String? { compiled.systemName }
    public var credentials: CredentialExtractor { compiled.credentials }
    public var isOIDC: Bool { compiled.isOIDC }
    /// `service_token` or `provider_key`, and its value (also the secret of `X-3scale-Debug`).
    public var backendAuthenticationType: String { compiled.backendAuthenticationType }
    public var backendAuthenticationValue: String { compiled.backendAuthenticationValue }
    public var hosts: [String] { compiled.hosts }
    public var apiBackend: UpstreamURL? { compiled.apiBackend }
    public var backendEndpoint: String? { compiled.backendEndpoint }
    public var backendHost: String? { compiled.backendHost }
    public var hostnameRewrite: String? { compiled.hostnameRewrite }
    public var secretToken: String? { compiled.secretToken }
    public var authMissing: ErrorReply { compiled.authMissing }
    public var authFailed: ErrorReply { compiled.authFailed }
    public var limitsExceeded: ErrorReply { compiled.limitsExceeded }
    public var noMatch: ErrorReply { compiled.noMatch }
    public var rules: [GatewayMappingRule] { compiled.rules }
    public var chain: PolicyChain { compiled.chain }
    /// OIDC: the claim naming the 3scale application (`azp` by default).
    public var clientIDClaim: String { compiled.clientIDClaim }
    /// OIDC: `proxy.oidc_issuer_endpoint` (discovery when the document has no `oidc` entry).
    public var oidcIssuerEndpoint: String? { compiled.oidcIssuerEndpoint }
    /// The service object this product was compiled from (the management API's `GET /config` shows it).
    public var document: JSONValue { compiled.document }

    /// The Host header towards the upstream.
    func upstreamHostHeader(_ upstream: UpstreamURL, override: String?) -> String {
        override ?? hostnameRewrite ?? upstream.hostHeader
    }
}

/// What `GatewayProduct` parsed from its service object, shared by every copy of the product.
final class CompiledProduct: Sendable {
    let id: String
    let systemName: String?
    let credentials: CredentialExtractor
    let isOIDC: Bool
    let backendAuthenticationType: String
    let backendAuthenticationValue: String
    let hosts: [String]
    let apiBackend: UpstreamURL?
    let backendEndpoint: String?
    let backendHost: String?
    let hostnameRewrite: String?
    let secretToken: String?
    let authMissing: ErrorReply
    let authFailed: ErrorReply
    let limitsExceeded: ErrorReply
    let noMatch: ErrorReply
    let rules: [GatewayMappingRule]
    let chain: PolicyChain
    let clientIDClaim: String
    let oidcIssuerEndpoint: String?
    let document: JSONValue

    init(document: JSONValue) throws(GatewayConfigurationError) {
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

}

/// A configuration document or entry that cannot be used, with what to fix.
public struct GatewayConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
