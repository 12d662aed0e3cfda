import Foundation
import PorticoCore
import PorticoStore

/// `portico backup`: one archive of an instance's admin data, metering data and stored files, readable while
/// `serve` keeps taking traffic.
public enum Backup {
    public typealias Progress = @Sendable (String) -> Void

    /// Writes the archive to `output` (never over an existing file) and returns the summary lines.
    public static func run(_ source: StoreLocations, output: String, progress: Progress) async throws -> [String] {
        guard !FileManager.default.fileExists(atPath: output) else {
            throw OperationsError("\(output) already exists; choose another name (a backup never overwrites a file)")
        }
        let started = Date()
        let contents = try await capture(source, progress: progress)
        progress("writing \(output)")
        let bytes = contents.archive()
        try writeDurably(bytes, to: output)
        let seconds = Date().timeIntervalSince(started)
        let rows = contents.rows.values.reduce(0) { $0 + $1.count }
        return [
            "backup written: \(output) (\(bytes.count) bytes) in \(String(format: "%.1f", seconds)) s",
            "admin: \(rows) rows in \(contents.rows.count) tables from \(source.adminDescription) at schema version \(contents.manifest.schemaVersion)",
            "metering: \(contents.storage.count) keys\(contents.queues.isEmpty ? "" : " and \(contents.queues.count) queue keys") from \(source.meteringDescription)",
            "files: " + (contents.files.isEmpty ? "none" : contents.files.keys.sorted().joined(separator: ", ")),
            "restore with: portico restore \(output) [--data-dir DIR | --database-url URL] [--redis-storage-url URL]",
        ]
    }

    /// Reads everything an archive holds. Admin rows come from one read transaction; the metering keys from
    /// the embedded store's last flush, or from a SCAN of Redis (the manifest records when each began).
    static func capture(_ source: StoreLocations, progress: Progress) async throws -> BackupContents {
        if source.databaseURL == nil, !FileManager.default.fileExists(atPath: source.sqlitePath) {
            throw OperationsError("there is no admin database at \(source.sqlitePath); check --data-dir (or DATABASE_URL for PostgreSQL)")
        }
        progress("reading admin data from \(source.adminDescription)")
        let adminCapturedAt = ISOTime.now()
        let (schemaVersion, rows) = try await source.withAdminStore { store in
            let version = try await store.appliedMigrations().map(\.version).max() ?? 0
            guard version > 0 else {
                throw OperationsError("the admin database has no Portico schema; nothing to back up (is the data directory or DATABASE_URL right?)")
            }
            return (version, try await store.snapshotRows(RecordTable.all))
        }
        progress("reading metering data from \(source.meteringDescription)")
        let metering = try await source.readMetering()
        var files: [String: [UInt8]] = [:]
        if let credentials = FileManager.default.contents(atPath: source.credentialsPath) { files["credentials"] = Array(credentials) }
        var counts: [String: Int] = [:]
        for table in RecordTable.all { counts[table.name] = rows[table]?.count ?? 0 }
        let manifest = BackupManifest(
            porticoVersion: PorticoVersion.current, schemaVersion: schemaVersion, createdAt: ISOTime.now(), wildcardDomain: source.wildcardDomain,
            admin: .init(source: source.databaseURL == nil ? "sqlite" : "postgresql", capturedAt: adminCapturedAt, rows: counts),
            metering: .init(source: source.redisStorage == nil ? "embedded" : "redis", capturedAt: metering.capturedAt, completedAt: metering.completedAt,
                            storageKeys: MeteringEntriesCodec.families(metering.storage), queueKeys: MeteringEntriesCodec.families(metering.queues)),
            files: files.keys.sorted(), parts: [])
        return BackupContents(manifest: manifest, rows: rows, storage: metering.storage, queues: metering.queues, files: files)
    }

    /// Writes to `<path>.partial`, syncs, then renames: a backup cut off midway never looks like a whole one.
    static func writeDurably(_ bytes: [UInt8], to path: String) throws(OperationsError) {
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw OperationsError("cannot write \(partial); check free space and permissions")
        }
        guard RestoreJournal.sync(partial), rename(partial, path) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw OperationsError("cannot finish \(path): \(String(cString: strerror(errno))); check free space and permissions")
        }
    }
}
