/// A 3scale "service": what developers subscribe to and gateways expose.
public struct Product: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var name: String
    public var systemName: String
    public var description: String?
    public var state: String
    /// "1" (user_key), "2" (app_id + app_key) or "oidc".
    public var backendVersion: String
    public var deploymentOption: String
    public var supportEmail: String?
    public var intentionsRequired: Bool
    public var buyersManageApps: Bool
    public var buyersManageKeys: Bool
    public var referrerFiltersRequired: Bool
    public var customKeysEnabled: Bool
    public var buyerKeyRegenerateEnabled: Bool
    public var mandatoryAppKey: Bool
    public var buyerCanSelectPlan: Bool
    public var buyerPlanChangePermission: String
    public var notificationSettings: JSONValue?
    public var annotations: [String: String]
    /// Authenticates gateways to the Service Management API for this product.
    public var serviceToken: String
    public var proxy: ProxySettings
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, name: String, systemName: String, serviceToken: String, proxy: ProxySettings, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.systemName = systemName
        self.state = "incomplete"
        self.backendVersion = "1"
        self.deploymentOption = "hosted"
        self.intentionsRequired = false
        self.buyersManageApps = true
        self.buyersManageKeys = true
        self.referrerFiltersRequired = false
        self.customKeysEnabled = true
        self.buyerKeyRegenerateEnabled = true
        self.mandatoryAppKey = true
        self.buyerCanSelectPlan = false
        self.buyerPlanChangePermission = "request"
        self.annotations = [:]
        self.serviceToken = serviceToken
        self.proxy = proxy
        self.createdAt = now
        self.updatedAt = now
    }
}
