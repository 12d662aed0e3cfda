import PorticoCore

/// `keycloak_role_check` (reference/gateway.md §6.2), with APIcast's decision: a scope applies when the
/// request's method and path match its `resource` (mapping-rule syntax) and `methods`, and passes when the
/// verified token holds every realm role (`realm_access.roles`) and client role
/// (`resource_access.<client>.roles`) it lists. `whitelist` lets a request through only when some applying
/// scope passes (requests no scope applies to are denied too, unless `whitelist_deny_unmatched` is false);
/// `blacklist` denies a request when some applying scope passes. A request without a verified token passes no
/// scope. Denials get the product's authentication-failed error, as in APIcast.
public struct KeycloakRoleCheckPolicy: Sendable {
    typealias Name = PlainOrLiquid
    struct ClientRole: Sendable {
        var name: Name
        var client: Name
    }
    struct Scope: Sendable {
        var resource: Name
        /// The compiled resource when it is plain text.
        var pattern: PathPattern?
        var methods: Set<String>
        var realmRoles: [Name]
        var clientRoles: [ClientRole]
    }

    var whitelist: Bool
    var whitelistDeniesUnmatched: Bool
    var scopes: [Scope]

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        switch c["type"]?.stringValue ?? "whitelist" {
        case "whitelist": whitelist = true
        case "blacklist": whitelist = false
        case let other: throw GatewayConfigurationError("type must be whitelist or blacklist (got \(other))")
        }
        whitelistDeniesUnmatched = c["whitelist_deny_unmatched"] != .bool(false)
        scopes = []
        for s in c["scopes"]?.arrayValue ?? [] {
            var realmRoles: [Name] = []
            for entry in s["realm_roles"]?.arrayValue ?? [] {
                // APIcast accepts `{"name": "x"}` objects; a bare string is accepted too.
                guard let name = entry["name"]?.stringValue ?? entry.stringValue, !name.isEmpty else { throw GatewayConfigurationError("every role needs a name") }
                realmRoles.append(try Name(name, type: entry["name_type"]?.stringValue))
            }
            var clientRoles: [ClientRole] = []
            for entry in s["client_roles"]?.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue, !name.isEmpty, let client = entry["client"]?.stringValue, !client.isEmpty else {
                    throw GatewayConfigurationError("every client role needs a name and a client")
                }
                clientRoles.append(ClientRole(name: try Name(name, type: entry["name_type"]?.stringValue),
                                              client: try Name(client, type: entry["client_type"]?.stringValue)))
            }
            let methods = Set((s["methods"]?.arrayValue ?? []).compactMap(\.stringValue))
            let resource = try Name(s["resource"]?.stringValue ?? "/", type: s["resource_type"]?.stringValue)
            var pattern: PathPattern?
            if case .plain(let text) = resource { pattern = PathPattern(text) }
            scopes.append(Scope(resource: resource, pattern: pattern, methods: methods.isEmpty ? ["ANY"] : methods, realmRoles: realmRoles,
                                clientRoles: clientRoles))
        }
    }

    /// Whether the request may pass; `claims` is nil when it carried no verified token. Liquid names see the
    /// token as `jwt.<claim>` and the request's variables.
    func allows(method: String, path: String, claims: JSONValue?, request: (String) -> String? = { _ in nil }) -> Bool {
        func lookup(_ name: String) -> String? { JWTClaimCheckPolicy.variable(name, claims: claims, request: request) }
        // true: an applying scope passed; false: scopes applied but none passed; nil: no scope applied.
        var verdict: Bool?
        if let claims {
            let realm = Set(claims["realm_access"]?["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            func holds(_ role: ClientRole) -> Bool {
                (claims["resource_access"]?[role.client.value(lookup)]?["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []).contains(role.name.value(lookup))
            }
            for scope in scopes where (scope.methods.contains("ANY") || scope.methods.contains(method)) && (scope.pattern ?? PathPattern(scope.resource.value(lookup))).matches(path) {
                if scope.realmRoles.allSatisfy({ realm.contains($0.value(lookup)) }), scope.clientRoles.allSatisfy(holds) {
                    verdict = true
                    break
                }
                verdict = false
            }
        } else {
            verdict = false
        }
        if whitelist { return verdict == true || (verdict == nil && !whitelistDeniesUnmatched) }
        return verdict != true
    }
}
