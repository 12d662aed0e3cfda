import PorticoCore

/// A table of admin records. Every table has the same shape: `id`, `tenant_id`, `scope`, `lookup_key`, `data`.
///
/// `scope` names the parent a record is listed under (`product/5`, `account/7`, `plan/3`, or `""` for
/// tenant-level records) and `lookup_key` is the one secondary key a record is found by (a token digest,
/// a user key, an application id). The record itself is kept as JSON in `data`, so new attributes need no
/// schema migration; anything a query filters on is a column with an index.
public struct RecordTable: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public var description: String { name }

    public static let accounts = RecordTable(name: "accounts")
    public static let users = RecordTable(name: "users")
    public static let accessTokens = RecordTable(name: "access_tokens")
    public static let products = RecordTable(name: "products")
    public static let proxyConfigs = RecordTable(name: "proxy_configs")
    public static let metrics = RecordTable(name: "metrics")
    public static let mappingRules = RecordTable(name: "mapping_rules")
    public static let backendAPIs = RecordTable(name: "backend_apis")
    public static let backendUsages = RecordTable(name: "backend_usages")
    public static let plans = RecordTable(name: "plans")
    public static let usageLimits = RecordTable(name: "usage_limits")
    public static let pricingRules = RecordTable(name: "pricing_rules")
    public static let features = RecordTable(name: "features")
    public static let serviceSubscriptions = RecordTable(name: "service_subscriptions")
    public static let applications = RecordTable(name: "applications")
    public static let activeDocs = RecordTable(name: "active_docs")
    public static let fieldsDefinitions = RecordTable(name: "fields_definitions")

    /// Every table of schema version 1, in creation order.
    public static let all: [RecordTable] = [
        accounts, users, accessTokens, products, proxyConfigs, metrics, mappingRules, backendAPIs, backendUsages, plans,
        usageLimits, pricingRules, features, serviceSubscriptions, applications, activeDocs, fieldsDefinitions,
    ]
}

/// A domain value that lives in a `RecordTable`.
public protocol StoredRecord: Codable, Sendable {
    static var table: RecordTable { get }
    var id: Int64 { get set }
    /// The tenant that owns the record; every query is confined to one tenant.
    var tenantID: Int64 { get }
    var scope: String { get }
    var lookupKey: String? { get }
}

extension StoredRecord {
    public var lookupKey: String? { nil }
}

/// Scope strings shared by the records and their queries.
public enum RecordScope {
    public static let tenant = ""
    public static func product(_ id: Int64) -> String { "product/\(id)" }
    public static func backend(_ id: Int64) -> String { "backend/\(id)" }
    public static func account(_ id: Int64) -> String { "account/\(id)" }
    public static func plan(_ id: Int64) -> String { "plan/\(id)" }
    public static func user(_ id: Int64) -> String { "user/\(id)" }
    public static func owner(_ owner: OwnerReference) -> String {
        switch owner {
        case .product(let id): return product(id)
        case .backend(let id): return backend(id)
        }
    }
}

/// One page of a listing; `page` starts at 1.
public struct PageRequest: Sendable, Equatable {
    public var page: Int
    public var perPage: Int
    public init(page: Int, perPage: Int) {
        self.page = max(1, page)
        self.perPage = max(1, perPage)
    }
    public var offset: Int { (page - 1) * perPage }
}
