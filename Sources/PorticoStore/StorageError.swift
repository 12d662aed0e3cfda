/// Why a storage operation failed. `description` names the operation and how to fix it, never SQL or data.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        public var description: String { raw }
        public static let unavailable = Code(raw: "unavailable")
        public static let notFound = Code(raw: "not_found")
        public static let conflict = Code(raw: "conflict")
        public static let corruptRecord = Code(raw: "corrupt_record")
        public static let migrationFailed = Code(raw: "migration_failed")
        public static let schemaTooNew = Code(raw: "schema_too_new")
        public static let readOnly = Code(raw: "read_only")
        public static let notEmpty = Code(raw: "not_empty")
        public static let unsupportedServer = Code(raw: "unsupported_server")
    }

    public var code: Code
    public var message: String
    /// The underlying driver error, kept for logs; never rendered to API clients.
    public var underlying: (any Error)?
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String { "storage \(code): \(message)" }
}
