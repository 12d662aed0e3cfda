import PorticoCore

/// A row of any record table, before decoding.
public struct RawRecord: Sendable {
    public var id: Int64
    public var tenantID: Int64
    public var scope: String
    public var lookupKey: String?
    public var data: [UInt8]

    public init(id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) {
        self.id = id
        self.tenantID = tenantID
        self.scope = scope
        self.lookupKey = lookupKey
        self.data = data
    }
}

/// What selects rows of one tenant in a listing. `nil` fields do not filter.
public struct RecordFilter: Sendable, Equatable {
    public var scope: String?
    public var lookupKey: String?
    public init(scope: String? = nil, lookupKey: String? = nil) {
        self.scope = scope
        self.lookupKey = lookupKey
    }
}

/// The one repository layer of admin data, implemented by the in-memory, SQLite and PostgreSQL stores.
///
/// Every operation but `fetchAcrossTenants` takes the tenant, so no query can reach another tenant's rows.
/// Listings are ordered by id (creation order).
public protocol RecordStore: Sendable {
    func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64
    /// Replaces a row's scope, lookup key and data; false when no such row exists in the tenant.
    func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool
    func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool
    func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord]
    func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord]
    func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int
    /// Finds rows by lookup key in every tenant. Only credential resolution (token digests, provider keys)
    /// may use it: it is how a request on a non-tenant host finds the tenant of its credential.
    func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord]
    /// Runs `body` atomically: either every write in it is kept or none is.
    func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T
}

/// Schema management of a durable store.
public protocol MigratableStore: Sendable {
    var dialectName: String { get }
    func appliedMigrations() async throws -> [SchemaMigration.Applied]
    /// Applies the pending migrations in order up to `version` (all of them when nil); returns what it applied.
    func migrate(upTo version: Int?) async throws -> [SchemaMigration]
    func pendingMigrations() async throws -> [SchemaMigration]
}

extension MigratableStore {
    /// Applies every pending migration.
    public func migrate() async throws -> [SchemaMigration] { try await migrate(upTo: nil) }
}
