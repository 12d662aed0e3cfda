import Logging
import NIOCore
import NIOPosix
import PorticoCore
import PorticoStore
import SQLiteNIO

/// The embedded admin store: one SQLite file in the data directory, in WAL mode.
///
/// One connection serves every request; statements and transactions are serialized through a FIFO
/// lock so a transaction never interleaves with another caller's statements.
public final class SQLiteRecordStore: RecordStore, MigratableStore, Sendable {
    private let connection: SQLiteConnection
    private let lock = AsyncSerialLock()
    public let path: String
    public var dialectName: String { "sqlite" }

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
    }

    /// Opens (creating when absent) the database file. `path` `:memory:` gives a private in-memory database.
    public static func open(path: String, logger: Logger) async throws -> SQLiteRecordStore {
        let storage: SQLiteConnection.Storage = path == ":memory:" ? .memory : .file(path: path)
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        } catch {
            throw StorageError(.unavailable, "cannot open the SQLite database at \(path); check that the data directory exists and is writable",
                               underlying: error)
        }
        let store = SQLiteRecordStore(connection: connection, path: path)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000"] {
            _ = try await store.run(pragma, [])
        }
        return store
    }

    public func close() async {
        try? await connection.close()
    }

    func run(_ sql: String, _ binds: [SQLiteData]) async throws -> [SQLiteRow] {
        do {
            return try await connection.query(sql, binds)
        } catch {
            throw StorageError(.unavailable, "the SQLite database at \(path) failed a statement; check free disk space and file permissions",
                               underlying: error)
        }
    }

    private var view: Statements { Statements(store: self) }

    public func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
        try await lock.withLock { try await view.insert(table, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data) }
    }

    public func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
        try await lock.withLock { try await view.update(table, id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data) }
    }

    public func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
        try await lock.withLock { try await view.delete(table, tenantID: tenantID, id: id) }
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
        try await lock.withLock { try await view.fetch(table, tenantID: tenantID, ids: ids) }
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
        try await lock.withLock { try await view.fetch(table, tenantID: tenantID, filter: filter, page: page) }
    }

    public func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
        try await lock.withLock { try await view.count(table, tenantID: tenantID, filter: filter) }
    }

    public func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
        try await lock.withLock { try await view.fetchAcrossTenants(table, lookupKey: lookupKey) }
    }

    public func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
        try await lock.withLock { try await view.transaction(body) }
    }

    // MARK: migrations

    public func appliedMigrations() async throws -> [SchemaMigration.Applied] {
        try await lock.withLock { try await view.appliedMigrations() }
    }

    public func pendingMigrations() async throws -> [SchemaMigration] {
        try SchemaMigration.pending(all: SQLiteMigrations.all, applied: try await appliedMigrations())
    }

    public func migrate(upTo version: Int?) async throws -> [SchemaMigration] {
        try await lock.withLock {
            let pending = try SchemaMigration.pending(all: SQLiteMigrations.all, applied: try await view.appliedMigrations()).filter { $0.version <= version ?? .max }
            for migration in pending {
                _ = try await view.transaction { _ in
                    for statement in migration.statements { _ = try await self.run(statement, []) }
                    _ = try await self.run(
                        "INSERT INTO portico_schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                        [.integer(migration.version), .text(migration.name)])
                    return true
                }
            }
            return pending
        }
    }

    /// The statements themselves, run by a caller that holds the lock.
    struct Statements: RecordStore {
        let store: SQLiteRecordStore

        func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
            let rows = try await store.run(
                "INSERT INTO \(table.name) (tenant_id, scope, lookup_key, data) VALUES (?, ?, ?, ?) RETURNING id",
                [.integer(Int(tenantID)), .text(scope), lookupKey.map { .text($0) } ?? .null, .text(String(decoding: data, as: UTF8.self))])
            guard let id = rows.first?.column("id")?.integer else {
                throw StorageError(.unavailable, "SQLite did not return the id of a new \(table) row")
            }
            return Int64(id)
        }

        func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
            let rows = try await store.run(
                "UPDATE \(table.name) SET scope = ?, lookup_key = ?, data = ? WHERE id = ? AND tenant_id = ? RETURNING id",
                [.text(scope), lookupKey.map { .text($0) } ?? .null, .text(String(decoding: data, as: UTF8.self)), .integer(Int(id)), .integer(Int(tenantID))])
            return !rows.isEmpty
        }

        func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
            let rows = try await store.run("DELETE FROM \(table.name) WHERE id = ? AND tenant_id = ? RETURNING id", [.integer(Int(id)), .integer(Int(tenantID))])
            return !rows.isEmpty
        }

        func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
            guard !ids.isEmpty else { return [] }
            var result: [RawRecord] = []
            // Chunked to stay far below SQLite's bound-parameter limit.
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try await store.run(
                    "SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) WHERE tenant_id = ? AND id IN (\(marks)) ORDER BY id",
                    [.integer(Int(tenantID))] + chunk.map { .integer(Int($0)) })
                result += rows.map(Statements.record)
            }
            return result.sorted { $0.id < $1.id }
        }

        func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
            var sql = "SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) WHERE tenant_id = ?"
            var binds: [SQLiteData] = [.integer(Int(tenantID))]
            if let scope = filter.scope {
                sql += " AND scope = ?"
                binds.append(.text(scope))
            }
            if let key = filter.lookupKey {
                sql += " AND lookup_key = ?"
                binds.append(.text(key))
            }
            sql += " ORDER BY id"
            if let page {
                sql += " LIMIT ? OFFSET ?"
                binds += [.integer(page.perPage), .integer(page.offset)]
            }
            return try await store.run(sql, binds).map(Statements.record)
        }

        func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
            var sql = "SELECT COUNT(*) AS n FROM \(table.name) WHERE tenant_id = ?"
            var binds: [SQLiteData] = [.integer(Int(tenantID))]
            if let scope = filter.scope {
                sql += " AND scope = ?"
                binds.append(.text(scope))
            }
            if let key = filter.lookupKey {
                sql += " AND lookup_key = ?"
                binds.append(.text(key))
            }
            return try await store.run(sql, binds).first?.column("n")?.integer.map { Int($0) } ?? 0
        }

        func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
            try await store.run("SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) WHERE lookup_key = ? ORDER BY id", [.text(lookupKey)])
                .map(Statements.record)
        }

        func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
            // Already inside the lock (and possibly a transaction): nest with a savepoint.
            _ = try await store.run("SAVEPOINT nested", [])
            do {
                let value = try await body(self)
                _ = try await store.run("RELEASE nested", [])
                return value
            } catch {
                _ = try? await store.run("ROLLBACK TO nested", [])
                _ = try? await store.run("RELEASE nested", [])
                throw error
            }
        }

        func transaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
            _ = try await store.run("BEGIN IMMEDIATE", [])
            do {
                let value = try await body(self)
                _ = try await store.run("COMMIT", [])
                return value
            } catch {
                _ = try? await store.run("ROLLBACK", [])
                throw error
            }
        }

        func appliedMigrations() async throws -> [SchemaMigration.Applied] {
            _ = try await store.run(
                "CREATE TABLE IF NOT EXISTS portico_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)", [])
            return try await store.run("SELECT version, name, applied_at FROM portico_schema_migrations ORDER BY version", []).map { row in
                SchemaMigration.Applied(version: Int(row.column("version")?.integer ?? 0), name: row.column("name")?.string ?? "",
                                        appliedAt: row.column("applied_at")?.string ?? "")
            }
        }

        static func record(_ row: SQLiteRow) -> RawRecord {
            RawRecord(id: Int64(row.column("id")?.integer ?? 0), tenantID: Int64(row.column("tenant_id")?.integer ?? 0),
                      scope: row.column("scope")?.string ?? "", lookupKey: row.column("lookup_key")?.string,
                      data: Array((row.column("data")?.string ?? "").utf8))
        }
    }
}

extension SQLiteRecordStore: RecordStoreSnapshotting {
    public func snapshotRows(_ tables: [RecordTable]) async throws -> [RecordTable: [RawRecord]] {
        try await lock.withLock {
            // A read transaction in WAL mode sees one snapshot while `serve` keeps writing through its own connection.
            _ = try await run("BEGIN", [])
            do {
                var out: [RecordTable: [RawRecord]] = [:]
                for table in tables {
                    out[table] = try await run("SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) ORDER BY id", [])
                        .map(Statements.record)
                }
                _ = try await run("COMMIT", [])
                return out
            } catch {
                _ = try? await run("ROLLBACK", [])
                throw error
            }
        }
    }

    public func loadRows(_ rows: [RecordTable: [RawRecord]], replacing: Bool) async throws {
        try await lock.withLock {
            _ = try await view.transaction { _ in
                for table in rows.keys.sorted(by: { $0.name < $1.name }) {
                    if replacing {
                        _ = try await self.run("DELETE FROM \(table.name)", [])
                    } else if let n = try await self.run("SELECT COUNT(*) AS n FROM \(table.name)", []).first?.column("n")?.integer, n > 0 {
                        throw Self.notEmpty(table, "sqlite:\(self.path)")
                    }
                    // Explicit ids also advance AUTOINCREMENT's sequence, so later inserts continue after them.
                    let all = rows[table] ?? []
                    for start in stride(from: 0, to: all.count, by: 400) {
                        let chunk = all[start..<min(start + 400, all.count)]
                        let marks = Array(repeating: "(?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ",")
                        var binds: [SQLiteData] = []
                        binds.reserveCapacity(chunk.count * 5)
                        for r in chunk {
                            binds += [.integer(Int(r.id)), .integer(Int(r.tenantID)), .text(r.scope), r.lookupKey.map { .text($0) } ?? .null,
                                      .text(String(decoding: r.data, as: UTF8.self))]
                        }
                        _ = try await self.run("INSERT INTO \(table.name) (id, tenant_id, scope, lookup_key, data) VALUES \(marks)", binds)
                    }
                }
                return true
            }
        }
    }

    public func totalRows(_ tables: [RecordTable]) async throws -> Int {
        try await lock.withLock {
            var total = 0
            for table in tables {
                total += Int(try await run("SELECT COUNT(*) AS n FROM \(table.name)", []).first?.column("n")?.integer ?? 0)
            }
            return total
        }
    }
}
