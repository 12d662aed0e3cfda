import PorticoCore

/// The reference store: everything in memory, same semantics as the SQL stores. Used by unit tests
/// and as the oracle of the conformance suite.
public final class MemoryRecordStore: RecordStore, Sendable {
    private let tables = Tables()
    private let lock = AsyncSerialLock()

    public init() {}

    public func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
        try await lock.withLock { tables.insert(table, tenantID, scope, lookupKey, data) }
    }

    public func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
        try await lock.withLock { tables.update(table, id, tenantID, scope, lookupKey, data) }
    }

    public func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
        try await lock.withLock { tables.delete(table, tenantID, id) }
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
        try await lock.withLock { tables.fetch(table, tenantID, ids) }
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
        try await lock.withLock { tables.fetch(table, tenantID, filter, page) }
    }

    public func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
        try await lock.withLock { tables.fetch(table, tenantID, filter, nil).count }
    }

    public func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
        try await lock.withLock { tables.fetchAcrossTenants(table, lookupKey) }
    }

    public func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
        try await lock.withLock {
            let snapshot = tables.snapshot()
            do {
                return try await body(InTransaction(tables: tables))
            } catch {
                tables.restore(snapshot)
                throw error
            }
        }
    }

    /// Rows of every table. Only touched while the store's lock is held, which is what makes the
    /// unchecked `Sendable` sound.
    final class Tables: @unchecked Sendable {
        struct Snapshot {
            var rows: [RecordTable: [Int64: RawRecord]]
            var nextID: [RecordTable: Int64]
        }

        private var rows: [RecordTable: [Int64: RawRecord]] = [:]
        private var nextID: [RecordTable: Int64] = [:]

        func snapshot() -> Snapshot { Snapshot(rows: rows, nextID: nextID) }
        func restore(_ s: Snapshot) {
            rows = s.rows
            nextID = s.nextID
        }

        func insert(_ table: RecordTable, _ tenantID: Int64, _ scope: String, _ lookupKey: String?, _ data: [UInt8]) -> Int64 {
            let id = (nextID[table] ?? 0) + 1
            nextID[table] = id
            rows[table, default: [:]][id] = RawRecord(id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
            return id
        }

        func update(_ table: RecordTable, _ id: Int64, _ tenantID: Int64, _ scope: String, _ lookupKey: String?, _ data: [UInt8]) -> Bool {
            guard let existing = rows[table]?[id], existing.tenantID == tenantID else { return false }
            rows[table]?[id] = RawRecord(id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
            return true
        }

        func delete(_ table: RecordTable, _ tenantID: Int64, _ id: Int64) -> Bool {
            guard let existing = rows[table]?[id], existing.tenantID == tenantID else { return false }
            rows[table]?[id] = nil
            return true
        }

        func fetch(_ table: RecordTable, _ tenantID: Int64, _ ids: [Int64]) -> [RawRecord] {
            ids.sorted().compactMap { id in rows[table]?[id].flatMap { $0.tenantID == tenantID ? $0 : nil } }
        }

        func fetch(_ table: RecordTable, _ tenantID: Int64, _ filter: RecordFilter, _ page: PageRequest?) -> [RawRecord] {
            let matching = (rows[table] ?? [:]).values.filter { row in
                row.tenantID == tenantID && (filter.scope.map { $0 == row.scope } ?? true)
                    && (filter.lookupKey.map { $0 == row.lookupKey } ?? true)
            }.sorted { $0.id < $1.id }
            guard let page else { return matching }
            return Array(matching.dropFirst(page.offset).prefix(page.perPage))
        }

        func fetchAcrossTenants(_ table: RecordTable, _ lookupKey: String) -> [RawRecord] {
            (rows[table] ?? [:]).values.filter { $0.lookupKey == lookupKey }.sorted { $0.id < $1.id }
        }
    }

    /// The store's operations without taking its lock, handed to a transaction body that already holds it.
    struct InTransaction: RecordStore {
        let tables: Tables

        func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
            tables.insert(table, tenantID, scope, lookupKey, data)
        }
        func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
            tables.update(table, id, tenantID, scope, lookupKey, data)
        }
        func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool { tables.delete(table, tenantID, id) }
        func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] { tables.fetch(table, tenantID, ids) }
        func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
            tables.fetch(table, tenantID, filter, page)
        }
        func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
            tables.fetch(table, tenantID, filter, nil).count
        }
        func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
            tables.fetchAcrossTenants(table, lookupKey)
        }
        func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T { try await body(self) }
    }
}
