import PorticoCore

/// `url_rewriting`: `sub`/`gsub` on the path (regular expressions, `break` stops) and query argument commands.
public struct URLRewritingPolicy: Sendable {
    struct PathCommand: Sendable {
        var global: Bool
        var regex: RegexBox
        var replace: String
        var stop: Bool
        var methods: Set<String>?
    }
    struct ArgumentCommand: Sendable {
        var op: String
        var arg: String
        var value: String
        var methods: Set<String>?
    }

    var commands: [PathCommand]
    var argumentCommands: [ArgumentCommand]

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        commands = []
        for entry in c["commands"]?.arrayValue ?? [] {
            let op = entry["op"]?.stringValue ?? ""
            guard op == "sub" || op == "gsub", let pattern = entry["regex"]?.stringValue, let regex = try? Regex(pattern) else {
                throw GatewayConfigurationError("commands need op sub or gsub and a valid regex")
            }
            commands.append(PathCommand(global: op == "gsub", regex: RegexBox(regex), replace: entry["replace"]?.stringValue ?? "",
                                        stop: entry["break"] == .bool(true), methods: Self.methods(entry)))
        }
        argumentCommands = []
        for entry in c["query_args_commands"]?.arrayValue ?? [] {
            let op = entry["op"]?.stringValue ?? ""
            guard ["push", "set", "add", "delete"].contains(op), let arg = entry["arg"]?.stringValue else {
                throw GatewayConfigurationError("query_args_commands need op (push, set, add, delete) and arg")
            }
            if entry["value_type"]?.stringValue == "liquid" { throw GatewayConfigurationError("liquid query argument values are not supported") }
            argumentCommands.append(ArgumentCommand(op: op, arg: arg, value: entry["value"]?.stringValue ?? "", methods: Self.methods(entry)))
        }
    }

    static func methods(_ entry: JSONValue) -> Set<String>? {
        guard let list = entry["methods"]?.arrayValue, !list.isEmpty else { return nil }
        return Set(list.compactMap(\.stringValue))
    }

    func rewrite(path: inout String, arguments: inout RequestArguments, method: String) -> Bool {
        var changed = false
        for c in commands where c.methods?.contains(method) ?? true {
            let before = path
            if c.global {
                path = path.replacing(c.regex.regex, with: { _ in c.replace })
            } else if let m = try? c.regex.regex.firstMatch(in: path) {
                path.replaceSubrange(m.range, with: c.replace)
            }
            if path != before {
                changed = true
                if c.stop { break }
            }
        }
        for c in argumentCommands where c.methods?.contains(method) ?? true {
            var pairs = arguments.pairs.map { ($0.name, $0.value) }
            let exists = pairs.contains { $0.0 == c.arg }
            switch c.op {
            case "push": pairs.append((c.arg, c.value))
            case "set":
                pairs.removeAll { $0.0 == c.arg }
                pairs.append((c.arg, c.value))
            case "add": if exists { pairs.append((c.arg, c.value)) }
            default: pairs.removeAll { $0.0 == c.arg }
            }
            arguments = RequestArguments(pairs: pairs)
            changed = true
        }
        return changed
    }
}
