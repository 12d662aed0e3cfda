import Logging
import PorticoPostgres
import PorticoSQLite
import PorticoStore
import ServiceLifecycle

/// Opens the admin store the configuration names: the embedded SQLite file or PostgreSQL.
public struct OpenedAdminStore: Sendable {
    public let store: any RecordStore
    public let migrations: any MigratableStore
    /// A service to run for the store's lifetime (the PostgreSQL connection pool), if any.
    public let service: (any Service)?
    public let close: @Sendable () async -> Void
    public let description: String
}

public enum AdminStoreFactory {
    public static func open(_ configuration: PorticoConfiguration, logger: Logger) async throws -> OpenedAdminStore {
        if let url = configuration.databaseURL {
            let settings = try PostgresConnectionSettings(url: url)
            let store = try PostgresRecordStore(settings: settings, logger: logger)
            return OpenedAdminStore(store: store, migrations: store, service: store, close: {}, description: settings.description)
        }
        try DataDirectory.prepare(configuration.dataDirectory)
        let store = try await SQLiteRecordStore.open(path: configuration.sqlitePath, logger: logger)
        return OpenedAdminStore(store: store, migrations: store, service: nil, close: { await store.close() },
                                description: "sqlite:\(configuration.sqlitePath)")
    }
}
