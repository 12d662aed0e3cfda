import PorticoCore

/// A product's policy chain, loaded in order (reference/gateway.md §6). Policies the gateway does not
/// implement, or whose configuration is invalid, are load failures: unlike APIcast, which drops them and
/// serves the request without them (fail-open), Portico answers every request of that product with the
/// `on_failed` status (503 by default) so a security policy is never silently skipped.
public struct PolicyChain: Sendable {
    public let policies: [Policy]
    public let loadFailures: [String]
    /// What the request path asks of the chain on every request, found once when the chain is loaded.
    public let containsAPIcast: Bool
    let hasConditional: Bool
    public let failureStatus: Int
    public let cachingMode: AuthorizationCache.Mode?
    public let batcher: BatcherSettings?
    public let upstreamTimeouts: UpstreamTimeouts?
    /// `upstream_mtls`: the client certificate (and verification) for the product's `https` upstreams.
    public let upstreamMTLS: UpstreamMTLSPolicy?
    /// `http_proxy`: the forward proxy for the product's upstream connections.
    public let httpProxy: HTTPProxyPolicy?
    public let retries: Int
    public let sendsReferrer: Bool
    public let addsRateLimitHeaders: Bool

    public init(entries: [JSONValue]) {
        var policies: [Policy] = []
        var loadFailures: [String] = []
        for entry in entries {
            guard var name = entry["name"]?.stringValue else {
                loadFailures.append("a policy chain entry has no name")
                continue
            }
            if entry["enabled"] == .bool(false) { continue }
            if name.hasPrefix("apicast.policy.") { name = String(name.dropFirst("apicast.policy.".count)) }
            let configuration = entry["configuration"].flatMap { $0.isNull ? nil : $0 } ?? .object([:])
            do {
                policies.append(try Policy(name: name, configuration: configuration))
            } catch {
                loadFailures.append("\(name): \(error.description)")
            }
        }
        var facts = (apicast: false, conditional: false, failureStatus: 503, caching: AuthorizationCache.Mode?.none, batcher: BatcherSettings?.none,
                     timeouts: UpstreamTimeouts?.none, mtls: UpstreamMTLSPolicy?.none, proxy: HTTPProxyPolicy?.none, retries: 0, referrer: false,
                     rateLimitHeaders: false)
        // The first policy of each kind counts, as a scan of the chain in order would find it.
        for p in policies.reversed() {
            switch p {
            case .apicast: facts.apicast = true
            case .conditional: facts.conditional = true
            case .onFailed(let status): facts.failureStatus = status
            case .caching(let mode): facts.caching = mode
            case .batcher(let b): facts.batcher = b
            case .upstreamConnection(let t): facts.timeouts = t
            case .upstreamMTLS(let m): facts.mtls = m
            case .httpProxy(let h): facts.proxy = h
            case .retry(let n): facts.retries = n
            case .referrer: facts.referrer = true
            case .rateLimitHeaders: facts.rateLimitHeaders = true
            default: break
            }
        }
        self.policies = policies
        self.loadFailures = loadFailures
        containsAPIcast = facts.apicast
        hasConditional = facts.conditional
        failureStatus = facts.failureStatus
        cachingMode = facts.caching
        batcher = facts.batcher
        upstreamTimeouts = facts.timeouts
        upstreamMTLS = facts.mtls
        httpProxy = facts.proxy
        retries = facts.retries
        sendsReferrer = facts.referrer
        addsRateLimitHeaders = facts.rateLimitHeaders
    }

    /// The policies a request runs through: each `conditional` policy is replaced by its nested chain when its
    /// condition holds for the request (evaluated once, before the rewrite phase) and dropped otherwise.
    func effective(_ lookup: (String) -> String?) -> [Policy] {
        guard hasConditional else { return policies }
        var out: [Policy] = []
        for policy in policies {
            if case .conditional(let condition, let nested) = policy {
                if condition.holds(lookup) { out += nested }
            } else {
                out.append(policy)
            }
        }
        return out
    }
}

public struct BatcherSettings: Sendable, Equatable {
    public var authsTTLSeconds: Int64
    public var batchReportSeconds: Int64
}

public struct UpstreamTimeouts: Sendable, Equatable {
    public var connect: Double?
    public var send: Double?
    public var read: Double?
}

/// One loaded policy with its typed configuration. Indirect: every request walks its product's chain a few
/// times, and a policy is then copied as one reference rather than through a many-payload enum's value witnesses.
public indirect enum Policy: Sendable {
    case apicast
    case cors(CORSPolicy)
    case headers(HeadersPolicy)
    case urlRewriting(URLRewritingPolicy)
    case upstream([(regex: RegexBox, url: UpstreamURL)])
    case routing([RoutingRule])
    case ipCheck(IPCheckPolicy)
    case defaultCredentials(Credentials)
    case caching(AuthorizationCache.Mode)
    case batcher(BatcherSettings)
    case maintenance(ErrorReply, PolicyCondition)
    case echo(status: Int, exitPhase: Bool)
    case onFailed(Int)
    case upstreamConnection(UpstreamTimeouts)
    case retry(Int)
    case rateLimitHeaders
    case rateLimit(RateLimitPolicy)
    case jwtClaimCheck(JWTClaimCheckPolicy)
    case statusCodeOverwrite([Int: Int])
    case logging(LoggingPolicy)
    case referrer
    case keycloakRoleCheck(KeycloakRoleCheckPolicy)
    /// Request headers dropped before proxying (`nginx_filters` entries with `append: false`).
    case nginxFilters(dropped: [String])
    /// `payload_limits`: byte limits on the request's and the upstream response's Content-Length; 0 is no limit.
    case payloadLimits(request: Int64, response: Int64)
    case conditional(PolicyCondition, [Policy])
    case tokenIntrospection(TokenIntrospectionPolicy)
    case customMetrics(CustomMetricsPolicy)
    case rewriteURLCaptures(RewriteURLCapturesPolicy)
    case soap(SOAPPolicy)
    /// `request_unbuffered`: Portico always streams request bodies to the upstream (url-encoded forms, which it
    /// reads for credentials and rule arguments, excepted), so the policy changes nothing.
    case requestUnbuffered
    case upstreamMTLS(UpstreamMTLSPolicy)
    case httpProxy(HTTPProxyPolicy)

    /// Policies allowed inside `conditional`: the per-request ones. Chain-wide settings (apicast, caching, the
    /// batcher, retries, timeouts, on_failed) cannot depend on a request.
    static let conditionalNames: Set<String> = [
        "cors", "headers", "url_rewriting", "upstream", "routing", "ip_check", "default_credentials", "maintenance_mode", "echo",
        "rate_limit", "jwt_claim_check", "keycloak_role_check", "statuscode_overwrite", "nginx_filters", "payload_limits", "3scale_referrer",
        "rewrite_url_captures",
    ]

    init(name: String, configuration c: JSONValue) throws(GatewayConfigurationError) {
        switch name {
        case "apicast": self = .apicast
        case "cors": self = .cors(try CORSPolicy(c))
        case "headers": self = .headers(try HeadersPolicy(c))
        case "url_rewriting": self = .urlRewriting(try URLRewritingPolicy(c))
        case "upstream":
            var rules: [(RegexBox, UpstreamURL)] = []
            for rule in c["rules"]?.arrayValue ?? [] {
                guard let pattern = rule["regex"]?.stringValue, let regex = try? Regex(pattern) else {
                    throw GatewayConfigurationError("rule regex is missing or invalid")
                }
                guard let raw = rule["url"]?.stringValue, let url = UpstreamURL(raw) else { throw GatewayConfigurationError("rule url is missing or invalid") }
                rules.append((RegexBox(regex), url))
            }
            self = .upstream(rules)
        case "routing":
            self = .routing(try (c["rules"]?.arrayValue ?? []).map { rule throws(GatewayConfigurationError) in try RoutingRule(rule) })
        case "ip_check": self = .ipCheck(try IPCheckPolicy(c))
        case "default_credentials":
            switch c["auth_type"]?.stringValue {
            case "user_key":
                guard let key = c["user_key"]?.stringValue, !key.isEmpty else { throw GatewayConfigurationError("user_key is required") }
                self = .defaultCredentials(.userKey(key))
            case "app_id_and_app_key":
                guard let id = c["app_id"]?.stringValue, let key = c["app_key"]?.stringValue else { throw GatewayConfigurationError("app_id and app_key are required") }
                self = .defaultCredentials(.appID(id, appKey: key))
            default: throw GatewayConfigurationError("auth_type must be user_key or app_id_and_app_key")
            }
        case "caching":
            guard let mode = AuthorizationCache.Mode(rawValue: c["caching_type"]?.stringValue ?? "") else {
                throw GatewayConfigurationError("caching_type must be strict, resilient, allow or none")
            }
            self = .caching(mode)
        case "3scale_batcher":
            self = .batcher(BatcherSettings(authsTTLSeconds: Int64(c["auths_ttl"]?.stringValue ?? "") ?? 10,
                                            batchReportSeconds: max(1, Int64(c["batch_report_seconds"]?.stringValue ?? "") ?? 10)))
        case "maintenance_mode":
            self = .maintenance(ErrorReply(status: Int(c["status"]?.stringValue ?? "") ?? 503,
                                           body: c["message"]?.stringValue ?? "Service Unavailable - Maintenance",
                                           contentType: c["message_content_type"]?.stringValue ?? "text/plain; charset=utf-8"),
                                try PolicyCondition(c["condition"]))
        case "keycloak_role_check": self = .keycloakRoleCheck(try KeycloakRoleCheckPolicy(c))
        case "token_introspection": self = .tokenIntrospection(try TokenIntrospectionPolicy(c))
        case "custom_metrics": self = .customMetrics(try CustomMetricsPolicy(c))
        case "rewrite_url_captures": self = .rewriteURLCaptures(try RewriteURLCapturesPolicy(c))
        case "soap": self = .soap(try SOAPPolicy(c))
        case "request_unbuffered": self = .requestUnbuffered
        case "upstream_mtls": self = .upstreamMTLS(try UpstreamMTLSPolicy(c))
        case "http_proxy": self = .httpProxy(try HTTPProxyPolicy(c))
        case "nginx_filters":
            var dropped: [String] = []
            for h in c["headers"]?.arrayValue ?? [] {
                guard let name = h["name"]?.stringValue, !name.isEmpty else { throw GatewayConfigurationError("every nginx_filters header needs a name") }
                if h["append"] != .bool(true) { dropped.append(name.lowercased()) }
            }
            self = .nginxFilters(dropped: dropped)
        case "payload_limits":
            func limit(_ key: String) throws(GatewayConfigurationError) -> Int64 {
                guard let raw = c[key], !raw.isNull else { return 0 }
                guard let v = raw.stringValue.flatMap({ Int64($0) }), v >= 0 else { throw GatewayConfigurationError("\(key) must be a number of bytes, 0 for no limit") }
                return v
            }
            self = .payloadLimits(request: try limit("request"), response: try limit("response"))
        case "conditional":
            var nested: [Policy] = []
            for entry in c["policy_chain"]?.arrayValue ?? [] where entry["enabled"] != .bool(false) {
                guard var inner = entry["name"]?.stringValue else { throw GatewayConfigurationError("a policy_chain entry has no name") }
                if inner.hasPrefix("apicast.policy.") { inner = String(inner.dropFirst("apicast.policy.".count)) }
                guard Self.conditionalNames.contains(inner) else {
                    throw GatewayConfigurationError("\"\(inner)\" cannot run inside a conditional policy with Portico (it is a chain-wide setting or not implemented)")
                }
                nested.append(try Policy(name: inner, configuration: entry["configuration"].flatMap { $0.isNull ? nil : $0 } ?? .object([:])))
            }
            self = .conditional(try PolicyCondition(c["condition"]), nested)
        case "echo":
            self = .echo(status: Int(c["status"]?.stringValue ?? "") ?? 200, exitPhase: c["exit"]?.stringValue == "phase")
        case "on_failed": self = .onFailed(Int(c["error_status_code"]?.stringValue ?? "") ?? 503)
        case "upstream_connection":
            self = .upstreamConnection(UpstreamTimeouts(connect: c["connect_timeout"]?.stringValue.flatMap(Double.init),
                                                        send: c["send_timeout"]?.stringValue.flatMap(Double.init),
                                                        read: c["read_timeout"]?.stringValue.flatMap(Double.init)))
        case "retry":
            let n = Int(c["retries"]?.stringValue ?? "") ?? 0
            guard (1...10).contains(n) else { throw GatewayConfigurationError("retries must be between 1 and 10") }
            self = .retry(n)
        case "rate_limit_headers": self = .rateLimitHeaders
        case "rate_limit": self = .rateLimit(try RateLimitPolicy(c))
        case "jwt_claim_check": self = .jwtClaimCheck(try JWTClaimCheckPolicy(c))
        case "statuscode_overwrite":
            var map: [Int: Int] = [:]
            for entry in c["http_statuses"]?.arrayValue ?? [] {
                guard let from = entry["upstream"]?.stringValue.flatMap({ Int($0) }), let to = entry["apicast"]?.stringValue.flatMap({ Int($0) }) else {
                    throw GatewayConfigurationError("http_statuses entries need upstream and apicast codes")
                }
                map[from] = to
            }
            self = .statusCodeOverwrite(map)
        case "logging": self = .logging(try LoggingPolicy(c))
        case "3scale_referrer": self = .referrer
        default:
            throw GatewayConfigurationError("policy \"\(name)\" is not implemented by Portico's gateway")
        }
    }
}

/// A compiled regular expression; `Regex` is immutable after construction but not marked `Sendable`.
public struct RegexBox: @unchecked Sendable {
    public let regex: Regex<AnyRegexOutput>
    public init(_ regex: Regex<AnyRegexOutput>) { self.regex = regex }
    func matches(_ s: String) -> Bool { (try? regex.firstMatch(in: s)) != nil }
}
