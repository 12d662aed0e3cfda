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
        }),
        // Lookups are per tenant (a tenant's "production" proxy configs, a product by system name). With only the
        // (tenant, scope) and lookup-key indexes such a lookup reads all of the tenant's rows of the table, or every
        // tenant's rows with that key; one index on both finds the rows directly.
        SchemaMigration(version: 2, name: "per-tenant lookup indexes", statements: RecordTable.all.map { table in
            "CREATE INDEX \(table.name)_tenant_lookup ON \(table.name) (tenant_id, lookup_key) WHERE lookup_key IS NOT NULL"
        }),
    ]
}
