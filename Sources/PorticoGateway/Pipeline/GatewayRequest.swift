/// Everything the phases read and change about one request (Pingora's per-request context).
public struct GatewayRequest: Sendable {
    public var method: String
    /// Host header value, lower-cased, without port.
    public var host: String
    /// The path as sent (percent-encoding intact), without the query; url_rewriting may change it.
    public var path: String
    public var arguments: RequestArguments
    /// The raw query string as sent; nil once a policy changed the arguments (then they are re-encoded).
    public var rawQuery: String?
    public var form: RequestArguments?
    /// Headers to forward, in order (hop-by-hop ones already removed).
    public var headers: [(String, String)]
    /// The request headers as they came (hop-by-hop ones too), which `header(_:)` reads.
    public var originalHeaders: [(String, String)]
    /// Normalised names `header(_:)` no longer answers for (`nginx_filters`).
    public var hiddenHeaders: [String] = []
    public var remoteAddress: String?
    public var remotePort: Int?
    public var scheme: String

    public init(method: String, host: String, path: String, rawQuery: String?, headers: [(String, String)], remoteAddress: String?,
                remotePort: Int? = nil, scheme: String = "http") {
        self.method = method
        self.host = host
        self.path = path.isEmpty ? "/" : path
        self.rawQuery = rawQuery
        self.arguments = RequestArguments(encoded: (rawQuery ?? "").utf8)
        self.form = nil
        self.originalHeaders = headers
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.scheme = scheme
    }

    /// The first value of the header whose normalised name (lower-cased, `-` → `_`, as nginx's `$http_*`) is
    /// `normalizedName`. A scan: requests carry a dozen headers or so, fewer than a dictionary would be worth building.
    public func header(_ normalizedName: String) -> String? {
        if !hiddenHeaders.isEmpty, hiddenHeaders.contains(normalizedName) { return nil }
        let count = normalizedName.utf8.count
        for (name, value) in originalHeaders where name.utf8.count == count {
            if name.utf8.elementsEqual(normalizedName.utf8, by: { Self.normalized($0) == $1 }) { return value }
        }
        return nil
    }

    private static func normalized(_ byte: UInt8) -> UInt8 {
        if byte == UInt8(ascii: "-") { return UInt8(ascii: "_") }
        return byte >= 65 && byte <= 90 ? byte + 32 : byte
    }

    /// The query string to forward.
    public var forwardedQuery: String? {
        if let rawQuery { return rawQuery.isEmpty ? nil : rawQuery }
        let encoded = RequestArguments.encode(pairs: arguments.pairs.map { ($0.name, $0.value) })
        return encoded.isEmpty ? nil : encoded
    }

    /// Arguments mapping rules and credentials see: the query, overridden by a form body.
    var ruleArguments: RequestArguments {
        guard let form else { return arguments }
        return arguments.merged(overriddenBy: form)
    }

    /// Liquid variables available to policies.
    func liquidValue(_ name: String, service: GatewayProduct?) -> String? {
        switch name {
        case "uri", "path", "original_request.path": return path
        case "host", "original_request.host": return host
        case "http_method", "original_request.method": return method
        case "remote_addr": return remoteAddress
        case "remote_port": return remotePort.map(String.init)
        case "scheme": return scheme
        case "original_request.query": return forwardedQuery
        case "service.id": return service?.id
        case "service.system_name": return service?.systemName
        default:
            if name.hasPrefix("headers.") { return header(CredentialExtractor.headerName(String(name.dropFirst("headers.".count)))) }
            if name.hasPrefix("headers['"), name.hasSuffix("']") {
                return header(CredentialExtractor.headerName(String(name.dropFirst("headers['".count).dropLast(2))))
            }
            return nil
        }
    }
}
