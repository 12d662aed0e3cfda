import PorticoCore

/// Every failure of an admin API call. `AdminErrorRenderer` is the one place that turns it into a reply.
public struct AdminError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// 403 `{"error":"Access denied"}`: no or unknown credential, wrong host.
        case accessDenied
        /// 403 `{"error":"Your access token does not have the correct permissions"}`.
        case insufficientPermissions
        /// 403 with an empty body: suspended tenant, master API on a tenant host.
        case forbiddenEmpty
        /// 401 text/plain `unauthorized` (Master API without credentials).
        case masterUnauthorized
        /// 404 `{"status":"Not found"}`.
        case notFound
        /// 422 `{"errors":{field:[messages]}}`.
        case validation([(String, [String])])
        /// 403 `{"errors":{...}}`: the model refuses to be deleted.
        case refusedDeletion([(String, [String])])
        /// 422 `{"error":{...}}`: a state machine event that does not apply.
        case invalidTransition(from: String, event: String, message: String)
        /// 400 text/plain `Required parameter missing: <name>`.
        case missingParameter(String)
        /// 400 `{"error": message}`.
        case badRequest(String)
        /// 422 `{"error": message}`.
        case unprocessable(String)
        /// 503: a store or dependency is down; retrying later may succeed.
        case unavailable(String)
    }

    public var kind: Kind
    public var file: String
    public var line: Int

    public init(_ kind: Kind, file: String = #fileID, line: Int = #line) {
        self.kind = kind
        self.file = file
        self.line = line
    }

    public static func validation(_ field: String, _ message: String, file: String = #fileID, line: Int = #line) -> AdminError {
        AdminError(.validation([(field, [message])]), file: file, line: line)
    }

    public static var notFound: AdminError { AdminError(.notFound) }

    public var description: String {
        switch kind {
        case .accessDenied: return "access denied"
        case .insufficientPermissions: return "access token lacks the scope or permission"
        case .forbiddenEmpty: return "forbidden"
        case .masterUnauthorized: return "master API unauthorized"
        case .notFound: return "not found"
        case .validation(let e): return "validation failed: " + e.map { "\($0.0) \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
        case .refusedDeletion(let e): return "deletion refused: " + e.map { "\($0.0) \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
        case .invalidTransition(let from, let event, _): return "cannot \(event) from \(from)"
        case .missingParameter(let p): return "required parameter missing: \(p)"
        case .badRequest(let m), .unprocessable(let m), .unavailable(let m): return m
        }
    }
}

/// Collects validation errors so every problem of a request is reported at once.
struct ValidationErrors {
    private(set) var fields: [(String, [String])] = []

    mutating func add(_ field: String, _ message: String) {
        if let i = fields.firstIndex(where: { $0.0 == field }) {
            fields[i].1.append(message)
        } else {
            fields.append((field, [message]))
        }
    }

    var isEmpty: Bool { fields.isEmpty }

    func throwIfAny() throws {
        if !fields.isEmpty { throw AdminError(.validation(fields)) }
    }
}
