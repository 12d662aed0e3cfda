import Foundation
import Logging
import PorticoPostgres
import PorticoRedis
import PorticoSQLite
import PorticoStore

/// Where an instance keeps its data: the same settings `serve` reads (data directory, `DATABASE_URL`,
/// `REDIS_STORAGE_URL`, `REDIS_QUEUES_URL`, `WILDCARD_DOMAIN`).
public struct StoreLocations: Sendable {
    public var dataDirectory: String
    /// nil: the embedded SQLite file `<data-dir>/portico.db`.
    public var databaseURL: String?
    /// nil: the embedded metering store `<data-dir>/metering/`.
    public var redisStorage: RedisEndpoint?
    /// nil: the storage Redis.
    public var redisQueues: RedisEndpoint?
    public var wildcardDomain: String

    public init(dataDirectory: String, databaseURL: String?, redisStorage: RedisEndpoint?, redisQueues: RedisEndpoint?, wildcardDomain: String) {
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.redisStorage = redisStorage
        self.redisQueues = redisQueues
        self.wildcardDomain = wildcardDomain
    }

    var sqlitePath: String { dataDirectory + "/portico.db" }
    var meteringDirectory: String { dataDirectory + "/metering" }
    var credentialsPath: String { dataDirectory + "/credentials" }
    /// Whether anything lives in the data directory (which then must not be used by a running `serve`).
    var usesDataDirectory: Bool { databaseURL == nil || redisStorage == nil }

    var adminDescription: String {
        if let url = databaseURL { return (try? PostgresConnectionSettings(url: url).description) ?? "PostgreSQL" }
        return "sqlite:\(sqlitePath)"
    }

    var meteringDescription: String {
        guard let storage = redisStorage else { return "embedded:\(meteringDirectory)" }
        if let queues = redisQueues, queues != storage { return "redis \(storage) (queues \(queues))" }
        return "redis \(storage)"
    }

    /// Queues on their own Redis database, apart from storage.
    var separateQueues: RedisEndpoint? {
        guard let queues = redisQueues, queues != redisStorage else { return nil }
        return queues
    }

    /// The `serve` flags that select these stores.
    public var serveFlags: String {
        var flags = ["--data-dir \(dataDirectory)"]
        if let url = databaseURL { flags.append("--database-url '\((try? PostgresConnectionSettings(url: url).description) ?? url)'") }
        if let storage = redisStorage { flags.append("--redis-storage-url '\(storage.url)'") }
        if let queues = separateQueues { flags.append("--redis-queues-url '\(queues.url)'") }
        return flags.joined(separator: " ")
    }
}

/// The admin database as snapshotting operations use it.
typealias SnapshotStore = RecordStoreSnapshotting & MigratableStore

extension StoreLocations {
    /// Opens the admin database (`sqlitePath` overrides the file, for staging), runs `body`, closes it.
    func withAdminStore<T: Sendable>(sqlitePath: String? = nil, _ body: @Sendable @escaping (any SnapshotStore) async throws -> T) async throws -> T {
        let logger = Logger(label: "portico.operations")
        if let url = databaseURL {
            let settings: PostgresConnectionSettings
            do { settings = try PostgresConnectionSettings(url: url) } catch { throw OperationsError("\(error)") }
            let store = try PostgresRecordStore(settings: settings, applicationName: "portico-operations", logger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                group.addTask { try await body(store) }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw OperationsError("the PostgreSQL connection pool stopped unexpectedly")
            }
        }
        let store = try await SQLiteRecordStore.open(path: sqlitePath ?? self.sqlitePath, logger: logger)
        do {
            let value = try await body(store)
            await store.close()
            return value
        } catch {
            await store.close()
            throw error
        }
    }

    /// Sessions of a running `serve` on the PostgreSQL database; 0 for the embedded file (the data-directory
    /// lock covers it).
    func adminSessionsInUse() async throws -> Int {
        guard databaseURL != nil else { return 0 }
        return try await withAdminStore { store in
            guard let pg = store as? PostgresRecordStore else { return 0 }
            return try await pg.otherSessions(applicationName: "portico-serve")
        }
    }
}

extension RedisEndpoint {
    /// The endpoint as a URL for printed instructions, the password replaced by a placeholder.
    var url: String {
        guard sentinels.isEmpty else { return description }
        let auth = password == nil ? "" : (username ?? "") + ":<password>@"
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
