import Foundation
import PorticoCore

/// `portico move`: copies an instance's admin data and/or metering data to other stores (3scale's
/// "externalizing databases", and back), verifies the copy, and prints how to start `serve` on it. The source
/// is never written, so rolling back is starting `serve` on the old stores again.
public enum Move {
    public static func run(from source: StoreLocations, to target: StoreLocations, replace: Bool, progress: Backup.Progress) async throws -> [String] {
        let started = Date()
        let sameDirectory = standardized(source.dataDirectory) == standardized(target.dataDirectory)
        var scope = Restore.Scope(admin: source.adminDescription != target.adminDescription,
                                  metering: source.meteringDescription != target.meteringDescription,
                                  files: !sameDirectory)
        guard scope.admin || scope.metering || scope.files else {
            throw OperationsError("nothing to move: the target stores are the configured ones; give --to-database-url, --to-redis-storage-url or --to-data-dir")
        }
        // The copy is taken from a stopped instance, so it cannot miss a write. The data-directory lock also
        // keeps a serve from starting on the source while the copy runs.
        let purpose = "moving its data (a move copies a stopped instance so the copy misses no write; start serve on the new stores with the command printed at the end)"
        var lock: DataDirectoryLock?
        if FileManager.default.fileExists(atPath: source.dataDirectory) {
            lock = try DataDirectoryLock.acquire(dataDirectory: source.dataDirectory, purpose: purpose)
            scope.lockHeld = sameDirectory
        }
        defer { lock?.release() }
        progress("checking that no serve uses the source stores")
        try await Restore.refuseIfInUse(source, purpose: purpose)

        let contents = try await Backup.capture(source, progress: progress)
        let (installed, copied) = try await Restore.install(contents, into: target, replace: replace, purpose: "moving into it", scope: scope,
                                                            progress: progress)
        var lines = ["moved in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"]
        if scope.admin { lines.append("admin data: \(source.adminDescription) → \(target.adminDescription)") }
        if scope.metering { lines.append("metering data: \(source.meteringDescription) → \(target.meteringDescription)") }
        if scope.files, !contents.files.isEmpty { lines.append("files: \(contents.files.keys.sorted().joined(separator: ", ")) → \(target.dataDirectory)") }
        lines += installed
        if !copied.tables.isEmpty || !copied.families.isEmpty {
            lines.append("the copy matches the source (rows or keys, and checksum, per table and key family):")
            lines += copied.lines
        }
        lines.append("start serve on the new stores with: portico serve \(target.serveFlags)")
        lines.append("the source is untouched: to roll back, start portico serve \(source.serveFlags)")
        return lines
    }

    static func standardized(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
