/// An upstream base URL (`api_backend`, a routing rule's `url`): scheme, host, port and base path.
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// The base path, without a trailing slash unless it is exactly `/`; empty when the URL has none.
    public var path: String
    /// A query of the URL itself: it replaces the request's query, as in APIcast.
    public var query: String?

    public var isTLS: Bool { scheme == "https" || scheme == "wss" }
    var defaultPort: Int { isTLS ? 443 : 80 }

    /// `Host` header value: the host, with the port when it is not the scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? h : "\(h):\(port)"
    }

    public var description: String { "\(scheme)://\(hostHeader)\(path)" }

    public init?(_ text: String) {
        var rest = Substring(text.trimmingSpaces)
        guard let schemeEnd = rest.firstRange(of: "://") else { return nil }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard ["http", "https", "ws", "wss"].contains(scheme) else { return nil }
        rest = rest[schemeEnd.upperBound...]
        var authority = rest
        var pathAndQuery: Substring = ""
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            authority = rest[..<slash]
            pathAndQuery = rest[slash...]
        }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host = authority
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ; if port == nil { return nil } }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        }
        guard !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port ?? ((scheme == "https" || scheme == "wss") ? 443 : 80)
        var path = pathAndQuery
        query = nil
        if let q = pathAndQuery.firstIndex(of: "?") {
            path = pathAndQuery[..<q]
            let qs = pathAndQuery[pathAndQuery.index(after: q)...]
            query = qs.isEmpty ? nil : String(qs)
        }
        if path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        self.path = path == "/" ? "" : String(path)
    }

    /// The upstream path of a request path: the base path joined with it; `/` alone is exactly the base path.
    public func joinedPath(_ requestPath: String) -> String {
        if path.isEmpty { return requestPath.isEmpty ? "/" : requestPath }
        if requestPath == "/" || requestPath.isEmpty { return path }
        return path + requestPath
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
