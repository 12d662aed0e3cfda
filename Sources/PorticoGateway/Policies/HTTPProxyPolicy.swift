import PorticoCore

/// A forward proxy the gateway reaches its upstreams through (`http_proxy` policy): `http://[user:password@]host:port`.
public struct ForwardProxy: Sendable, Equatable {
    let host: String
    let port: Int
    /// `Proxy-Authorization` value from the URL's user information (HTTP Basic), if any.
    let authorization: String?
    /// Keeps connections through this proxy apart from direct ones in the upstream pool.
    var poolSuffix: String { "#via-\(host):\(port)" }

    init(_ text: String, field: String) throws(GatewayConfigurationError) {
        guard text.lowercased().hasPrefix("http://") else {
            throw GatewayConfigurationError("\(field) must be an http:// proxy URL (Portico does not speak TLS to the proxy itself)")
        }
        var authority = Substring(text.dropFirst("http://".count))
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        var authorization: String?
        if let at = authority.lastIndex(of: "@") {
            authorization = PortalConfigurationLoader.basicAuthorization(userinfo: authority[..<at])
            authority = authority[authority.index(after: at)...]
        }
        guard let url = UpstreamURL("http://" + authority), url.path.isEmpty else { throw GatewayConfigurationError("\(field) is not a usable proxy URL") }
        host = url.host
        port = url.port
        self.authorization = authorization
    }
}

/// `http_proxy` (reference/gateway.md §6.2): the product's upstream connections go through a forward proxy —
/// `http_proxy` for `http` upstreams (requests in absolute form), `https_proxy` for `https` ones (a `CONNECT`
/// tunnel, TLS to the upstream inside it), `all_proxy` for either when the specific one is not set. Credentials in
/// the proxy URL are sent as `Proxy-Authorization: Basic`.
public struct HTTPProxyPolicy: Sendable {
    let http: ForwardProxy?
    let https: ForwardProxy?

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        func proxy(_ key: String) throws(GatewayConfigurationError) -> ForwardProxy? {
            guard let text = c[key]?.stringValue, !text.isEmpty else { return nil }
            return try ForwardProxy(text, field: key)
        }
        let all = try proxy("all_proxy")
        http = try proxy("http_proxy") ?? all
        https = try proxy("https_proxy") ?? all
        guard http != nil || https != nil else { throw GatewayConfigurationError("http_proxy needs all_proxy, http_proxy or https_proxy") }
    }

    /// The proxy for an upstream, by its scheme.
    func proxy(for upstream: UpstreamURL) -> ForwardProxy? { upstream.isTLS ? https : http }
}
