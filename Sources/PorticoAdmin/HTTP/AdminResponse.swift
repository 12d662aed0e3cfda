import PorticoCore

/// A reply of the admin API before it is handed to the HTTP server.
public struct AdminResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    static let jsonContentType = "application/json; charset=utf-8"

    static func json(_ value: JSONValue, status: Int = 200) -> AdminResponse {
        AdminResponse(status: status, contentType: jsonContentType, body: value.serialized())
    }

    static func json(_ object: JSONObject, status: Int = 200) -> AdminResponse { json(.object(object), status: status) }

    static func created(_ value: JSONValue) -> AdminResponse { json(value, status: 201) }

    /// porta answers a successful DELETE with 200 and an empty body.
    static var deleted: AdminResponse { AdminResponse(status: 200, contentType: jsonContentType, body: []) }

    static func text(_ text: String, status: Int) -> AdminResponse {
        AdminResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }
}

/// The single place that turns admin errors into 3scale's error replies (reference/admin-api.md §2.3).
enum AdminErrorRenderer {
    static func render(_ error: AdminError) -> AdminResponse {
        switch error.kind {
        case .accessDenied: return .json(["error": "Access denied"], status: 403)
        case .insufficientPermissions: return .json(["error": "Your access token does not have the correct permissions"], status: 403)
        case .forbiddenEmpty: return AdminResponse(status: 403, contentType: nil, body: [])
        case .masterUnauthorized: return .text("unauthorized", status: 401)
        case .notFound: return .json(["status": "Not found"], status: 404)
        case .validation(let fields): return .json(.object(["errors": errorsObject(fields)]), status: 422)
        case .refusedDeletion(let fields): return .json(.object(["errors": errorsObject(fields)]), status: 403)
        case .invalidTransition(let from, let event, let message):
            return .json(.object(["error": .object(["from": .string(from), "event": .string(event), "error": .string(message)])]), status: 422)
        case .missingParameter(let name): return .text("Required parameter missing: \(name)", status: 400)
        case .badRequest(let message): return .json(.object(["error": .string(message)]), status: 400)
        case .unprocessable(let message): return .json(.object(["error": .string(message)]), status: 422)
        case .unavailable(let message): return .json(.object(["error": .string(message)]), status: 503)
        }
    }

    static func internalError(requestID: String) -> AdminResponse {
        .json(.object(["error": "Internal error; the server log has the details under this request id", "request_id": .string(requestID)]), status: 500)
    }

    private static func errorsObject(_ fields: [(String, [String])]) -> JSONValue {
        .object(JSONObject(fields.map { ($0.0, .array($0.1.map { .string($0) })) }))
    }
}
