/// Everything the phases read and change about one request (Pingora's per-request context).
///
/// The fields live in one box shared by copies until one of them changes a field (copy on write): a request is
/// copied several times on its way through the pipeline and almost never changed, and a copy is then one reference
/// count rather than one per field.
public struct GatewayRequest: Sendable {
    private final class Fields: @unchecked Sendable {
        // Only changed while uniquely referenced (see `fields`), so sharing a box between threads is safe.
        var method: String
        var host: String
        var path: String
        var arguments: RequestArguments
        var rawQuery: String?
        var form: RequestArguments?
        var headers: [(String, String)]
        var originalHeaders: [(String, String)]
        var hiddenHeaders: [String] = []
        var remoteAddress: String?
        var remotePort: Int?
        var scheme: String

        init(method: String, host: String, path: String, arguments: RequestArguments, rawQuery: String?, form: RequestArguments?,
             headers: [(String, String)], originalHeaders: [(String, String)], hiddenHeaders: [String], remoteAddress: String?,
             remotePort: Int?, scheme: String) {
            self.method = method
            self.host = host
            self.path = path
            self.arguments = arguments
            self.rawQuery = rawQuery
            self.form = form
            self.headers = headers
            self.originalHeaders = originalHeaders
            self.hiddenHeaders = hiddenHeaders
            self.remoteAddress = remoteAddress
            self.remotePort = remotePort
            self.scheme = scheme
        }

        func copy() -> Fields {
            Fields(method: method, host: host, path: path, arguments: arguments, rawQuery: rawQuery, form: form, headers: headers,
                   originalHeaders: originalHeaders, hiddenHeaders: hiddenHeaders, remoteAddress: remoteAddress, remotePort: remotePort,
                   scheme: scheme)
        }
    }

    private var box: Fields

    /// The box, made this copy's own before a change.
    private var fields: Fields {
        mutating get {
            if !isKnownUniquelyReferenced(&box) { box = box.copy() }
            return box
        }
    }

    public var method: String {
        get { box.method }
        set { fields.method = newValue }
    }
    /// Host header value, lower-cased, without port.
    public var host: String {
        get { box.host }
        set { fields.host = newValue }
    }
    /// The path as sent (percent-encoding intact), without the query; url_rewriting may change it.
    public var path: String {
        get { box.path }
        set { fields.path = newValue }
    }
    public var arguments: RequestArguments {
        get { box.arguments }
        set { fields.arguments = newValue }
    }
    /// The raw query string as sent; nil once a policy changed the arguments (then they are re-encoded).
    public var rawQuery: String? {
        get { box.rawQuery }
        set { fields.rawQuery = newValue }
    }
    public var form: RequestArguments? {
        get { box.form }
        set { fields.form = newValue }
    }
    /// Headers to forward, in order (hop-by-hop ones already removed).
    public var headers: [(String, String)] {
        get { box.headers }
        set { fields.headers = newValue }
    }
    /// The request headers as they came (hop-by-hop ones too), which `header(_:)` reads.
    public var originalHeaders: [(String, String)] {
        get { box.originalHeaders }
        set { fields.originalHeaders = newValue }
    }
    /// Normalised names `header(_:)` no longer answers for (`nginx_filters`).
    public var hiddenHeaders: [String] {
        get { box.hiddenHeaders }
        set { fields.hiddenHeaders = newValue }
    }
    public var remoteAddress: String? {
        get { box.remoteAddress }
        set { fields.remoteAddress = newValue }
    }
    public var remotePort: Int? {
        get { box.remotePort }
        set { fields.remotePort = newValue }
    }
    public var scheme: String {
        get { box.scheme }
        set { fields.scheme = newValue }
    }

    public init(method: String, host: String, path: String, rawQuery: String?, headers: [(String, String)], remoteAddress: String?,
                remotePort: Int? = nil, scheme: String = "http") {
        box = Fields(method: method, host: host, path: path.isEmpty ? "/" : path, arguments: RequestArguments(encoded: (rawQuery ?? "").utf8),
                     rawQuery: rawQuery, form: nil, headers: headers, originalHeaders: headers, hiddenHeaders: [],
                     remoteAddress: remoteAddress, remotePort: remotePort, scheme: scheme)
    }

    /// The first value of the header whose normalised name (lower-cased, `-` → `_`, as nginx's `$http_*`) is
    /// `normalizedName`. A scan: requests carry a dozen headers or so, fewer than a dictionary would be worth building.
    public func header(_ normalizedName: String) -> String? {
        let box = self.box
        if !box.hiddenHeaders.isEmpty, box.hiddenHeaders.contains(normalizedName) { return nil }
        let count = normalizedName.utf8.count
        for (name, value) in box.originalHeaders where name.utf8.count == count {
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
