/// A person who signs in: a provider's admin or member, or a user of a buyer account.
public struct User: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case admin, member }
    public enum State: String, Codable, Sendable { case pending, active, suspended }

    /// Sections a member may be given (porta's `AdminSection`), in the order porta lists them.
    public static let sections = ["portal", "finance", "settings", "partners", "monitoring", "plans", "policy_registry"]

    public var id: Int64
    public var tenantID: Int64
    public var accountID: Int64
    public var username: String
    public var email: String
    /// PBKDF2 digest in `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>` form; nil when no password is set.
    public var passwordDigest: String?
    public var role: Role
    public var state: State
    /// Member permissions; nil means "every section" / "every product".
    public var allowedSections: [String]?
    public var allowedServiceIDs: [Int64]?
    public var extraFields: [String: String]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, accountID: Int64, username: String, email: String, role: Role, state: State, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.accountID = accountID
        self.username = username
        self.email = email
        self.role = role
        self.state = state
        self.extraFields = [:]
        self.createdAt = now
        self.updatedAt = now
    }
}
