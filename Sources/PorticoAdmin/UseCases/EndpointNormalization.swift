/// porta's endpoint normalization: an explicit port is added (`http://host` -> `http://host:80`).
enum EndpointNormalization {
    static func withExplicitPort(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let hostPart = authority.split(separator: "@").last.map(String.init) ?? String(authority)
        let hasPort: Bool
        if hostPart.hasPrefix("[") {
            hasPort = hostPart.contains("]:")
        } else {
            hasPort = hostPart.contains(":")
        }
        guard !hasPort, !authority.isEmpty else { return url }
        let port: String
        switch scheme {
        case "http", "ws": port = "80"
        case "https", "wss": port = "443"
        default: return url
        }
        return String(url[..<authorityEnd]) + ":" + port + String(afterScheme[authorityEnd...])
    }

    /// Whether a string is an absolute http(s)/ws(s) URL with a host.
    static func isValidURL(_ url: String) -> Bool {
        guard let schemeEnd = url.firstRange(of: "://") else { return false }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard ["http", "https", "ws", "wss"].contains(scheme) else { return false }
        let rest = url[schemeEnd.upperBound...]
        guard let first = rest.first, first != "/", first != ":" else { return false }
        return !rest.contains(" ")
    }
}
