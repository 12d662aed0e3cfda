import PorticoCore

/// APIcast's common policy condition (reference/gateway.md §6.1), used by `conditional`, `maintenance_mode` and
/// `rate_limit`'s limiters: `{"operations": [{"left", "left_type": plain|liquid, "op": ==|!=|matches, "right",
/// "right_type"}], "combine_op": and|or}`. No operations means the condition holds. Liquid sides see the
/// request's variables (`uri`, `host`, `http_method`, `headers.*`, `service.id`, …).
public struct PolicyCondition: Sendable {
    typealias Side = PlainOrLiquid

    struct Operation: Sendable {
        var left: Side
        var op: String
        var right: Side
        /// Compiled once when `right` is plain text and `op` is `matches`.
        var regex: RegexBox?
    }

    var operations: [Operation]
    var combineWithOr: Bool

    /// nil (or an object without operations) loads as a condition that always holds.
    init(_ c: JSONValue?) throws(GatewayConfigurationError) {
        operations = []
        combineWithOr = false
        guard let c, !c.isNull else { return }
        guard c.objectValue != nil else { throw GatewayConfigurationError("a condition must be an object with operations and combine_op") }
        for o in c["operations"]?.arrayValue ?? [] {
            func side(_ name: String) throws(GatewayConfigurationError) -> Side {
                let text = o[name]?.stringValue ?? ""
                switch o[name + "_type"]?.stringValue ?? "plain" {
                case "plain": return .plain(text)
                case "liquid": return .liquid(try LiquidTemplate(text))
                case let other: throw GatewayConfigurationError("\(name)_type must be plain or liquid (got \(other))")
                }
            }
            let op = o["op"]?.stringValue ?? "=="
            guard ["==", "!=", "matches"].contains(op) else { throw GatewayConfigurationError("condition operation \"\(op)\" is not supported (==, !=, matches)") }
            let right = try side("right")
            var regex: RegexBox?
            if op == "matches", case .plain(let pattern) = right {
                guard let compiled = try? Regex(pattern) else { throw GatewayConfigurationError("\"\(pattern)\" is not a valid regular expression") }
                regex = RegexBox(compiled)
            }
            operations.append(Operation(left: try side("left"), op: op, right: right, regex: regex))
        }
        switch c["combine_op"]?.stringValue ?? "and" {
        case "and": combineWithOr = false
        case "or": combineWithOr = true
        case let other: throw GatewayConfigurationError("combine_op must be and or or (got \(other))")
        }
    }

    var isAlwaysTrue: Bool { operations.isEmpty }

    func holds(_ lookup: (String) -> String?) -> Bool {
        if operations.isEmpty { return true }
        func evaluate(_ o: Operation) -> Bool {
            let left = o.left.value(lookup)
            switch o.op {
            case "==": return left == o.right.value(lookup)
            case "!=": return left != o.right.value(lookup)
            default:
                if let regex = o.regex { return regex.matches(left) }
                // A Liquid pattern is only known per request; one that does not compile matches nothing.
                guard let compiled = try? Regex(o.right.value(lookup)) else { return false }
                return (try? compiled.firstMatch(in: left)) != nil
            }
        }
        return combineWithOr ? operations.contains(where: evaluate) : operations.allSatisfy(evaluate)
    }
}
