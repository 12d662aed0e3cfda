import PorticoCore

/// `custom_metrics` (reference/gateway.md §6.2): once the upstream has answered, each rule whose condition
/// holds adds `increment` to `metric` (both Liquid, seeing the request's variables and the response's `status`),
/// e.g. one metric per status class. The usage joins the request's own authrep when that is sent after the
/// response (cached path), the batch with the `3scale_batcher`, and otherwise goes in a report (batched per
/// product for up to `reportDelaySeconds`, where APIcast sends one report per request).
public struct CustomMetricsPolicy: Sendable {
    struct Rule: Sendable {
        var metric: LiquidTemplate
        var increment: LiquidTemplate
        var condition: PolicyCondition
    }

    var rules: [Rule]
    static let reportDelaySeconds: Int64 = 1

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        rules = []
        for r in c["rules"]?.arrayValue ?? [] {
            guard let metric = r["metric"]?.stringValue, !metric.isEmpty else { throw GatewayConfigurationError("every custom_metrics rule needs a metric") }
            rules.append(Rule(metric: try LiquidTemplate(metric), increment: try LiquidTemplate(r["increment"]?.stringValue ?? "1"),
                              condition: try PolicyCondition(r["condition"])))
        }
    }

    /// Metric → summed increment for a response; rules whose increment is not a positive whole number add nothing.
    func usage(_ lookup: (String) -> String?) -> [(metric: String, delta: Int64)] {
        var out: [(metric: String, delta: Int64)] = []
        for rule in rules where rule.condition.holds(lookup) {
            let metric = rule.metric.render(lookup)
            guard !metric.isEmpty, let delta = Int64(rule.increment.render(lookup).trimmingSpaces), delta > 0 else { continue }
            if let i = out.firstIndex(where: { $0.metric == metric }) { out[i].delta += delta } else { out.append((metric, delta)) }
        }
        return out
    }
}

/// What `custom_metrics` needs once the response status is known.
public struct PendingCustomMetrics: Sendable {
    var policy: CustomMetricsPolicy
    var request: GatewayRequest
    var product: GatewayProduct
    var credentials: Credentials
}
