import Foundation
import PorticoCore
import PorticoStore

/// `portico upgrade`: preflight (doctor), a backup, the schema migrations, a check that nothing was lost, and how
/// to roll back. `plan` only lists the migrations; `dryRun` runs every check and changes nothing.
public enum Upgrade {
    public struct Options: Sendable {
        public var plan = false
        public var dryRun = false
        /// Where the pre-upgrade backup goes; default `<data-dir>/backups/pre-upgrade-<time>.tar`.
        public var backupPath: String?
        public var doctor = Doctor.Options()
        public init(plan: Bool = false, dryRun: Bool = false, backupPath: String? = nil, doctor: Doctor.Options = .init()) {
            self.plan = plan
            self.dryRun = dryRun
            self.backupPath = backupPath
            self.doctor = doctor
        }
    }

    public static func run(_ locations: StoreLocations, configurationProblems: [String], options: Options, progress: Backup.Progress) async throws -> [String] {
        if locations.databaseURL == nil, !FileManager.default.fileExists(atPath: locations.sqlitePath) {
            throw OperationsError("there is no admin database at \(locations.sqlitePath), so nothing to upgrade (serve creates it at the current schema); check --data-dir or DATABASE_URL")
        }
        let state = try await locations.withAdminStore { store in
            (applied: try await store.appliedMigrations(), pending: try await store.pendingMigrations(), rows: try await store.totalRows(RecordTable.all))
        }
        let current = state.applied.map(\.version).max() ?? 0
        var lines = ["schema: \(locations.adminDescription) is at version \(current); this portico \(PorticoVersion.current) uses version \(BackupContents.binarySchemaVersion)"]
        if state.pending.isEmpty {
            lines.append("nothing to upgrade: no migration is pending")
            return lines
        }
        lines.append("pending migrations, applied in this order, each in its own transaction:")
        for migration in state.pending {
            lines.append("  \(migration.version) \(migration.name)")
            for statement in migration.statements { lines.append("      " + statement.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")) }
        }
        if options.plan { return lines }

        progress("preflight: running doctor")
        let findings = await Doctor.run(locations, configurationProblems: configurationProblems, options: options.doctor)
        let problems = findings.filter { $0.severity == .problem }
        for finding in findings where finding.severity != .ok {
            progress("preflight \(finding.severity.rawValue): \(finding.check): \(finding.message)")
        }
        if !problems.isEmpty {
            throw OperationsError("the preflight found \(problems.count) problem(s); nothing was changed. Run portico doctor for each with its fix, then upgrade again:\n"
                                  + problems.map { "  - \($0.check): \($0.message)" }.joined(separator: "\n"))
        }
        lines.append("preflight: no problems (\(findings.filter { $0.severity == .warning }.count) warning(s); portico doctor lists them)")

        let purpose = "upgrading it (stop serve, upgrade, then start the new portico)"
        var lock: DataDirectoryLock?
        if locations.usesDataDirectory, FileManager.default.fileExists(atPath: locations.dataDirectory) {
            lock = try DataDirectoryLock.acquire(dataDirectory: locations.dataDirectory, purpose: purpose)
        }
        defer { lock?.release() }
        try await Restore.refuseIfInUse(locations, purpose: purpose)

        let backup = options.backupPath ?? locations.dataDirectory + "/backups/pre-upgrade-schema\(current)-" + ISOTime.now().replacingOccurrences(of: ":", with: "") + ".tar"
        if options.dryRun {
            lines.append("dry run: would back up to \(backup), then apply \(state.pending.count) migration(s); nothing was changed")
            return lines
        }
        try FileManager.default.createDirectory(atPath: (backup as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        progress("backing up to \(backup)")
        let backupLines = try await Backup.run(locations, output: backup, progress: progress)
        lines.append(backupLines.first ?? "backup written: \(backup)")

        progress("applying \(state.pending.count) migration(s)")
        let after = try await locations.withAdminStore { store in
            (applied: try await store.migrate(), pending: try await store.pendingMigrations(), rows: try await store.totalRows(RecordTable.all))
        }
        guard after.pending.isEmpty, after.rows == state.rows else {
            throw OperationsError("after the migrations \(after.pending.count) remain pending and the database holds \(after.rows) rows (before: \(state.rows)); restore \(backup) with --replace and report this")
        }
        lines.append("applied: " + after.applied.map { "\($0.version) \($0.name)" }.joined(separator: ", ") + "; \(after.rows) rows, as before")
        lines.append("start the new portico with: portico serve \(locations.serveFlags)")
        lines.append("to roll back: stop serve and, with the portico release you ran before (any release that knows schema version \(current)), run:")
        if locations.databaseURL == nil {
            lines.append("  portico restore \(backup) --replace \(locations.serveFlags)")
        } else {
            lines.append("  portico restore \(backup) \(locations.serveFlags)")
            lines.append("  into an empty database: the upgraded one is at a schema the older release refuses (drop and re-create it, or point DATABASE_URL at a new one)")
        }
        return lines
    }
}
