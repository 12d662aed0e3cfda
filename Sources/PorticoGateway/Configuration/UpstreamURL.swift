/// An upstream base URL (`api_backend`, a routing rule's `url`): scheme, host, port and base path.
///
/// Parsed once per configuration; what each proxied request needs from it (the `Host` value, the connection-pool
/// key) is computed here too, not per request.
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int
    /// The base path, without a trailing slash unless it is exactly `/`; empty when the URL has none.
    public let path: String
    /// A query of the URL itself: it replaces the request's query, as in APIcast.
    public let query: String?
    /// `Host` header value: the host, with the port when it is not the scheme's default.
    public let hostHeader: String
    /// Which upstream connections may serve this URL: `http(s)://host:port`.
    let poolKey: String

    public var isTLS: Bool { scheme == "https" || scheme == "wss" }

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
        let tls = scheme == "https" || scheme == "wss"
        let lowered = host.lowercased()
        let defaultPort = tls ? 443 : 80
        let resolvedPort = port ?? defaultPort
        self.scheme = scheme
        self.host = lowered
        self.port = resolvedPort
        var path = pathAndQuery
        var query: String?
        if let q = pathAndQuery.firstIndex(of: "?") {
            path = pathAndQuery[..<q]
            let qs = pathAndQuery[pathAndQuery.index(after: q)...]
            query = qs.isEmpty ? nil : String(qs)
        }
        self.query = query
        if path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        self.path = path == "/" ? "" : String(path)
        let bracketed = lowered.contains(":") ? "[\(lowered)]" : lowered
        hostHeader = resolvedPort == defaultPort ? bracketed : "\(bracketed):\(resolvedPort)"
        poolKey = "\(tls ? "https" : "http")://\(lowered):\(resolvedPort)"
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
