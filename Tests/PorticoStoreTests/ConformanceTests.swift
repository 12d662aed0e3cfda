import Foundation
import Logging
import PorticoCore
import PorticoPostgres
import PorticoSQLite
import PorticoStore
import PorticoTesting
import Testing

/// The storage conformance suite, run against every store.
@Suite struct ConformanceTests {
    static let checkNames = RecordStoreConformance.checks.map(\.0)

    @Test("in-memory store", arguments: checkNames)
    func memory(_ name: String) async throws {
        try await run(name, on: MemoryRecordStore())
    }

    @Test("SQLite store", arguments: checkNames)
    func sqlite(_ name: String) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portico-conformance-\(UUID().uuidString).db").path
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try await SQLiteRecordStore.open(path: path, logger: Logger(label: "test"))
        _ = try await store.migrate()
        try await run(name, on: store)
        await store.close()
    }

    static let postgresURL = ProcessInfo.processInfo.environment["PORTICO_TEST_DATABASE_URL"]

    @Test("PostgreSQL store", .enabled(if: postgresURL != nil, "set PORTICO_TEST_DATABASE_URL (scripts/test does)"), arguments: checkNames)
    func postgres(_ name: String) async throws {
        let store = try PostgresRecordStore(settings: try PostgresConnectionSettings(url: ConformanceTests.postgresURL ?? ""), logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            _ = try await store.migrate()
            try await run(name, on: store)
            group.cancelAll()
        }
    }

    func run(_ name: String, on store: any RecordStore) async throws {
        guard let check = RecordStoreConformance.checks.first(where: { $0.0 == name })?.1 else {
            Issue.record("no conformance check named \(name)")
            return
        }
        try await check(store)
    }
}

@Suite struct MigrationTests {
    @Test func sqliteMigrationsAreIdempotentAndRecorded() async throws {
        let store = try await SQLiteRecordStore.open(path: ":memory:", logger: Logger(label: "test"))
        #expect(try await store.pendingMigrations().map(\.version) == [1, 2])
        #expect(try await store.migrate().map(\.version) == [1, 2])
        #expect(try await store.migrate().isEmpty)
        #expect(try await store.appliedMigrations().map(\.version) == [1, 2])
        await store.close()
    }

    @Test func aDatabaseNewerThanTheBinaryIsRefused() throws {
        #expect(throws: StorageError.self) {
            _ = try SchemaMigration.pending(all: SQLiteMigrations.all, applied: [.init(version: 99, name: "future", appliedAt: "")])
        }
    }

    @Test func postgresURLsAreParsedAndRedacted() throws {
        let s = try PostgresConnectionSettings(url: "postgresql://app:s%40cret@db.example.com:6543/portico?sslmode=require")
        #expect(s.host == "db.example.com" && s.port == 6543 && s.username == "app" && s.password == "s@cret" && s.database == "portico")
        #expect(s.tls == .require)
        #expect(!s.description.contains("cret"))
        #expect(throws: PostgresURLError.self) { _ = try PostgresConnectionSettings(url: "mysql://x") }
        #expect(throws: PostgresURLError.self) { _ = try PostgresConnectionSettings(url: "postgresql://h:99999/db") }
    }
}

@Suite struct UnavailableDatabaseTests {
    @Test func anUnreachablePostgreSQLIsAClearErrorNotAHang() async throws {
        let settings = try PostgresConnectionSettings(url: "postgresql://postgres@127.0.0.1:1/none?sslmode=disable")
        let store = try PostgresRecordStore(settings: settings, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            do {
                _ = try await store.list(Product.self, tenantID: 1)
                Issue.record("a query against an unreachable database succeeded")
            } catch let error as StorageError {
                #expect(error.code == .unavailable)
                #expect(error.description.contains("127.0.0.1:1"))
            }
            group.cancelAll()
        }
    }
}
