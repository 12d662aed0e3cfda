import PorticoCore

/// `keycloak_role_check` (reference/gateway.md §6.2), with APIcast's decision: a scope applies when the
/// request's method and path match its `resource` (mapping-rule syntax) and `methods`, and passes when the
/// verified token holds every realm role (`realm_access.roles`) and client role
/// (`resource_access.<client>.roles`) it lists. `whitelist` lets a request through only when some applying
/// scope passes (requests no scope applies to are denied too, unless `whitelist_deny_unmatched` is false);
/// `blacklist` denies a request when some applying scope passes. A request without a verified token passes no
/// scope. Denials get the product's authentication-failed error, as in APIcast.
public struct KeycloakRoleCheckPolicy: Sendable {
    struct ClientRole: Sendable, Equatable {
        var name: String
        var client: String
    }
    struct Scope: Sendable {
        var resource: PathPattern
        var methods: Set<String>
        var realmRoles: [String]
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
            if s["resource_type"]?.stringValue == "liquid" { throw GatewayConfigurationError("liquid resources are not supported") }
            func names(_ list: JSONValue?) throws(GatewayConfigurationError) -> [String] {
                var out: [String] = []
                for entry in list?.arrayValue ?? [] {
                    // APIcast accepts `{"name": "x"}` objects; a bare string is accepted too.
                    guard let name = entry["name"]?.stringValue ?? entry.stringValue, !name.isEmpty else {
                        throw GatewayConfigurationError("every role needs a name")
                    }
                    if entry["name_type"]?.stringValue == "liquid" { throw GatewayConfigurationError("liquid role names are not supported") }
                    out.append(name)
                }
                return out
            }
            var clientRoles: [ClientRole] = []
            for entry in s["client_roles"]?.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue, !name.isEmpty, let client = entry["client"]?.stringValue, !client.isEmpty else {
                    throw GatewayConfigurationError("every client role needs a name and a client")
                }
                if entry["name_type"]?.stringValue == "liquid" || entry["client_type"]?.stringValue == "liquid" {
                    throw GatewayConfigurationError("liquid role names are not supported")
                }
                clientRoles.append(ClientRole(name: name, client: client))
            }
            let methods = Set((s["methods"]?.arrayValue ?? []).compactMap(\.stringValue))
            scopes.append(Scope(resource: PathPattern(s["resource"]?.stringValue ?? "/"), methods: methods.isEmpty ? ["ANY"] : methods,
                                realmRoles: try names(s["realm_roles"]), clientRoles: clientRoles))
        }
    }

    /// Whether the request may pass; `claims` is nil when it carried no verified token.
    func allows(method: String, path: String, claims: JSONValue?) -> Bool {
        // true: an applying scope passed; false: scopes applied but none passed; nil: no scope applied.
        var verdict: Bool?
        if let claims {
            let realm = Set(claims["realm_access"]?["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            func holds(_ role: ClientRole) -> Bool {
                (claims["resource_access"]?[role.client]?["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []).contains(role.name)
            }
            for scope in scopes where (scope.methods.contains("ANY") || scope.methods.contains(method)) && scope.resource.matches(path) {
                if scope.realmRoles.allSatisfy(realm.contains), scope.clientRoles.allSatisfy(holds) {
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
