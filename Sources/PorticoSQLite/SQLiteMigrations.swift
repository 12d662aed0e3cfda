import PorticoStore

/// The SQLite schema, as forward-only migrations. Never edit a released migration; add a new one.
public enum SQLiteMigrations {
    public static let all: [SchemaMigration] = [
        SchemaMigration(version: 1, name: "record tables", statements: RecordTable.all.flatMap { table in
            [
                """
                CREATE TABLE \(table.name) (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id INTEGER NOT NULL,
                    scope TEXT NOT NULL,
                    lookup_key TEXT,
                    data TEXT NOT NULL
                )
                """,
                "CREATE INDEX \(table.name)_tenant_scope ON \(table.name) (tenant_id, scope, id)",
                "CREATE INDEX \(table.name)_lookup ON \(table.name) (lookup_key) WHERE lookup_key IS NOT NULL",
            ]
        })
    ]
}
