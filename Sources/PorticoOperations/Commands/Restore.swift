import Foundation
import PorticoCore
import PorticoMetering
import PorticoMeteringStore
import PorticoRedis
import PorticoStore

/// `portico restore`: puts a backup into the configured stores, all of it or none of it.
public enum Restore {
    public static func run(archive: String, into target: StoreLocations, replace: Bool, wildcardDomain newDomain: String?,
                           progress: Backup.Progress) async throws -> [String] {
        let started = Date()
        progress("verifying \(archive)")
        var contents = try BackupContents.read(archive)
        var lines: [String] = []
        if let newDomain, newDomain.lowercased() != contents.manifest.wildcardDomain.lowercased() {
            let rewrite = WildcardDomainRewrite(from: contents.manifest.wildcardDomain, to: newDomain)
            let changed = try rewrite.apply(to: &contents.rows)
            lines.append("wildcard domain: \(contents.manifest.wildcardDomain) → \(newDomain) (\(changed) product and proxy-config rows rewritten); start serve with --wildcard-domain \(newDomain)")
        }
        lines += try await install(contents, into: target, replace: replace, purpose: "restoring into it", progress: progress)
        lines.insert("restored \(archive) (taken \(contents.manifest.createdAt) by portico \(contents.manifest.porticoVersion)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s", at: 0)
        return lines
    }

    /// Writes `contents` into `target`, verifies it there, and returns the summary. Refuses a target a running
    /// `serve` uses, and a non-empty one unless `replace`. Data-directory files are staged and swapped in through
    /// the restore journal; PostgreSQL is loaded in one transaction and Redis in one MULTI/EXEC.
    static func install(_ contents: BackupContents, into target: StoreLocations, replace: Bool, purpose: String,
                        progress: Backup.Progress) async throws -> [String] {
        // The data directory always receives the stored files (credentials), even when both stores are external.
        try FileManager.default.createDirectory(atPath: target.dataDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var lock: DataDirectoryLock?
        if target.usesDataDirectory {
            lock = try DataDirectoryLock.acquire(dataDirectory: target.dataDirectory, purpose: purpose)
            try RestoreJournal.finishInterrupted(dataDirectory: target.dataDirectory)
        }
        defer { lock?.release() }

        progress("checking the target stores")
        try await refuseIfInUse(target, purpose: purpose)
        if !replace { try await refuseIfNotEmpty(target) }

        let stamp = ISOTime.now().replacingOccurrences(of: ":", with: "")
        var renames: [RestoreJournal.Rename] = []
        func rename(_ staged: String, _ final: String) {
            renames.append(.init(staged: staged, final: final, keptAs: FileManager.default.fileExists(atPath: final) ? "\(final).replaced-\(stamp)" : nil))
        }

        // 1. Stage what lives in the data directory; the target is untouched until the journal is committed.
        if target.databaseURL == nil {
            let staged = target.sqlitePath + ".restoring"
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: staged + suffix) }
            progress("loading \(contents.rows.values.reduce(0) { $0 + $1.count }) admin rows into a staging copy of \(target.sqlitePath)")
            try await load(contents.rows, into: target, sqlitePath: staged, replacing: false)
            if replace { try await checkpoint(target) }
            rename(staged, target.sqlitePath)
        }
        var meteringNotes: [String] = []
        var jobsApplied = false
        if target.redisStorage == nil {
            let staged = target.meteringDirectory + ".restoring"
            try? FileManager.default.removeItem(atPath: staged)
            progress("loading \(contents.storage.count + contents.queues.count) metering keys into a staging copy of \(target.meteringDirectory)")
            (meteringNotes, jobsApplied) = try await stageEmbeddedMetering(contents, directory: staged)
            rename(staged, target.meteringDirectory)
        }
        for (name, bytes) in contents.files.sorted(by: { $0.key < $1.key }) {
            let final = target.dataDirectory + "/" + name
            guard FileManager.default.createFile(atPath: final + ".restoring", contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw OperationsError("cannot write \(final).restoring; check free space and permissions")
            }
            rename(final + ".restoring", final)
        }

        // 2. External stores, each in one transaction.
        if target.databaseURL != nil {
            progress("loading \(contents.rows.values.reduce(0) { $0 + $1.count }) admin rows into \(target.adminDescription) in one transaction")
            try await load(contents.rows, into: target, sqlitePath: nil, replacing: replace)
        }
        if let storage = target.redisStorage {
            let queuesTogether = target.separateQueues == nil
            progress("loading metering keys into \(storage) in one transaction")
            let entries = queuesTogether ? (contents.storage + contents.queues).sorted { $0.key < $1.key } : contents.storage
            try await target.withRedis(storage) { try await RedisEntries.load($0, entries, replacing: replace, nowMilliseconds: ISOTime.milliseconds()) }
            if let queues = target.separateQueues {
                progress("loading queued reports into \(queues) in one transaction")
                try await target.withRedis(queues) { try await RedisEntries.load($0, contents.queues, replacing: replace, nowMilliseconds: ISOTime.milliseconds()) }
            }
        }

        // 3. Swap the staged files in.
        if !renames.isEmpty { try RestoreJournal(renames: renames).commit(dataDirectory: target.dataDirectory) }

        // 4. Verify the target holds what the archive holds.
        progress("verifying the restored data")
        try await verify(contents, in: target, exactCounters: !jobsApplied)
        var lines = [
            "admin: \(contents.rows.values.reduce(0) { $0 + $1.count }) rows into \(target.adminDescription), verified",
            "metering: \(contents.storage.count + contents.queues.count) keys into \(target.meteringDescription), verified",
        ] + meteringNotes
        let kept = renames.compactMap(\.keptAs)
        if !kept.isEmpty { lines.append("the replaced data is kept as: \(kept.joined(separator: ", ")) (delete it once you no longer need it)") }
        if replace, target.databaseURL != nil || target.redisStorage != nil {
            lines.append("note: replaced external stores keep no copy of their previous contents; take a backup first if you need one")
        }
        lines.append("start it with: portico serve \(target.serveFlags)")
        return lines
    }

    static func refuseIfInUse(_ target: StoreLocations, purpose: String) async throws {
        let admin = try await target.adminSessionsInUse()
        if admin > 0 {
            throw OperationsError("a running portico serve holds \(admin) connection(s) to \(target.adminDescription); stop it before \(purpose)")
        }
        let metering = try await target.meteringClientsInUse()
        if metering > 0 {
            throw OperationsError("a running portico serve holds \(metering) connection(s) to \(target.meteringDescription); stop it before \(purpose)")
        }
    }

    static func refuseIfNotEmpty(_ target: StoreLocations) async throws {
        if target.databaseURL != nil || FileManager.default.fileExists(atPath: target.sqlitePath) {
            let rows = try await target.withAdminStore { store in
                try await store.appliedMigrations().isEmpty ? 0 : try await store.totalRows(RecordTable.all)
            }
            if rows > 0 {
                throw OperationsError("\(target.adminDescription) already holds \(rows) admin rows; restore into an empty database, or pass --replace to overwrite it")
            }
        }
        let keys = try await target.meteringKeyCount()
        if keys > 0 {
            throw OperationsError("\(target.meteringDescription) already holds \(keys) metering keys; restore into empty stores, or pass --replace to overwrite them")
        }
        if FileManager.default.fileExists(atPath: target.credentialsPath) {
            throw OperationsError("\(target.credentialsPath) exists; restore into an empty data directory, or pass --replace to overwrite it")
        }
    }

    static func load(_ rows: [RecordTable: [RawRecord]], into target: StoreLocations, sqlitePath: String?, replacing: Bool) async throws {
        try await target.withAdminStore(sqlitePath: sqlitePath) { store in
            _ = try await store.migrate()
            try await store.loadRows(rows, replacing: replacing)
        }
    }

    /// Folds the old database's write-ahead log into it before it is moved aside, so no `-wal` file of the old
    /// database is ever applied to the new one.
    static func checkpoint(_ target: StoreLocations) async throws {
        guard FileManager.default.fileExists(atPath: target.sqlitePath) else { return }
        try await target.withAdminStore { _ in () }
        if FileManager.default.fileExists(atPath: target.sqlitePath + "-wal") {
            throw OperationsError("\(target.sqlitePath)-wal could not be folded into the database; is another process using it?")
        }
    }

    /// Writes the embedded store's files into `directory`. Queued reports from a Redis source are applied here,
    /// since the embedded store keeps no queue between runs.
    static func stageEmbeddedMetering(_ contents: BackupContents, directory: String) async throws -> (notes: [String], jobsApplied: Bool) {
        let storage = EmbeddedMeteringStorage(clockMilliseconds: { ISOTime.milliseconds() })
        let all = (contents.storage + contents.queues).sorted { $0.key < $1.key }
        let jobLists = all.filter { isJobList($0.key) }
        storage.replaceAll(with: all.filter { !isJobList($0.key) })
        var notes: [String] = []
        var payloads: [String] = []
        for entry in jobLists { if case .list(let items) = entry.value { payloads += items } }
        if !payloads.isEmpty {
            let clock: @Sendable () -> Timestamp = { Timestamp(secondsSinceEpoch: ISOTime.milliseconds() / 1000) }
            let processor = ReportProcessor(configuration: MeteringConfiguration(storage: storage, cacheTTLMilliseconds: nil,
                                                                                 clockMilliseconds: { ISOTime.milliseconds() }), clock: clock)
            var applied = 0
            for payload in payloads {
                guard let job = ReportJobCodec.decode(payload) else { continue }
                try await processor.process(job)
                applied += 1
            }
            notes.append("metering: \(applied) queued report job(s) applied, since the embedded store keeps no queue")
        }
        if all.contains(where: { $0.key == RedisJobQueue.failedKey }) {
            notes.append("metering: failed report jobs are kept in \(RedisJobQueue.failedKey) for inspection")
        }
        let persistence = EmbeddedPersistence(directory: directory, storage: storage)
        do { try persistence.compact() } catch { throw OperationsError("cannot write \(directory): \(error)") }
        return (notes, !payloads.isEmpty)
    }

    /// Reads the target back and compares it with what was written. `exactCounters` is false when queued
    /// reports were applied on the way (their counters then legitimately differ from the archive).
    static func verify(_ contents: BackupContents, in target: StoreLocations, exactCounters: Bool) async throws {
        let tables = Array(contents.rows.keys)
        let stored = try await target.withAdminStore { try await $0.snapshotRows(tables) }
        for table in tables {
            let expected = contents.rows[table] ?? []
            let found = stored[table] ?? []
            guard found.count == expected.count, AdminRowsCodec.encode(found) == AdminRowsCodec.encode(expected) else {
                throw OperationsError("verification failed: the \(table) table of \(target.adminDescription) holds \(found.count) rows that differ from the archive's \(expected.count); restore again with --replace")
            }
        }
        // Keys that expired since the archive was taken, and queued jobs the embedded store applied, are not compared.
        let now = ISOTime.milliseconds() + 5_000
        func comparable(_ entries: [MeteringEntry]) -> [String: MeteringEntry.Value] {
            var out: [String: MeteringEntry.Value] = [:]
            for e in entries where (e.expiresAtMilliseconds ?? .max) > now && !isJobList(e.key) { out[e.key] = e.value }
            return out
        }
        let found = try await target.readMetering()
        let expected = comparable(contents.storage + contents.queues)
        let actual = comparable(found.storage + found.queues)
        let missing = expected.filter { actual[$0.key] == nil || (exactCounters && actual[$0.key] != $0.value) }
        guard missing.isEmpty, !exactCounters || actual.count == expected.count else {
            throw OperationsError("verification failed: \(missing.count) metering key(s) differ in \(target.meteringDescription) (first: \(missing.keys.sorted().first ?? "-")); restore again with --replace")
        }
    }

    static func isJobList(_ key: String) -> Bool {
        key == RedisJobQueue.queueKey || (key.hasPrefix("portico/worker:") && key.hasSuffix("/processing"))
    }
}
