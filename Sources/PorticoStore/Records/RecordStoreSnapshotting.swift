/// Whole-store copies, for backup, restore and move. Implemented by the durable stores (SQLite, PostgreSQL).
public protocol RecordStoreSnapshotting: Sendable {
    /// Every row of `tables`, read in one transaction so the tables agree with each other even while other
    /// connections keep writing. Rows of each table are ordered by id.
    func snapshotRows(_ tables: [RecordTable]) async throws -> [RecordTable: [RawRecord]]
    /// Writes `rows` with their ids in one transaction: either all of them land or none. With `replacing`, the
    /// tables named in `rows` are emptied first inside the same transaction; without it, the load refuses
    /// (`StorageError.Code.notEmpty`) when any of them holds a row. New rows inserted later get ids after the
    /// largest id loaded.
    func loadRows(_ rows: [RecordTable: [RawRecord]], replacing: Bool) async throws
    /// Rows over all `tables`, across tenants.
    func totalRows(_ tables: [RecordTable]) async throws -> Int
}

extension RecordStoreSnapshotting {
    /// The error both stores give when a load without `replacing` finds rows.
    public static func notEmpty(_ table: RecordTable, _ location: String) -> StorageError {
        StorageError(.notEmpty, "the \(table) table of \(location) already holds rows; restore into an empty database, or pass --replace to overwrite it")
    }
}
