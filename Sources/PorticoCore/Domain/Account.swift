/// A 3scale account: the master (operator), a provider (tenant) or a buyer (developer).
public struct Account: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case master, provider, buyer }
    public enum State: String, Codable, Sendable {
        case pending, approved, rejected, suspended
        case scheduledForDeletion = "scheduled_for_deletion"
    }

    public var id: Int64
    /// The owning tenant: the provider for buyers, the master for providers, 0 for the master itself.
    public var tenantID: Int64
    public var kind: Kind
    public var orgName: String
    public var state: State
    /// Providers and master: the DNS label their portals are served under.
    public var subdomain: String?
    public var providerKey: String?
    public var siteAccessCode: String?
    public var fromEmail: String?
    public var supportEmail: String?
    public var financeSupportEmail: String?
    public var annotations: [String: String]
    /// Values of fields definitions and extra fields sent by clients (e.g. `org_legaladdress`).
    public var extraFields: [String: String]
    public var accountPlanID: Int64?
    public var monthlyBillingEnabled: Bool
    public var monthlyChargingEnabled: Bool
    public var webhook: WebhookSettings?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, kind: Kind, orgName: String, state: State = .approved, subdomain: String? = nil,
                providerKey: String? = nil, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.kind = kind
        self.orgName = orgName
        self.state = state
        self.subdomain = subdomain
        self.providerKey = providerKey
        self.annotations = [:]
        self.extraFields = [:]
        self.monthlyBillingEnabled = true
        self.monthlyChargingEnabled = true
        self.createdAt = now
        self.updatedAt = now
    }
}

/// A provider's webhook configuration (`PUT /admin/api/webhooks`).
public struct WebhookSettings: Codable, Sendable, Equatable {
    public var url: String
    public var active: Bool
    public var providerActions: Bool
    /// Event switches such as `account_created_on`, keyed by 3scale's names.
    public var events: [String: Bool]

    public static let eventNames = [
        "account_created_on", "account_updated_on", "account_deleted_on", "user_created_on", "user_updated_on",
        "user_deleted_on", "application_created_on", "application_updated_on", "application_deleted_on",
        "account_plan_changed_on", "application_plan_changed_on", "application_user_key_updated_on",
        "application_key_created_on", "application_key_deleted_on", "application_suspended_on",
        "application_key_updated_on",
    ]

    public init() {
        url = ""
        active = false
        providerActions = false
        events = [:]
    }
}
