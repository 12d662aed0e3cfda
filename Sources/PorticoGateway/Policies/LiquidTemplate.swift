/// The part of Liquid that APIcast policy configurations use in practice: `{{ variable }}` with dotted names
/// and a chain of string filters (`remove_first`, `remove`, `replace`, `replace_first`, `append`, `prepend`,
/// `downcase`, `upcase`, `strip`, `default`). Anything else is a load error, so a template never silently
/// renders wrong.
public struct LiquidTemplate: Sendable {
    enum Piece: Sendable {
        case text(String)
        case expression(variable: String, filters: [(name: String, arguments: [String])])
    }

    static let filters: Set<String> = ["remove_first", "remove", "replace", "replace_first", "append", "prepend", "downcase", "upcase", "strip", "default"]

    let pieces: [Piece]

    public init(_ source: String) throws(GatewayConfigurationError) {
        var pieces: [Piece] = []
        var rest = Substring(source)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { pieces.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw GatewayConfigurationError("liquid template \"\(source)\" has an unclosed {{")
            }
            pieces.append(try Self.expression(String(rest[open.upperBound..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        if source.contains("{%") { throw GatewayConfigurationError("liquid tags ({% … %}) are not supported: \"\(source)\"") }
        self.pieces = pieces
    }

    static func expression(_ text: String) throws(GatewayConfigurationError) -> Piece {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard let variable = parts.first, !variable.isEmpty else { throw GatewayConfigurationError("empty liquid expression {{\(text)}}") }
        var filters: [(String, [String])] = []
        for part in parts.dropFirst() {
            let nameAndArgs = part.split(separator: ":", maxSplits: 1)
            let name = nameAndArgs.first.map { $0.trimmingSpaces } ?? ""
            guard filters.count < 16, Self.filters.contains(name) else { throw GatewayConfigurationError("liquid filter \"\(name)\" is not supported") }
            var arguments: [String] = []
            if nameAndArgs.count == 2 {
                for raw in nameAndArgs[1].split(separator: ",") {
                    var arg = raw.trimmingSpaces
                    if arg.count >= 2, let q = arg.first, q == "'" || q == "\"", arg.last == q { arg = String(arg.dropFirst().dropLast()) }
                    arguments.append(arg)
                }
            }
            filters.append((name, arguments))
        }
        return .expression(variable: variable, filters: filters)
    }

    public func render(_ lookup: (String) -> String?) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let t): out += t
            case .expression(let variable, let filters):
                var value = lookup(variable) ?? ""
                for (name, args) in filters { value = Self.apply(name, args, to: value) }
                out += value
            }
        }
        return out
    }

    static func apply(_ name: String, _ args: [String], to value: String) -> String {
        let a = args.first ?? ""
        switch name {
        case "remove_first":
            guard !a.isEmpty, let r = value.firstRange(of: a) else { return value }
            return String(value[..<r.lowerBound] + value[r.upperBound...])
        case "remove": return a.isEmpty ? value : value.replacing(a, with: "")
        case "replace": return a.isEmpty ? value : value.replacing(a, with: args.count > 1 ? args[1] : "")
        case "replace_first":
            guard !a.isEmpty, let r = value.firstRange(of: a) else { return value }
            return String(value[..<r.lowerBound]) + (args.count > 1 ? args[1] : "") + String(value[r.upperBound...])
        case "append": return value + a
        case "prepend": return a + value
        case "downcase": return value.lowercased()
        case "upcase": return value.uppercased()
        case "strip": return value.trimmingSpaces
        case "default": return value.isEmpty ? a : value
        default: return value
        }
    }
}

/// A configuration value that is plain text or, with its `*_type` set to `liquid`, a template rendered per request.
enum PlainOrLiquid: Sendable {
    case plain(String)
    case liquid(LiquidTemplate)

    init(_ text: String, type: String?) throws(GatewayConfigurationError) {
        self = type == "liquid" ? .liquid(try LiquidTemplate(text)) : .plain(text)
    }

    func value(_ lookup: (String) -> String?) -> String {
        switch self {
        case .plain(let s): return s
        case .liquid(let t): return t.render(lookup)
        }
    }
}
