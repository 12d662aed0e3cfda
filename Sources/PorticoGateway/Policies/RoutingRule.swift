import PorticoCore

/// A `routing` policy rule: the first rule whose condition holds picks the upstream (reference/gateway.md §6.2).
public struct RoutingRule: Sendable {
    struct Operation: Sendable {
        enum Subject: Sendable {
            case path
            case header(String)
            case queryArg(String)
            case liquid(LiquidTemplate)
        }
        var subject: Subject
        var op: String
        var value: String
        var regex: RegexBox?
    }

    var url: UpstreamURL
    var operations: [Operation]
    var combineWithOr: Bool
    var replacePath: LiquidTemplate?
    var hostHeader: String?
    var ownerID: String?

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        guard let raw = c["url"]?.stringValue, let url = UpstreamURL(raw) else { throw GatewayConfigurationError("a routing rule needs a valid url") }
        self.url = url
        operations = []
        for op in c["condition"]?["operations"]?.arrayValue ?? [] {
            let subject: Operation.Subject
            switch op["match"]?.stringValue ?? "path" {
            case "path": subject = .path
            case "header": subject = .header(CredentialExtractor.headerName(op["header_name"]?.stringValue ?? ""))
            case "query_arg": subject = .queryArg(op["query_arg_name"]?.stringValue ?? "")
            case "liquid": subject = .liquid(try LiquidTemplate(op["liquid_value"]?.stringValue ?? ""))
            case let other: throw GatewayConfigurationError("routing on \"\(other)\" is not supported")
            }
            let kind = op["op"]?.stringValue ?? "=="
            guard ["==", "!=", "matches"].contains(kind) else { throw GatewayConfigurationError("operation \"\(kind)\" is not supported") }
            if op["value_type"]?.stringValue == "liquid" { throw GatewayConfigurationError("liquid condition values are not supported") }
            let value = op["value"]?.stringValue ?? ""
            var regex: RegexBox?
            if kind == "matches" {
                guard let r = try? Regex(value) else { throw GatewayConfigurationError("\"\(value)\" is not a valid regular expression") }
                regex = RegexBox(r)
            }
            operations.append(Operation(subject: subject, op: kind, value: value, regex: regex))
        }
        combineWithOr = c["condition"]?["combine_op"]?.stringValue == "or"
        replacePath = try c["replace_path"]?.stringValue.map { path throws(GatewayConfigurationError) in try LiquidTemplate(path) }
        hostHeader = c["host_header"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        ownerID = c["owner_id"].flatMap { $0.isNull ? nil : $0.stringValue }
    }

    func holds(path: String, header: (String) -> String?, arguments: RequestArguments, lookup: (String) -> String?) -> Bool {
        if operations.isEmpty { return true }
        func evaluate(_ op: Operation) -> Bool {
            let subject: String?
            switch op.subject {
            case .path: subject = path
            case .header(let name): subject = header(name)
            case .queryArg(let name): subject = arguments.last(name)
            case .liquid(let t): subject = t.render(lookup)
            }
            switch op.op {
            case "==": return subject == op.value
            case "!=": return subject != op.value
            default: return subject.map { op.regex?.matches($0) ?? false } ?? false
            }
        }
        return combineWithOr ? operations.contains(where: evaluate) : operations.allSatisfy(evaluate)
    }
}
