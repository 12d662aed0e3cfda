import Logging
import NIOSSL
import PorticoCore
import PorticoStore
import PostgresNIO
import ServiceLifecycle

/// The scale-out admin store on PostgreSQL ≥ 13, through a pooled `PostgresClient`.
///
/// The client must be running (`run()`, or as a service in the ServiceGroup) for queries to proceed.
public final class PostgresRecordStore: RecordStore, MigratableStore, Service, Sendable {
    let client: PostgresClient
    let logger: Logger
    public let settings: PostgresConnectionSettings
    public var dialectName: String { "postgresql" }

    /// `applicationName` is what `pg_stat_activity` shows for our connections; operations use it to tell a running
    /// `serve` (`portico-serve`) from themselves.
    public init(settings: PostgresConnectionSettings, applicationName: String = "portico-serve", logger: Logger) throws {
        let tls: PostgresClient.Configuration.TLS
        switch settings.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: tls)
        configuration.options.maximumConnections = 20
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        await client.run()
    }

    var view: Statements {
        Statements(logger: logger, settings: settings) { [client, logger] query in try await client.query(query, logger: logger) }
    }

    public func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
        try await view.insert(table, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
    }
    public func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
        try await view.update(table, id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
    }
    public func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
        try await view.delete(table, tenantID: tenantID, id: id)
    }
    public func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
        try await view.fetch(table, tenantID: tenantID, ids: ids)
    }
    public func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
        try await view.fetch(table, tenantID: tenantID, filter: filter, page: page)
    }
    public func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
        try await view.count(table, tenantID: tenantID, filter: filter)
    }
    public func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
        try await view.fetchAcrossTenants(table, lookupKey: lookupKey)
    }

    public func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
        try await transaction(deadline: Self.transactionDeadline, body)
    }

    func transaction<T: Sendable>(deadline: Duration, _ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
        let (client, logger, settings) = (self.client, self.logger, self.settings)
        do {
            // The deadline's task group awaits its children before returning, so `body` never outlives this call.
            return try await withoutActuallyEscaping(body) { body in
                try await Self.withDeadline(deadline, settings: settings) {
                    try await client.withTransaction(logger: logger) { connection in
                        let inner = Statements(logger: logger, settings: settings, nested: true) { [logger] query in
                            try await connection.query(query, logger: logger)
                        }
                        return try await body(inner)
                    }
                }
            }
        } catch let error as StorageError {
            throw error
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError { throw closureError }
            throw StorageError(.unavailable, "a PostgreSQL transaction failed on \(settings.host):\(settings.port)", underlying: error)
        } catch {
            throw Statements.wrap(error, settings)
        }
    }

    // MARK: migrations

    public func appliedMigrations() async throws -> [SchemaMigration.Applied] {
        try await view.appliedMigrations()
    }

    public func pendingMigrations() async throws -> [SchemaMigration] {
        try SchemaMigration.pending(all: PostgresMigrations.all, applied: try await appliedMigrations())
    }

    /// Applies every pending migration in one transaction that holds a transaction-level advisory lock, so
    /// concurrent `portico migrate` / `serve` processes apply each migration exactly once.
    public func migrate(upTo version: Int?) async throws -> [SchemaMigration] {
        // Schema changes on large tables can take long; the deadline only guards against a dead server.
        // Waiting for another process's migrations and each schema change get that deadline too, not the
        // statement deadline: a second serve starting while the first migrates must wait, not fail.
        let long = Duration.seconds(3600)
        return try await transaction(deadline: long) { store in
            guard let statements = store as? Statements else { return [] }
            try await statements.execute("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", deadline: long)
            try await statements.execute(Statements.createSchemaTable)
            let pending = try SchemaMigration.pending(all: PostgresMigrations.all, applied: try await statements.appliedMigrations()).filter { $0.version <= version ?? .max }
            for migration in pending {
                for sql in migration.statements { try await statements.execute(sql, deadline: long) }
                var binds = PostgresBindings()
                binds.append(migration.version)
                binds.append(migration.name)
                _ = try await statements.run(PostgresQuery(
                    unsafeSQL: "INSERT INTO portico_schema_migrations (version, name, applied_at) VALUES ($1, $2, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                    binds: binds))
            }
            return pending
        }
    }

    /// An arbitrary constant naming Portico's migration lock among the database's advisory locks.
    static let migrationLockKey: Int64 = 0x706F_7274_6963_6F

    /// Bounds an operation in time: when PostgreSQL is unreachable the pool would otherwise wait for a
    /// connection forever, and callers deserve a clear error instead of a hung request.
    static func withDeadline<T: Sendable>(_ duration: Duration, settings: PostgresConnectionSettings,
                                          _ operation: @Sendable @escaping () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: duration)
                throw StorageError(.unavailable, "PostgreSQL at \(settings.host):\(settings.port) did not answer within \(duration); check that it is running and reachable")
            }
            guard let result = try await group.next() else { throw CancellationError() }
            group.cancelAll()
            return result
        }
    }

    static let statementDeadline = Duration.seconds(10)
    static let transactionDeadline = Duration.seconds(30)

    /// SQL of every operation, run through the pool or through one connection inside a transaction.
    struct Statements: RecordStore {
        typealias Runner = @Sendable (PostgresQuery) async throws -> PostgresRowSequence
        let logger: Logger
        let settings: PostgresConnectionSettings
        var nested = false
        let runner: Runner

        init(logger: Logger, settings: PostgresConnectionSettings, nested: Bool = false, runner: @escaping Runner) {
            self.logger = logger
            self.settings = settings
            self.nested = nested
            self.runner = runner
        }

        static func wrap(_ error: any Error, _ settings: PostgresConnectionSettings) -> StorageError {
            if let e = error as? StorageError { return e }
            // The server's primary message names the problem ("permission denied for table …") and never holds
            // row values (those are in its detail field, which is left out).
            if let server = (error as? PSQLError)?.serverInfo?[.message] {
                return StorageError(.unavailable, "PostgreSQL at \(settings.host):\(settings.port) refused a statement: \(server)", underlying: error)
            }
            return StorageError(.unavailable,
                                "PostgreSQL at \(settings.host):\(settings.port) failed a statement; check that it is running and reachable",
                                underlying: error)
        }

        /// Runs a statement and collects its rows, within `deadline` (the statement deadline unless told).
        func collect<T: Sendable>(_ query: PostgresQuery, deadline: Duration = PostgresRecordStore.statementDeadline,
                                  _ read: @Sendable @escaping (PostgresRowSequence) async throws -> T) async throws -> T {
            let (runner, settings) = (self.runner, self.settings)
            do {
                return try await PostgresRecordStore.withDeadline(deadline, settings: settings) {
                    try await read(try await runner(query))
                }
            } catch {
                throw Statements.wrap(error, settings)
            }
        }

        func run(_ query: PostgresQuery) async throws -> [RawRecord] {
            try await collect(query) { rows in
                var out: [RawRecord] = []
                for try await (id, tenant, scope, lookup, data) in rows.decode((Int64, Int64, String, String?, String).self) {
                    out.append(RawRecord(id: id, tenantID: tenant, scope: scope, lookupKey: lookup, data: Array(data.utf8)))
                }
                return out
            }
        }

        func execute(_ sql: String, deadline: Duration = PostgresRecordStore.statementDeadline) async throws {
            _ = try await collect(PostgresQuery(unsafeSQL: sql), deadline: deadline) { rows in try await rows.collect().count }
        }

        private func ids(_ query: PostgresQuery) async throws -> [Int64] {
            try await collect(query) { rows in
                var out: [Int64] = []
                for try await id in rows.decode(Int64.self) { out.append(id) }
                return out
            }
        }

        func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
            var b = PostgresBindings()
            b.append(tenantID)
            b.append(scope)
            b.append(lookupKey)
            b.append(String(decoding: data, as: UTF8.self))
            let result = try await ids(PostgresQuery(
                unsafeSQL: "INSERT INTO \(table.name) (tenant_id, scope, lookup_key, data) VALUES ($1, $2, $3, $4) RETURNING id", binds: b))
            guard let id = result.first else { throw StorageError(.unavailable, "PostgreSQL did not return the id of a new \(table) row") }
            return id
        }

        func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
            var b = PostgresBindings()
            b.append(scope)
            b.append(lookupKey)
            b.append(String(decoding: data, as: UTF8.self))
            b.append(id)
            b.append(tenantID)
            return try await !ids(PostgresQuery(
                unsafeSQL: "UPDATE \(table.name) SET scope = $1, lookup_key = $2, data = $3 WHERE id = $4 AND tenant_id = $5 RETURNING id", binds: b)).isEmpty
        }

        func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
            var b = PostgresBindings()
            b.append(id)
            b.append(tenantID)
            return try await !ids(PostgresQuery(unsafeSQL: "DELETE FROM \(table.name) WHERE id = $1 AND tenant_id = $2 RETURNING id", binds: b)).isEmpty
        }

        func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
            guard !ids.isEmpty else { return [] }
            var b = PostgresBindings()
            b.append(tenantID)
            b.append(ids)
            return try await run(PostgresQuery(
                unsafeSQL: "SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id", binds: b))
        }

        private func whereClause(_ tenantID: Int64, _ filter: RecordFilter, _ b: inout PostgresBindings) -> String {
            b.append(tenantID)
            var sql = " WHERE tenant_id = $1"
            if let scope = filter.scope {
                b.append(scope)
                sql += " AND scope = $\(b.count)"
            }
            if let key = filter.lookupKey {
                b.append(key)
                sql += " AND lookup_key = $\(b.count)"
            }
            return sql
        }

        func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
            var b = PostgresBindings()
            var sql = "SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name)" + whereClause(tenantID, filter, &b) + " ORDER BY id"
            if let page {
                b.append(page.perPage)
                b.append(page.offset)
                sql += " LIMIT $\(b.count - 1) OFFSET $\(b.count)"
            }
            return try await run(PostgresQuery(unsafeSQL: sql, binds: b))
        }

        func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
            var b = PostgresBindings()
            let sql = "SELECT COUNT(*) FROM \(table.name)" + whereClause(tenantID, filter, &b)
            return Int(try await ids(PostgresQuery(unsafeSQL: sql, binds: b)).first ?? 0)
        }

        func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
            var b = PostgresBindings()
            b.append(lookupKey)
            return try await run(PostgresQuery(
                unsafeSQL: "SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) WHERE lookup_key = $1 ORDER BY id", binds: b))
        }

        func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
            guard nested else {
                throw StorageError(.unavailable, "internal: a pool-level statement view cannot open a transaction")
            }
            try await execute("SAVEPOINT nested")
            do {
                let value = try await body(self)
                try await execute("RELEASE SAVEPOINT nested")
                return value
            } catch {
                try? await execute("ROLLBACK TO SAVEPOINT nested")
                throw error
            }
        }

        static let createSchemaTable =
            "CREATE TABLE IF NOT EXISTS portico_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"

        /// What is applied; nothing when the schema table does not exist yet (it is created by `migrate`).
        func appliedMigrations() async throws -> [SchemaMigration.Applied] {
            let exists = try await collect(PostgresQuery(unsafeSQL: "SELECT to_regclass('portico_schema_migrations') IS NOT NULL")) { rows in
                var found = false
                for try await flag in rows.decode(Bool.self) { found = flag }
                return found
            }
            guard exists else { return [] }
            return try await collect(PostgresQuery(unsafeSQL: "SELECT version, name, applied_at FROM portico_schema_migrations ORDER BY version")) { rows in
                var out: [SchemaMigration.Applied] = []
                for try await (version, name, at) in rows.decode((Int32, String, String).self) {
                    out.append(SchemaMigration.Applied(version: Int(version), name: name, appliedAt: at))
                }
                return out
            }
        }
    }
}

extension PostgresRecordStore: RecordStoreSnapshotting {
    /// Bulk work may take minutes on large tenants; the deadline only guards against a dead server.
    static let bulkDeadline = Duration.seconds(3600)

    public func snapshotRows(_ tables: [RecordTable]) async throws -> [RecordTable: [RawRecord]] {
        try await transaction(deadline: Self.bulkDeadline) { store in
            guard let statements = store as? Statements else { return [:] }
            // One snapshot for every table, whatever other connections commit meanwhile.
            try await statements.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            var out: [RecordTable: [RawRecord]] = [:]
            for table in tables {
                out[table] = try await statements.run(PostgresQuery(unsafeSQL: "SELECT id, tenant_id, scope, lookup_key, data FROM \(table.name) ORDER BY id"))
            }
            return out
        }
    }

    public func loadRows(_ rows: [RecordTable: [RawRecord]], replacing: Bool) async throws {
        let where_ = settings.description
        _ = try await transaction(deadline: Self.bulkDeadline) { store in
            guard let statements = store as? Statements else { return false }
            for table in rows.keys.sorted(by: { $0.name < $1.name }) {
                if replacing {
                    try await statements.execute("DELETE FROM \(table.name)")
                } else if try await statements.countAll(table) > 0 {
                    throw Self.notEmpty(table, where_)
                }
                let all = rows[table] ?? []
                for start in stride(from: 0, to: all.count, by: 1000) {
                    let chunk = all[start..<min(start + 1000, all.count)]
                    var b = PostgresBindings(capacity: chunk.count * 5)
                    var tuples: [String] = []
                    tuples.reserveCapacity(chunk.count)
                    for r in chunk {
                        let n = b.count
                        tuples.append("($\(n + 1), $\(n + 2), $\(n + 3), $\(n + 4), $\(n + 5))")
                        b.append(r.id)
                        b.append(r.tenantID)
                        b.append(r.scope)
                        b.append(r.lookupKey)
                        b.append(String(decoding: r.data, as: UTF8.self))
                    }
                    _ = try await statements.run(PostgresQuery(
                        unsafeSQL: "INSERT INTO \(table.name) (id, tenant_id, scope, lookup_key, data) VALUES " + tuples.joined(separator: ","), binds: b))
                }
                // Explicit ids do not advance the BIGSERIAL sequence: move it past them so later inserts never collide.
                try await statements.execute(
                    "SELECT setval(pg_get_serial_sequence('\(table.name)', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM \(table.name)), 1), (SELECT COUNT(*) > 0 FROM \(table.name)))")
            }
            return true
        }
    }

    public func totalRows(_ tables: [RecordTable]) async throws -> Int {
        var total = 0
        for table in tables { total += try await view.countAll(table) }
        return total
    }

    /// The server's version: `server_version_num` (150004 for 15.4) and its text.
    public func serverVersion() async throws -> (number: Int, text: String) {
        try await view.collect(PostgresQuery(unsafeSQL: "SELECT current_setting('server_version_num')::int, current_setting('server_version')")) { rows in
            var out = (number: 0, text: "")
            for try await (n, t) in rows.decode((Int32, String).self) { out = (Int(n), t) }
            return out
        }
    }

    /// The oldest PostgreSQL Portico supports, as `server_version_num`.
    public static let minimumServerVersion = 130000

    /// Throws when the server is older than Portico supports; `serve` and `portico doctor` say it the same way.
    public func requireSupportedServer() async throws {
        let version = try await serverVersion()
        if let message = Self.unsupportedServerMessage(version, settings: settings) { throw StorageError(.unsupportedServer, message) }
    }

    public static func unsupportedServerMessage(_ version: (number: Int, text: String), settings: PostgresConnectionSettings) -> String? {
        guard version.number < minimumServerVersion else { return nil }
        return "the database at \(settings.host):\(settings.port) runs PostgreSQL \(version.text); Portico needs PostgreSQL 13 or newer. Upgrade the server (pg_upgrade, or a dump and restore), or point DATABASE_URL at a newer one"
    }

    /// Whether the connected role may create tables in its current schema (PostgreSQL 15 no longer lets every
    /// role create in `public`), and the schema's name.
    public func createPermission() async throws -> (schema: String?, allowed: Bool) {
        try await view.collect(PostgresQuery(unsafeSQL: "SELECT current_schema(), COALESCE(has_schema_privilege(current_schema(), 'CREATE'), false)")) { rows in
            var out: (schema: String?, allowed: Bool) = (nil, false)
            for try await (schema, allowed) in rows.decode((String?, Bool).self) { out = (schema, allowed) }
            return out
        }
    }

    /// Sessions of other processes connected to this database under `applicationName` (a running `serve`).
    public func otherSessions(applicationName: String) async throws -> Int {
        var b = PostgresBindings()
        b.append(applicationName)
        return try await view.collect(PostgresQuery(
            unsafeSQL: "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
            binds: b)) { rows in
            var n: Int64 = 0
            for try await v in rows.decode(Int64.self) { n = v }
            return Int(n)
        }
    }
}

extension PostgresRecordStore.Statements {
    func countAll(_ table: RecordTable) async throws -> Int {
        try await collect(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table.name)")) { rows in
            var n: Int64 = 0
            for try await v in rows.decode(Int64.self) { n = v }
            return Int(n)
        }
    }
}
