/// Manifests (`apicast-policy.json` documents) of the policies Portico's gateway implements, in APIcast's
/// manifest format (`http://apicast.io/policy-v1.1/schema`): the gateway's management endpoint `/policies/`
/// serves them as APIcast's does, for porta's policy editor. Each configuration schema lists the fields
/// Portico reads; a policy is here only when the gateway loads it (a test holds the two lists equal).
public enum BuiltinPolicyManifests {
    public static let schemaURL = "http://apicast.io/policy-v1.1/schema"

    /// name → manifest, in the order APIcast's documentation lists them.
    public static let all: [(name: String, manifest: JSONValue)] = [
        manifest("apicast", "3scale APIcast", "Main functionality of APIcast to work with the 3scale API manager.", [:]),
        manifest("cors", "CORS Request Handling", "Enables CORS (Cross Origin Resource Sharing) request handling.", [
            "allow_headers": list(string("Allowed header")), "allow_methods": list(choice(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"])),
            "allow_origin": string("Origin allowed for CORS requests, or a regular expression matched against the Origin header"),
            "allow_credentials": boolean("Whether the request can be made using credentials"), "max_age": integer("Seconds the preflight answer may be cached"),
        ]),
        manifest("headers", "Header Modification", "Allows to include custom headers.", [
            "request": list(object(headerCommand)), "response": list(object(headerCommand)),
        ]),
        manifest("url_rewriting", "URL Rewriting", "Allows to modify the path of a request and its query arguments.", [
            "commands": list(object([
                "op": choice(["sub", "gsub"]), "regex": string("Regular expression to be matched"), "replace": string("String that replaces what is matched"),
                "options": string("Options of the regular expression"), "break": boolean("Stop at the first command that changes the path"),
                "methods": methodList,
            ], required: ["op", "regex", "replace"])),
            "query_args_commands": list(object([
                "op": choice(["push", "set", "add", "delete"]), "arg": string("Query argument"), "value": string("Value"),
                "value_type": valueType, "methods": methodList,
            ], required: ["op", "arg"])),
        ]),
        manifest("rewrite_url_captures", "URL Rewriting with Captures", "Captures arguments in a URL and rewrites the URL using them.", [
            "transformations": list(object([
                "match_rule": string("Rule to be matched, with {named} captures of one path segment"),
                "template": string("New path, may contain a query; {named} captures are replaced"), "methods": methodList,
            ], required: ["match_rule", "template"])),
        ]),
        manifest("upstream", "Upstream", "Allows to modify the upstream URL of the request based on its path.", [
            "rules": list(object(["regex": string("Regular expression matched against the path"), "url": string("New upstream URL")], required: ["regex", "url"])),
        ]),
        manifest("routing", "Routing", "Allows to modify the upstream of a request based on its path, headers, query arguments or JWT claims.", [
            "rules": list(object([
                "url": string("Upstream URL"), "owner_id": integer("Backend that owns the rule"), "owner_type": string("Type of the owner"),
                "host_header": string("Host header sent to the upstream"), "replace_path": string("Liquid template of the path sent to the upstream"),
                "condition": condition,
            ], required: ["url"])),
        ]),
        manifest("ip_check", "IP Check", "Accepts or denies requests according to the IP of the client.", [
            "check_type": choice(["blacklist", "whitelist"]), "ips": list(string("IP address or CIDR range")),
            "error_msg": string("Error message when the IP is denied"),
            "client_ip_sources": list(choice(["X-Forwarded-For", "X-Real-IP", "last_caller", "proxy_protocol_addr"])),
        ], required: ["ips", "check_type"]),
        manifest("default_credentials", "Anonymous Access", "Provides default credentials for unauthenticated requests.", [
            "auth_type": choice(["user_key", "app_id_and_app_key"]), "user_key": string("User key"), "app_id": string("App ID"), "app_key": string("App key"),
        ], required: ["auth_type"]),
        manifest("caching", "3scale Auth Caching", "Controls how APIcast caches authorizations.", [
            "caching_type": choice(["resilient", "strict", "allow", "none"]),
        ], required: ["caching_type"]),
        manifest("3scale_batcher", "3scale Batcher", "Caches authorizations and reports usage in batches.", [
            "auths_ttl": integer("Seconds authorizations are cached"), "batch_report_seconds": integer("Seconds between batched reports"),
        ]),
        manifest("3scale_referrer", "3scale Referrer", "Sends the Referer header to 3scale for referrer filters.", [:]),
        manifest("maintenance_mode", "Maintenance Mode", "Rejects incoming requests. Useful for maintenance periods.", [
            "status": integer("Status code of the response"), "message": string("Body of the response"),
            "message_content_type": string("Content-Type of the response"), "condition": condition,
        ]),
        manifest("echo", "Echo", "Prints the request back to the client and optionally sets a status code.", [
            "status": integer("HTTP status code"), "exit": choice(["request", "phase"]),
        ]),
        manifest("on_failed", "On fail", "Blocks the request when a policy of the chain fails.", [
            "error_status_code": integer("Status code returned when a policy fails"),
        ]),
        manifest("http_proxy", "HTTP Proxy", "Reaches the upstreams through a forward HTTP proxy.", [
            "all_proxy": string("Proxy URL (http://[user:password@]host:port) for http and https upstreams"),
            "http_proxy": string("Proxy URL for http upstreams"), "https_proxy": string("Proxy URL for https upstreams (CONNECT tunnel)"),
        ]),
        manifest("upstream_mtls", "Upstream Mutual TLS", "Presents a client certificate to HTTPS upstreams and can verify theirs.", [
            "certificate_type": choice(["path", "embedded"]), "certificate": string("Client certificate (PEM): a file path or a base64 data URL"),
            "certificate_key_type": choice(["path", "embedded"]), "certificate_key": string("Its private key (PEM): a file path or a base64 data URL"),
            "ca_certificates": list(string("PEM certificate of a CA the upstream's certificate may be signed by")),
            "verify": .object(["type": "boolean", "default": false, "description": "Verify the upstream's certificate"]),
        ], required: ["certificate", "certificate_key"]),
        manifest("upstream_connection", "Upstream Connection", "Allows to configure several options for the connections to the upstream.", [
            "connect_timeout": number("Seconds to establish the connection"), "send_timeout": number("Seconds between two writes"),
            "read_timeout": number("Seconds between two reads"),
        ]),
        manifest("retry", "Retry", "Allows to retry requests to the upstream.", [
            "retries": .object(["type": "integer", "minimum": 1, "maximum": 10, "description": "Number of retries"]),
        ]),
        manifest("rate_limit_headers", "Rate Limits Headers", "Sets RateLimit headers from the 3scale limits.", [:]),
        manifest("rate_limit", "Edge Limiting", "Adds rate limits to the gateway.", [
            "fixed_window_limiters": list(object([
                "key": limiterKey, "count": integer("Requests allowed in the window"), "window": integer("Window in seconds"), "condition": condition,
            ], required: ["key", "count"])),
            "leaky_bucket_limiters": list(object([
                "key": limiterKey, "rate": integer("Requests per second"), "burst": integer("Requests beyond the rate that are delayed"), "condition": condition,
            ], required: ["key", "rate"])),
            "connection_limiters": list(object([
                "key": limiterKey, "conn": integer("Requests in progress allowed"), "burst": integer("Requests beyond conn that are delayed"),
                "delay": number("Seconds a delayed request waits for each conn requests ahead of it"), "condition": condition,
            ], required: ["key", "conn"])),
            "limits_exceeded_error": object(["status_code": integer("Status code when limits are exceeded"), "error_handling": choice(["exit", "log"])]),
            "configuration_error": object(["status_code": integer("Status code when the shared limits cannot be read"), "error_handling": choice(["exit", "log"])]),
            "redis_url": string("Redis URL of limits shared by every gateway using it"),
        ]),
        manifest("jwt_claim_check", "JWT Claim Check", "Allows to block requests based on JWT claims.", [
            "rules": list(object([
                "resource": string("Resource controlled by the rule (mapping-rule syntax)"), "resource_type": valueType, "methods": methodList,
                "operations": list(object([
                    "jwt_claim": string("JWT claim"), "jwt_claim_type": valueType, "op": choice(["==", "!=", "matches"]), "value": string("Value"),
                    "value_type": valueType,
                ], required: ["jwt_claim", "op", "value"])),
                "combine_op": choice(["and", "or"]),
            ], required: ["resource"])),
            "error_message": string("Error message when a request is blocked"),
        ]),
        manifest("keycloak_role_check", "RH-SSO/Keycloak Role Check", "Adds role check with Keycloak: realm roles and client roles in the access token.", [
            "type": choice(["whitelist", "blacklist"]),
            "whitelist_deny_unmatched": boolean("Whether a whitelist denies requests no scope covers"),
            "scopes": list(object([
                "realm_roles": list(object(["name": string("Realm role"), "name_type": valueType], required: ["name"])),
                "client_roles": list(object(["name": string("Client role"), "name_type": valueType, "client": string("Client"), "client_type": valueType],
                                            required: ["name", "client"])),
                "resource": string("Resource controlled by the scope (mapping-rule syntax)"), "resource_type": valueType, "methods": methodList,
            ])),
        ]),
        manifest("token_introspection", "OAuth 2.0 Token Introspection", "Checks access tokens with the identity provider's introspection endpoint (RFC 7662).", [
            "auth_type": choice(["use_3scale_oidc_issuer_endpoint", "client_id+client_secret", "client_secret_jwt", "private_key_jwt"]),
            "client_id": string("Client ID of the token introspection endpoint"), "client_secret": string("Client secret"),
            "introspection_url": string("Introspection endpoint URL"),
            "client_jwt_assertion_audience": string("Audience of the client assertion (default: the introspection URL)"),
            "client_jwt_assertion_expires_in": .object(["type": "integer", "minimum": 1, "maximum": 3600, "default": 60,
                                                        "description": "Seconds the client assertion is valid"]),
            "certificate_type": choice(["path", "embedded"]),
            "certificate": string("private_key_jwt: the PEM RSA private key, as a file path or a base64 data URL"),
            "max_ttl_tokens": .object(["type": "integer", "minimum": 1, "maximum": 3600, "description": "Most seconds an active token is cached"]),
            "max_cached_tokens": .object(["type": "integer", "minimum": 0, "maximum": 10000, "description": "Most tokens cached; 0 disables the cache"]),
        ], required: ["auth_type"]),
        manifest("statuscode_overwrite", "HTTP Status Code Overwrite", "Modifies the HTTP status code returned by the upstream.", [
            "http_statuses": list(object(["upstream": integer("Upstream status code"), "apicast": integer("Status code returned instead")],
                                         required: ["upstream", "apicast"])),
        ]),
        manifest("logging", "Logging", "Controls logging.", [
            "enable_access_logs": boolean("Whether to write access logs for the service"),
            "custom_logging": string("Liquid template of the access log line"),
            "enable_json_logs": boolean("Write the access log line as a JSON object"),
            "json_object_config": list(object(["key": string("JSON key"), "value": string("Value"), "value_type": valueType], required: ["key"])),
            "condition": object(["operations": list(object(["op": choice(["==", "!=", "matches"]), "match": string("Liquid or plain text"),
                                                             "match_type": valueType, "value": string("Value"), "value_type": valueType])),
                                 "combine_op": choice(["and", "or"])]),
        ]),
        manifest("nginx_filters", "NGINX Filters", "Skips checks of request headers and optionally forwards them.", [
            "headers": list(object(["name": string("Header name"), "append": boolean("Forward the header to the upstream")], required: ["name"])),
        ]),
        manifest("payload_limits", "Payload Limits", "Limits the request and response body sizes by Content-Length.", [
            "request": integer("Largest request body in bytes (0: no limit)"), "response": integer("Largest response body in bytes (0: no limit)"),
        ]),
        manifest("request_unbuffered", "Request Unbuffered", "Streams request bodies to the upstream (Portico always does).", [:]),
        manifest("conditional", "Conditional Policy", "Executes a policy chain conditionally.", [
            "condition": condition, "policy_chain": .object(["type": "array", "items": .object(["type": "object"])]),
        ], required: ["condition"]),
        manifest("custom_metrics", "Custom Metrics", "Reports usage of custom metrics depending on the response.", [
            "rules": list(object([
                "metric": string("Metric to increment (Liquid)"), "increment": string("Increment (Liquid)"), "condition": condition,
            ], required: ["metric"])),
        ]),
        manifest("soap", "SOAP", "Adds support for a small subset of SOAP: usage by SOAP action.", [
            "mapping_rules": list(object([
                "pattern": string("Pattern matched against the SOAP action"), "metric_system_name": string("Metric"), "delta": integer("Increment"),
            ], required: ["pattern", "metric_system_name", "delta"])),
        ]),
    ]

    /// `GET /policies/` as APIcast answers it: `{"policies": {"<name>": [<manifest>]}}`.
    public static var document: JSONValue {
        .object(["policies": .object(JSONObject(all.map { ($0.name, JSONValue.array([$0.manifest])) }))])
    }

    // MARK: schema building blocks

    static func manifest(_ name: String, _ title: String, _ summary: String, _ properties: JSONObject, required: [String] = []) -> (String, JSONValue) {
        var configuration: JSONObject = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { configuration["required"] = .array(required.map { .string($0) }) }
        return (name, .object(["$schema": .string(schemaURL), "name": .string(title), "summary": .string(summary),
                               "description": .array([.string(summary)]), "version": "builtin", "configuration": .object(configuration)]))
    }

    static func string(_ description: String) -> JSONValue { .object(["type": "string", "description": .string(description)]) }
    static func integer(_ description: String) -> JSONValue { .object(["type": "integer", "description": .string(description)]) }
    static func number(_ description: String) -> JSONValue { .object(["type": "number", "description": .string(description)]) }
    static func boolean(_ description: String) -> JSONValue { .object(["type": "boolean", "description": .string(description)]) }
    static func choice(_ values: [String]) -> JSONValue { .object(["type": "string", "enum": .array(values.map { .string($0) })]) }
    static func list(_ items: JSONValue) -> JSONValue { .object(["type": "array", "items": items]) }
    static func object(_ properties: JSONObject, required: [String] = []) -> JSONValue {
        var o: JSONObject = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { o["required"] = .array(required.map { .string($0) }) }
        return .object(o)
    }

    static let valueType = choice(["plain", "liquid"])
    static let methodList = list(choice(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]))
    static let headerCommand: JSONObject = [
        "op": choice(["add", "set", "push", "delete"]), "header": string("Header to be modified"), "value": string("Value"), "value_type": valueType,
    ]
    static let limiterKey = object([
        "name": string("The name of the key, must be unique in the scope"), "name_type": valueType, "scope": choice(["global", "service"]),
    ], required: ["name"])
    static let condition = object([
        "operations": list(object([
            "left": string("Left operand"), "left_type": valueType, "op": choice(["==", "!=", "matches"]),
            "right": string("Right operand"), "right_type": valueType,
        ], required: ["left", "op", "right"])),
        "combine_op": choice(["and", "or"]),
    ])
}
