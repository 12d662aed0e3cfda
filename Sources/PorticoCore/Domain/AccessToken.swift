/// A personal access token. Only the digest of its value is kept.
public struct AccessToken: Codable, Sendable, Equatable {
    public enum Permission: String, Codable, Sendable { case ro, rw }

    /// Scopes 3scale defines, in porta's order.
    public static let allScopes = ["account_management", "stats", "policy_registry", "finance", "cms"]

    public var id: Int64
    public var tenantID: Int64
    public var userID: Int64
    public var name: String
    public var scopes: [String]
    public var permission: Permission
    public var expiresAt: Timestamp?
    /// Hex SHA-384 of the token value (porta keeps `SHA384$<hex>`).
    public var valueDigest: String
    public var createdAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, userID: Int64, name: String, scopes: [String], permission: Permission,
                expiresAt: Timestamp?, valueDigest: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.userID = userID
        self.name = name
        self.scopes = scopes
        self.permission = permission
        self.expiresAt = expiresAt
        self.valueDigest = valueDigest
        self.createdAt = now
    }
}
