import PorticoCore

/// `rewrite_url_captures` (reference/gateway.md §6.2): the first transformation whose `match_rule` (a path with
/// `{name}` placeholders, each matching one path segment) matches the whole request path, for one of its
/// `methods` (all when none are listed), rewrites the path to its `template`; the template's query part
/// (`/x/{a}?b={b}`) sets those query arguments, keeping the others. It runs in the rewrite phase, so mapping
/// rules placed after it see the rewritten path.
public struct RewriteURLCapturesPolicy: Sendable {
    enum Piece: Sendable, Equatable {
        case literal(String)
        case placeholder(String)
    }

    struct Transformation: Sendable {
        var match: [Piece]
        var path: [Piece]
        var arguments: [(name: String, value: [Piece])]
        var methods: Set<String>?
    }

    var transformations: [Transformation]

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        transformations = []
        for t in c["transformations"]?.arrayValue ?? [] {
            guard let rule = t["match_rule"]?.stringValue, rule.hasPrefix("/"), let template = t["template"]?.stringValue, template.hasPrefix("/") else {
                throw GatewayConfigurationError("every transformation needs a match_rule and a template, both starting with /")
            }
            let match = try Self.pieces(rule)
            let names = Set(match.compactMap { if case .placeholder(let n) = $0 { n } else { nil } })
            let parts = template.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = try Self.pieces(String(parts[0]))
            var arguments: [(String, [Piece])] = []
            if parts.count == 2 {
                for pair in parts[1].split(separator: "&") where !pair.isEmpty {
                    let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    arguments.append((String(kv[0]), try Self.pieces(kv.count == 2 ? String(kv[1]) : "")))
                }
            }
            for case .placeholder(let name) in path + arguments.flatMap(\.1) where !names.contains(name) {
                throw GatewayConfigurationError("template placeholder {\(name)} is not captured by match_rule \(rule)")
            }
            let methods = Set((t["methods"]?.arrayValue ?? []).compactMap(\.stringValue))
            transformations.append(Transformation(match: match, path: path, arguments: arguments, methods: methods.isEmpty ? nil : methods))
        }
    }

    static func pieces(_ s: String) throws(GatewayConfigurationError) -> [Piece] {
        var out: [Piece] = []
        var rest = Substring(s)
        while let open = rest.firstIndex(of: "{") {
            if open > rest.startIndex { out.append(.literal(String(rest[..<open]))) }
            guard let close = rest[open...].firstIndex(of: "}") else { throw GatewayConfigurationError("unclosed { in \(s)") }
            let name = String(rest[rest.index(after: open)..<close])
            guard !name.isEmpty else { throw GatewayConfigurationError("empty {} in \(s)") }
            out.append(.placeholder(name))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { out.append(.literal(String(rest))) }
        return out
    }

    /// Captures of `match` over the whole `path`; a placeholder takes one or more characters up to the next `/`.
    static func captures(_ match: [Piece], _ path: Substring) -> [String: String]? {
        guard let first = match.first else { return path.isEmpty ? [:] : nil }
        let rest = match.dropFirst()
        switch first {
        case .literal(let text):
            guard path.hasPrefix(text) else { return nil }
            return captures(Array(rest), path.dropFirst(text.count))
        case .placeholder(let name):
            let segmentEnd = path.firstIndex(of: "/") ?? path.endIndex
            guard segmentEnd > path.startIndex else { return nil }
            // Shortest first, so a literal after the placeholder within the segment (`/{id}.json`) can match.
            var end = path.index(after: path.startIndex)
            while true {
                if var found = captures(Array(rest), path[end...]) {
                    found[name] = String(path[path.startIndex..<end])
                    return found
                }
                if end == segmentEnd { return nil }
                end = path.index(after: end)
            }
        }
    }

    static func render(_ pieces: [Piece], _ values: [String: String]) -> String {
        pieces.map { piece in
            switch piece {
            case .literal(let text): text
            case .placeholder(let name): values[name] ?? ""
            }
        }.joined()
    }

    /// The new path and the arguments to set, from the first transformation that matches.
    func rewrite(path: String, method: String) -> (path: String, arguments: [(String, String)])? {
        for t in transformations where t.methods?.contains(method) ?? true {
            guard let values = Self.captures(t.match, path[...]) else { continue }
            return (Self.render(t.path, values), t.arguments.map { ($0.name, RequestArguments.decode(Array(Self.render($0.value, values).utf8))) })
        }
        return nil
    }
}
