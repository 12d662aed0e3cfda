import PorticoCore
import PorticoMeteringStore

/// A request to the metering listener, independent of the HTTP server.
public struct MeteringRequest: Sendable {
    public var method: String
    /// The path without the query string, as sent (percent-encoding intact).
    public var path: String
    public var query: [UInt8]
    public var contentType: String?
    public var body: [UInt8]
    /// The `3scale-options` header.
    public var options: String?
    public var authorization: String?
    public var userAgent: String?
    public var remoteAddress: String?

    public init(method: String, path: String, query: [UInt8] = [], contentType: String? = nil, body: [UInt8] = [], options: String? = nil,
                authorization: String? = nil, userAgent: String? = nil, remoteAddress: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.contentType = contentType
        self.body = body
        self.options = options
        self.authorization = authorization
        self.userAgent = userAgent
        self.remoteAddress = remoteAddress
    }

    /// Splits `target` (`/path?query`) into path and query.
    public init(method: String, target: String, contentType: String? = nil, body: [UInt8] = [], options: String? = nil) {
        let bytes = Array(target.utf8)
        if let q = bytes.firstIndex(of: UInt8(ascii: "?")) {
            self.init(method: method, path: String(decoding: bytes[..<q], as: UTF8.self), query: Array(bytes[(q + 1)...]), contentType: contentType,
                      body: body, options: options)
        } else {
            self.init(method: method, path: target, contentType: contentType, body: body, options: options)
        }
    }
}

public struct MeteringResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    static let corsHeaders = [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", "ETag, Link, 3scale-rejection-reason"),
    ]

    /// A Service Management API document: XML content type, CORS headers, and the content security policy
    /// that apisonator sends on everything but error documents.
    static func xml(_ status: Int, _ body: String, noBody: Bool, securityPolicy: Bool = true) -> MeteringResponse {
        xml(status, bytes: noBody ? [] : Array(body.utf8), noBody: noBody, securityPolicy: securityPolicy)
    }

    static func xml(_ status: Int, bytes: [UInt8], noBody: Bool, securityPolicy: Bool = true) -> MeteringResponse {
        MeteringResponse(status: status, headers: securityPolicy ? xmlHeaders : xmlHeadersWithoutPolicy, body: noBody ? [] : bytes)
    }

    private static let xmlHeadersWithoutPolicy = [("Content-Type", ServiceManagementXML.contentType)] + corsHeaders
    private static let xmlHeaders = xmlHeadersWithoutPolicy + [("Content-Security-Policy", "default-src 'self'")]

    static func error(_ failure: MeteringFailure, noBody: Bool) -> MeteringResponse {
        let body = failure.code.map { ServiceManagementXML.error(code: $0, message: failure.message) } ?? ""
        return xml(failure.status, body, noBody: noBody, securityPolicy: false)
    }

    static func json(_ status: Int, _ object: JSONObject) -> MeteringResponse {
        MeteringResponse(status: status, headers: [("Content-Type", "application/json")], body: JSONValue.object(object).serialized())
    }
}

/// An apisonator exception: an `<error code=…>` document with its status, or (code nil) an empty body.
public struct MeteringFailure: Error, Sendable, Equatable {
    public var status: Int
    public var code: String?
    public var message: String

    public init(_ status: Int, _ code: String?, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static let notValidData = MeteringFailure(422, "not_valid_data", "all data must be valid UTF8")
    static let endUsers = MeteringFailure(400, "end_users_no_longer_supported",
                                          "End-users are no longer supported, do not specify the user_id parameter")
    static let usageNotAHash = MeteringFailure(403, nil, "")
    static let providerKeyOrTokenRequired = MeteringFailure(403, "provider_key_or_service_token_required", "Provider key or service token are required")
    static let serviceIDMissing = MeteringFailure(422, "service_id_missing", "Service ID is missing")
    static func serviceTokenInvalid(_ token: String, _ sid: String) -> MeteringFailure {
        MeteringFailure(403, "service_token_invalid", "service token \"\(token)\" or service id \"\(sid)\" is invalid")
    }
    static func providerKeyInvalid(_ key: String) -> MeteringFailure { MeteringFailure(403, "provider_key_invalid", "provider key \"\(key)\" is invalid") }
    static func providerKeyInvalidOrServiceMissing(_ key: String) -> MeteringFailure {
        MeteringFailure(403, "provider_key_invalid_or_service_missing", "provider key \"\(key)\" invalid and/or service ID missing")
    }
    static func serviceIDInvalid(_ sid: String) -> MeteringFailure { MeteringFailure(403, "service_id_invalid", "service id \"\(sid)\" is invalid") }
    static func applicationNotFound(_ id: String?) -> MeteringFailure {
        MeteringFailure(404, "application_not_found", id.map { "application with id=\"\($0)\" was not found" } ?? "application id is missing")
    }
    static func userKeyInvalid(_ key: String?) -> MeteringFailure {
        MeteringFailure(403, "user_key_invalid", key.map { "user key \"\($0)\" is invalid" } ?? "user key is missing")
    }
    static let authenticationError = MeteringFailure(403, "authentication_error", "either app_id or user_key is allowed, not both")
    static func metricInvalid(_ name: String) -> MeteringFailure { MeteringFailure(404, "metric_invalid", "metric \"\(name)\" is invalid") }
    static func usageValueInvalid(_ metric: String, _ value: String) -> MeteringFailure {
        value.trimmingWhitespace.isEmpty
            ? MeteringFailure(403, "usage_value_invalid", "usage value for metric \"\(metric)\" can not be empty")
            : MeteringFailure(403, "usage_value_invalid", "usage value \"\(value)\" for metric \"\(metric)\" is invalid")
    }
    static func badRequest(_ message: String) -> MeteringFailure { MeteringFailure(400, "bad_request", message) }
    /// The cause (host names, file paths) goes to the log, not to API callers.
    static var storageUnavailable: MeteringFailure {
        MeteringFailure(503, "storage_unavailable", "metering storage is unavailable; retry later")
    }

    init(_ usage: UsageError) {
        switch usage {
        case .unknownMetric(let m): self = .metricInvalid(m)
        case .invalidValue(let m, let v): self = .usageValueInvalid(m, v)
        }
    }
}


extension String {
    var trimmingWhitespace: String {
        // Almost every value has no surrounding whitespace: two byte checks answer it without Unicode lookups.
        if let first = utf8.first, let last = utf8.last, Self.isPlainEdge(first), Self.isPlainEdge(last) { return self }
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// A byte that can neither be nor begin whitespace: printable ASCII other than the space.
    private static func isPlainEdge(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
}
