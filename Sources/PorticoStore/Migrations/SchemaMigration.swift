/// One forward-only schema change of one SQL dialect.
public struct SchemaMigration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    public struct Applied: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var appliedAt: String
        public init(version: Int, name: String, appliedAt: String) {
            self.version = version
            self.name = name
            self.appliedAt = appliedAt
        }
    }

    /// The migrations not yet applied, in order. Throws when the database is newer than this binary.
    public static func pending(all: [SchemaMigration], applied: [Applied]) throws -> [SchemaMigration] {
        let appliedVersions = Set(applied.map(\.version))
        if let newest = applied.map(\.version).max(), let known = all.map(\.version).max(), newest > known {
            throw StorageError(.schemaTooNew, "the database is at schema version \(newest) but this portico knows only up to \(known); run a newer portico")
        }
        return all.filter { !appliedVersions.contains($0.version) }.sorted { $0.version < $1.version }
    }
}
