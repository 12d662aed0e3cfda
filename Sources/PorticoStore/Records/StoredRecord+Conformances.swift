import PorticoCore

extension Account: StoredRecord {
    public static var table: RecordTable { .accounts }
    public var scope: String { RecordScope.tenant }
    /// Providers are found by their provider key when it authenticates an API call.
    public var lookupKey: String? { kind == .buyer ? nil : providerKey }
}

extension User: StoredRecord {
    public static var table: RecordTable { .users }
    public var scope: String { RecordScope.account(accountID) }
    /// Usernames are unique among a tenant's developers and looked up at sign-up and by `accounts/find`.
    public var lookupKey: String? { username }
}

extension AccessToken: StoredRecord {
    public static var table: RecordTable { .accessTokens }
    public var scope: String { RecordScope.user(userID) }
    public var lookupKey: String? { valueDigest }
}

extension Product: StoredRecord {
    public static var table: RecordTable { .products }
    public var scope: String { RecordScope.tenant }
    public var lookupKey: String? { serviceToken }
}

extension ProxyConfig: StoredRecord {
    public static var table: RecordTable { .proxyConfigs }
    public var scope: String { RecordScope.product(productID) }
    public var lookupKey: String? { environment.rawValue }
}

extension Metric: StoredRecord {
    public static var table: RecordTable { .metrics }
    public var scope: String { RecordScope.owner(owner) }
}

extension MappingRule: StoredRecord {
    public static var table: RecordTable { .mappingRules }
    public var scope: String { RecordScope.owner(owner) }
}

extension BackendAPI: StoredRecord {
    public static var table: RecordTable { .backendAPIs }
    public var scope: String { RecordScope.tenant }
}

extension BackendUsage: StoredRecord {
    public static var table: RecordTable { .backendUsages }
    public var scope: String { RecordScope.product(productID) }
    /// Lets "which products use this backend" be answered without a scan.
    public var lookupKey: String? { RecordScope.backend(backendID) }
}

extension Plan: StoredRecord {
    public static var table: RecordTable { .plans }
    public var scope: String { kind == .account ? RecordScope.tenant : RecordScope.product(issuerID) }
    public var lookupKey: String? { kind.rawValue }
}

extension UsageLimit: StoredRecord {
    public static var table: RecordTable { .usageLimits }
    public var scope: String { RecordScope.plan(planID) }
}

extension PricingRule: StoredRecord {
    public static var table: RecordTable { .pricingRules }
    public var scope: String { RecordScope.plan(planID) }
}

extension Feature: StoredRecord {
    public static var table: RecordTable { .features }
    // A product may have the tenant account's numeric id, so the feature's own scope decides, not the owner id.
    public var scope: String { isAccountFeature ? RecordScope.tenant : RecordScope.product(featurableID) }
}

extension ServiceSubscription: StoredRecord {
    public static var table: RecordTable { .serviceSubscriptions }
    public var scope: String { RecordScope.account(accountID) }
}

extension ClientApplication: StoredRecord {
    public static var table: RecordTable { .applications }
    public var scope: String { RecordScope.account(accountID) }
    /// The credential the Service Management API identifies the application by.
    public var lookupKey: String? { userKey }
}

extension ActiveDoc: StoredRecord {
    public static var table: RecordTable { .activeDocs }
    public var scope: String { RecordScope.tenant }
}

extension FieldsDefinition: StoredRecord {
    public static var table: RecordTable { .fieldsDefinitions }
    public var scope: String { RecordScope.tenant }
}
