/// An OpenAPI / Swagger document shown on the developer portal (porta's `ApiDocs::Service`).
public struct ActiveDoc: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var productID: Int64?
    public var name: String
    public var systemName: String
    public var description: String?
    public var published: Bool
    public var skipSwaggerValidations: Bool
    /// Kept byte for byte as sent.
    public var body: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, productID: Int64?, name: String, systemName: String, body: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.productID = productID
        self.name = name
        self.systemName = systemName
        self.published = false
        self.skipSwaggerValidations = false
        self.body = body
        self.createdAt = now
        self.updatedAt = now
    }
}

/// A field of accounts, users or applications that a tenant defines for its developer portal.
public struct FieldsDefinition: Codable, Sendable, Equatable {
    public static let targets = ["Account", "User", "Cinstance"]

    public var id: Int64
    public var tenantID: Int64
    public var target: String
    public var name: String
    public var label: String
    public var required: Bool
    public var hidden: Bool
    public var readOnly: Bool
    public var choices: [String]
    public var position: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, target: String, name: String, label: String, required: Bool, position: Int64, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.target = target
        self.name = name
        self.label = label
        self.required = required
        self.hidden = false
        self.readOnly = false
        self.choices = []
        self.position = position
        self.createdAt = now
        self.updatedAt = now
    }
}
