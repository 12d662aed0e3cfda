/// A metric or (when `parentID` is set) a method of the `hits` metric.
public struct Metric: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var owner: OwnerReference
    public var parentID: Int64?
    /// As stored by porta: backend metrics carry a `.<backend id>` suffix (`hits.7`).
    public var systemName: String
    public var friendlyName: String
    public var unit: String
    public var description: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, owner: OwnerReference, parentID: Int64?, systemName: String, friendlyName: String,
                unit: String, description: String?, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.owner = owner
        self.parentID = parentID
        self.systemName = systemName
        self.friendlyName = friendlyName
        self.unit = unit
        self.description = description
        self.createdAt = now
        self.updatedAt = now
    }

    public var isHits: Bool {
        switch owner {
        case .product: return systemName == "hits"
        case .backend(let id): return systemName == "hits.\(id)"
        }
    }

    /// The name without the backend suffix, as the gateway document and the Service Management API use it.
    public var plainSystemName: String {
        if case .backend(let id) = owner, systemName.hasSuffix(".\(id)") {
            return String(systemName.dropLast(".\(id)".count))
        }
        return systemName
    }
}
