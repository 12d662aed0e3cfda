import PorticoCore

/// `soap` (reference/gateway.md §6.2): the request's SOAP action — the `SOAPAction` header (SOAP 1.1) or the
/// `action` parameter of a SOAP 1.2 `Content-Type` — is matched against the policy's `mapping_rules` the way
/// mapping rules match paths (prefix, `{placeholders}`, `$`); each matching rule adds its `delta` to its metric,
/// next to the usage of the product's own mapping rules.
public struct SOAPPolicy: Sendable {
    struct Rule: Sendable {
        var pattern: PathPattern
        var metric: String
        var delta: Int64
    }

    var rules: [Rule]

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        rules = []
        for r in c["mapping_rules"]?.arrayValue ?? [] {
            guard let pattern = r["pattern"]?.stringValue, !pattern.isEmpty, let metric = r["metric_system_name"]?.stringValue, !metric.isEmpty else {
                throw GatewayConfigurationError("every soap mapping rule needs a pattern and a metric_system_name")
            }
            guard let delta = Int64(r["delta"]?.stringValue ?? "1"), delta >= 0 else { throw GatewayConfigurationError("delta must be a whole number") }
            rules.append(Rule(pattern: PathPattern(pattern), metric: metric, delta: delta))
        }
    }

    /// The SOAP action of a request, without surrounding quotes.
    static func action(soapAction: String?, contentType: String?) -> String? {
        func unquoted(_ s: Substring) -> String {
            var v = s.trimmingSpaces[...]
            if v.count >= 2, v.first == "\"", v.last == "\"" { v = v.dropFirst().dropLast() }
            return String(v)
        }
        if let soapAction, !unquoted(soapAction[...]).isEmpty { return unquoted(soapAction[...]) }
        for parameter in (contentType ?? "").split(separator: ";").dropFirst() {
            let kv = parameter.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingSpaces.lowercased() == "action" { return unquoted(kv[1]) }
        }
        return nil
    }

    /// Adds the usage of the rules matching the action.
    func apply(action: String, to match: inout RuleMatch) {
        for rule in rules where rule.pattern.matches(action) {
            match.add(rule: rule.pattern.source, metric: rule.metric, delta: rule.delta, owner: nil)
        }
    }
}
