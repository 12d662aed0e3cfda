import PorticoCore

/// `jwt_claim_check`: for requests whose path and method match a rule's `resource` (mapping-rule syntax) and
/// `methods`, the token's claims must satisfy the rule's operations, else 403 with `error_message`. With
/// `jwt_claim_type`/`value_type`/`resource_type` `liquid`, the claim, value or resource is a Liquid template
/// seeing the token as `jwt.<claim>` (dotted paths into objects) and the request's variables.
public struct JWTClaimCheckPolicy: Sendable {
    struct Operation: Sendable {
        var claim: String
        var claimTemplate: LiquidTemplate?
        var op: String
        var value: String
        var valueTemplate: LiquidTemplate?
        var regex: RegexBox?
    }
    struct Rule: Sendable {
        var resource: PathPattern
        var resourceTemplate: LiquidTemplate?
        var methods: Set<String>
        var operations: [Operation]
        var combineWithOr: Bool
    }

    var rules: [Rule]
    var errorMessage: String

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        rules = []
        for r in c["rules"]?.arrayValue ?? [] {
            guard let resource = r["resource"]?.stringValue else { throw GatewayConfigurationError("every rule needs a resource") }
            let resourceTemplate = r["resource_type"]?.stringValue == "liquid" ? try LiquidTemplate(resource) : nil
            var operations: [Operation] = []
            for o in r["operations"]?.arrayValue ?? [] {
                guard let claim = o["jwt_claim"]?.stringValue else { throw GatewayConfigurationError("every operation needs jwt_claim") }
                let claimTemplate = o["jwt_claim_type"]?.stringValue == "liquid" ? try LiquidTemplate(claim) : nil
                let op = o["op"]?.stringValue ?? "=="
                guard ["==", "!=", "matches"].contains(op) else { throw GatewayConfigurationError("operation \"\(op)\" is not supported") }
                let value = o["value"]?.stringValue ?? ""
                let valueTemplate = o["value_type"]?.stringValue == "liquid" ? try LiquidTemplate(value) : nil
                var regex: RegexBox?
                if op == "matches", valueTemplate == nil {
                    guard let compiled = try? Regex(value) else { throw GatewayConfigurationError("\"\(value)\" is not a valid regular expression") }
                    regex = RegexBox(compiled)
                }
                operations.append(Operation(claim: claim, claimTemplate: claimTemplate, op: op, value: value, valueTemplate: valueTemplate, regex: regex))
            }
            let methods = Set((r["methods"]?.arrayValue ?? []).compactMap(\.stringValue))
            rules.append(Rule(resource: PathPattern(resource), resourceTemplate: resourceTemplate, methods: methods.isEmpty ? ["ANY"] : methods, operations: operations,
                              combineWithOr: r["combine_op"]?.stringValue == "or"))
        }
        errorMessage = c["error_message"]?.stringValue ?? "Request blocked due to JWT claim policy"
    }

    /// Whether the request may pass; `claims` is nil when the request carried no verified token. `request` gives
    /// the request's Liquid variables.
    func allows(method: String, path: String, claims: JSONValue?, request: (String) -> String? = { _ in nil }) -> Bool {
        func lookup(_ name: String) -> String? { Self.variable(name, claims: claims, request: request) }
        for rule in rules where rule.methods.contains("ANY") || rule.methods.contains(method) {
            let resource = rule.resourceTemplate.map { PathPattern($0.render(lookup)) } ?? rule.resource
            guard resource.matches(path) else { continue }
            guard let claims else { return false }
            func holds(_ o: Operation) -> Bool {
                let values: [String]
                if let template = o.claimTemplate {
                    values = [template.render(lookup)]
                } else {
                    let raw = claims[o.claim]
                    values = raw?.arrayValue?.compactMap(\.stringValue) ?? raw?.stringValue.map { [$0] } ?? []
                }
                let expected = o.valueTemplate?.render(lookup) ?? o.value
                switch o.op {
                case "==": return values.contains(expected)
                case "!=": return !values.contains(expected)
                default:
                    if let regex = o.regex { return values.contains { regex.matches($0) } }
                    guard let compiled = try? Regex(expected) else { return false }
                    return values.contains { (try? compiled.firstMatch(in: $0)) != nil }
                }
            }
            let passed = rule.operations.isEmpty || (rule.combineWithOr ? rule.operations.contains(where: holds) : rule.operations.allSatisfy(holds))
            if !passed { return false }
        }
        return true
    }

    /// A Liquid variable of the token policies: `jwt.<claim path>` from the token, anything else from the request.
    static func variable(_ name: String, claims: JSONValue?, request: (String) -> String?) -> String? {
        if name == "jwt" || name.hasPrefix("jwt.") { return claims.flatMap { claim(name.dropFirst(3).drop { $0 == "." }, in: $0) } }
        return request(name)
    }

    /// A claim by dotted path (`realm_access.roles`); arrays render comma-separated, objects as JSON.
    static func claim(_ path: Substring, in claims: JSONValue) -> String? {
        var current: JSONValue? = claims
        for part in path.split(separator: ".") where !part.isEmpty { current = current?[String(part)] }
        guard let current, !current.isNull else { return nil }
        if let items = current.arrayValue { return items.map { $0.stringValue ?? $0.serializedString }.joined(separator: ",") }
        return current.stringValue ?? current.serializedString
    }
}
