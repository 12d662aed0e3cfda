/// A buyer's application on an application plan: the holder of API credentials.
public struct ClientApplication: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case pending, live, suspended }

    public struct Key: Codable, Sendable, Equatable {
        public var value: String
        public var createdAt: Timestamp
        public init(value: String, createdAt: Timestamp) {
            self.value = value
            self.createdAt = createdAt
        }
    }

    public struct ReferrerFilter: Codable, Sendable, Equatable {
        public var id: Int64
        public var value: String
        public var createdAt: Timestamp
        public init(id: Int64, value: String, createdAt: Timestamp) {
            self.id = id
            self.value = value
            self.createdAt = createdAt
        }
    }

    public static let maximumKeys = 5

    public var id: Int64
    public var tenantID: Int64
    public var accountID: Int64
    public var productID: Int64
    public var planID: Int64
    public var name: String
    public var description: String?
    public var state: State
    public var userKey: String
    public var applicationID: String
    public var keys: [Key]
    public var referrerFilters: [ReferrerFilter]
    public var providerVerificationKey: String
    public var redirectURL: String?
    public var firstTrafficAt: Timestamp?
    public var firstDailyTrafficAt: Timestamp?
    public var extraFields: [String: String]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, accountID: Int64, productID: Int64, planID: Int64, name: String, state: State,
                userKey: String, applicationID: String, providerVerificationKey: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.accountID = accountID
        self.productID = productID
        self.planID = planID
        self.name = name
        self.state = state
        self.userKey = userKey
        self.applicationID = applicationID
        self.keys = []
        self.referrerFilters = []
        self.providerVerificationKey = providerVerificationKey
        self.extraFields = [:]
        self.createdAt = now
        self.updatedAt = now
    }
}

/// A buyer's subscription to a product through a service plan (porta's `ServiceContract`).
public struct ServiceSubscription: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var accountID: Int64
    public var productID: Int64
    public var planID: Int64
    /// `pending` when the plan requires approval, else `live`.
    public var state: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, accountID: Int64, productID: Int64, planID: Int64, state: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.accountID = accountID
        self.productID = productID
        self.planID = planID
        self.state = state
        self.createdAt = now
        self.updatedAt = now
    }
}
