/// A reply the gateway produces itself from the product's configured error (`error_*`, `error_status_*`,
/// `error_headers_*`): only the status, the body and the Content-Type are configurable, as in APIcast.
public struct ErrorReply: Sendable, Equatable {
    public var status: Int
    public var body: String
    public var contentType: String

    public init(status: Int, body: String, contentType: String) {
        self.status = status
        self.body = body
        self.contentType = contentType
    }

    static let defaultContentType = "text/plain; charset=utf-8"
    static let authMissing = ErrorReply(status: 401, body: "Authentication parameters missing", contentType: defaultContentType)
    static let authFailed = ErrorReply(status: 403, body: "Authentication failed", contentType: defaultContentType)
    static let limitsExceeded = ErrorReply(status: 429, body: "Limits exceeded", contentType: defaultContentType)
    static let noMatch = ErrorReply(status: 404, body: "No Mapping Rule matched", contentType: defaultContentType)
}
