import PorticoCore

/// `jwt_claim_check`: for requests whose path and method match a rule's `resource` (mapping-rule syntax) and
/// `methods`, the token's claims must satisfy the rule's operations, else 403 with `error_message`.
public struct JWTClaimCheckPolicy: Sendable {
    struct Operation: Sendable {
        var claim: String
        var op: String
        var value: String
        var regex: RegexBox?
    }
    struct Rule: Sendable {
        var resource: PathPattern
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
            if r["resource_type"]?.stringValue == "liquid" { throw GatewayConfigurationError("liquid resources are not supported") }
            var operations: [Operation] = []
            for o in r["operations"]?.arrayValue ?? [] {
                guard let claim = o["jwt_claim"]?.stringValue else { throw GatewayConfigurationError("every operation needs jwt_claim") }
                if o["jwt_claim_type"]?.stringValue == "liquid" || o["value_type"]?.stringValue == "liquid" {
                    throw GatewayConfigurationError("liquid claims and values are not supported")
                }
                let op = o["op"]?.stringValue ?? "=="
                guard ["==", "!=", "matches"].contains(op) else { throw GatewayConfigurationError("operation \"\(op)\" is not supported") }
                let value = o["value"]?.stringValue ?? ""
                var regex: RegexBox?
                if op == "matches" {
                    guard let compiled = try? Regex(value) else { throw GatewayConfigurationError("\"\(value)\" is not a valid regular expression") }
                    regex = RegexBox(compiled)
                }
                operations.append(Operation(claim: claim, op: op, value: value, regex: regex))
            }
            let methods = Set((r["methods"]?.arrayValue ?? []).compactMap(\.stringValue))
            rules.append(Rule(resource: PathPattern(resource), methods: methods.isEmpty ? ["ANY"] : methods, operations: operations,
                              combineWithOr: r["combine_op"]?.stringValue == "or"))
        }
        errorMessage = c["error_message"]?.stringValue ?? "Request blocked due to JWT claim policy"
    }

    /// Whether the request may pass; `claims` is nil when the request carried no verified token.
    func allows(method: String, path: String, claims: JSONValue?) -> Bool {
        for rule in rules where (rule.methods.contains("ANY") || rule.methods.contains(method)) && rule.resource.matches(path) {
            guard let claims else { return false }
            func holds(_ o: Operation) -> Bool {
                let raw = claims[o.claim]
                let values = raw?.arrayValue?.compactMap(\.stringValue) ?? raw?.stringValue.map { [$0] } ?? []
                switch o.op {
                case "==": return values.contains(o.value)
                case "!=": return !values.contains(o.value)
                default: return values.contains { o.regex?.matches($0) ?? false }
                }
            }
            let passed = rule.operations.isEmpty || (rule.combineWithOr ? rule.operations.contains(where: holds) : rule.operations.allSatisfy(holds))
            if !passed { return false }
        }
        return true
    }
}
