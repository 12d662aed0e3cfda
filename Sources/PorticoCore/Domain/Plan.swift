/// An application, service or account plan. Application and service plans are issued by a product,
/// account plans by the tenant.
public struct Plan: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case application = "ApplicationPlan"
        case service = "ServicePlan"
        case account = "AccountPlan"

        /// The JSON root key porta uses for a single plan of this kind.
        public var rootKey: String {
            switch self {
            case .application: return "application_plan"
            case .service: return "service_plan"
            case .account: return "account_plan"
            }
        }
    }

    public var id: Int64
    public var tenantID: Int64
    public var kind: Kind
    /// The product for application and service plans; the tenant for account plans.
    public var issuerID: Int64
    public var name: String
    public var systemName: String
    public var description: String?
    public var state: String
    public var approvalRequired: Bool
    public var setupFee: Double
    public var costPerMonth: Double
    public var trialPeriodDays: Int64?
    public var cancellationPeriod: Int64
    public var isDefault: Bool
    public var custom: Bool
    public var featureIDs: [Int64]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, kind: Kind, issuerID: Int64, name: String, systemName: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.kind = kind
        self.issuerID = issuerID
        self.name = name
        self.systemName = systemName
        self.state = "published"
        self.approvalRequired = false
        self.setupFee = 0
        self.costPerMonth = 0
        self.cancellationPeriod = 0
        self.isDefault = false
        self.custom = false
        self.featureIDs = []
        self.createdAt = now
        self.updatedAt = now
    }
}
