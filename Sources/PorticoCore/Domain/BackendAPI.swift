/// An upstream API that products mount under a path (3scale "backend").
public struct BackendAPI: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var name: String
    public var systemName: String
    public var description: String?
    public var privateEndpoint: String
    public var annotations: [String: String]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, name: String, systemName: String, description: String?, privateEndpoint: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.systemName = systemName
        self.description = description
        self.privateEndpoint = privateEndpoint
        self.annotations = [:]
        self.createdAt = now
        self.updatedAt = now
    }
}

/// A backend API mounted into a product at a path (porta's `BackendApiConfig`).
public struct BackendUsage: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var productID: Int64
    public var backendID: Int64
    public var path: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, productID: Int64, backendID: Int64, path: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.productID = productID
        self.backendID = backendID
        self.path = path
        self.createdAt = now
        self.updatedAt = now
    }
}
