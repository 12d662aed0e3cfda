import Foundation

/// Makes the last step of a restore into the data directory all-or-nothing. Everything is first written and
/// verified under staging names (`portico.db.restoring`, `metering.restoring/`, …); then the list of renames is
/// written to `restore.journal` and carried out. A process killed before the journal exists leaves the target
/// as it was (staging files are ignored and cleaned up by the next restore); one killed after it is finished by
/// the next `restore`, `move` or `serve`, which replays the remaining renames.
public struct RestoreJournal: Codable, Sendable {
    public struct Rename: Codable, Sendable {
        /// The staged file or directory.
        public var staged: String
        /// Its final name in the data directory.
        public var final: String
        /// Where the existing `final` is kept (`--replace`); nil when there is none.
        public var keptAs: String?
    }

    public var renames: [Rename]

    static func path(_ dataDirectory: String) -> String { dataDirectory + "/restore.journal" }

    /// Writes the journal durably, then carries it out.
    func commit(dataDirectory: String) throws(OperationsError) {
        let data: Data
        do { data = try JSONEncoder().encode(self) } catch { throw OperationsError("cannot encode the restore journal: \(error)") }
        let path = Self.path(dataDirectory)
        guard FileManager.default.createFile(atPath: path + ".tmp", contents: data, attributes: [.posixPermissions: 0o600]),
              Self.sync(path + ".tmp"), rename(path + ".tmp", path) == 0 else {
            throw OperationsError("cannot write \(path): \(String(cString: strerror(errno))); nothing in the data directory was changed")
        }
        _ = Self.sync(dataDirectory)
        try carryOut(dataDirectory: dataDirectory)
    }

    /// Finishes a journal left by an interrupted restore. Returns whether there was one.
    @discardableResult
    public static func finishInterrupted(dataDirectory: String) throws(OperationsError) -> Bool {
        let path = Self.path(dataDirectory)
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let journal: RestoreJournal
        do { journal = try JSONDecoder().decode(RestoreJournal.self, from: data) } catch {
            throw OperationsError("\(path) is unreadable (\(error)); move it aside and check the data directory by hand")
        }
        try journal.carryOut(dataDirectory: dataDirectory)
        return true
    }

    /// Idempotent: a rename already done (staged name gone, final present) is skipped.
    private func carryOut(dataDirectory: String) throws(OperationsError) {
        let fm = FileManager.default
        for r in renames {
            guard fm.fileExists(atPath: r.staged) else { continue }
            if let kept = r.keptAs, fm.fileExists(atPath: r.final), !fm.fileExists(atPath: kept) {
                guard rename(r.final, kept) == 0 else { throw Self.failure("keep \(r.final) as \(kept)") }
            } else if r.keptAs == nil, fm.fileExists(atPath: r.final) {
                throw OperationsError("\(r.final) appeared while restoring; move it aside and run the restore again")
            }
            guard rename(r.staged, r.final) == 0 else { throw Self.failure("rename \(r.staged) to \(r.final)") }
        }
        _ = Self.sync(dataDirectory)
        try? fm.removeItem(atPath: Self.path(dataDirectory))
        _ = Self.sync(dataDirectory)
    }

    static func failure(_ what: String) -> OperationsError {
        OperationsError("cannot \(what): \(String(cString: strerror(errno))); run the restore again to finish it")
    }

    static func sync(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }
}
