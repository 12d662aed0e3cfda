/// A calendar period of a usage limit, as 3scale names it.
public enum LimitPeriod: String, Codable, Sendable, CaseIterable {
    case eternity, year, month, week, day, hour, minute
}

/// The most a plan allows of a metric within a period; 0 disables the metric for the plan.
public struct UsageLimit: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var planID: Int64
    public var metricID: Int64
    public var period: LimitPeriod
    public var value: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, planID: Int64, metricID: Int64, period: LimitPeriod, value: Int64, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.planID = planID
        self.metricID = metricID
        self.period = period
        self.value = value
        self.createdAt = now
        self.updatedAt = now
    }
}

/// The price of each call of a metric within a range of calls per month.
public struct PricingRule: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    public var planID: Int64
    public var metricID: Int64
    public var min: Int64
    public var max: Int64?
    /// Kept as decimal text (porta renders it as a string, e.g. "20.0").
    public var costPerUnit: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, planID: Int64, metricID: Int64, min: Int64, max: Int64?, costPerUnit: String, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.planID = planID
        self.metricID = metricID
        self.min = min
        self.max = max
        self.costPerUnit = costPerUnit
        self.createdAt = now
        self.updatedAt = now
    }
}

/// A feature that plans can include (shown on the developer portal).
public struct Feature: Codable, Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64
    /// The product for application/service plan features; the tenant for account plan features.
    public var featurableID: Int64
    public var name: String
    public var systemName: String
    public var description: String?
    /// `application_plan`, `service_plan` or `account_plan`.
    public var scope: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    /// An account plan feature belongs to the tenant; the others to a product.
    public var isAccountFeature: Bool { scope == "account_plan" }

    public init(id: Int64 = 0, tenantID: Int64, featurableID: Int64, name: String, systemName: String, description: String?, scope: String,
                now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.featurableID = featurableID
        self.name = name
        self.systemName = systemName
        self.description = description
        self.scope = scope
        self.createdAt = now
        self.updatedAt = now
    }
}
