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
        lines += try await install(contents, into: target, replace: replace, purpose: "restoring into it", progress: progress).lines
        lines.append("start it with: portico serve \(target.serveFlags)")
        lines.insert("restored \(archive) (taken \(contents.manifest.createdAt) by portico \(contents.manifest.porticoVersion)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s", at: 0)
        return lines
    }

    /// Which parts of an instance an install writes. A restore writes all of them; a move only the stores
    /// that change (moving the admin data to PostgreSQL leaves the embedded counters where they are).
    struct Scope: Sendable {
        var admin = true
        var metering = true
        var files = true
        /// The caller already holds the target data directory's lock (a move within one data directory).
        var lockHeld = false
        static let everything = Scope()
    }

    /// Writes `contents` into `target`, verifies it there, and returns the summary and the target's fingerprint.
    /// Refuses a target a running `serve` uses, and a non-empty one unless `replace`. Data-directory files are
    /// staged and swapped in through the restore journal; PostgreSQL is loaded in one transaction and Redis in
    /// one MULTI/EXEC.
    static func install(_ contents: BackupContents, into target: StoreLocations, replace: Bool, purpose: String, scope: Scope = .everything,
                        progress: Backup.Progress) async throws -> (lines: [String], fingerprint: StoreFingerprint) {
        let embeddedAdmin = scope.admin && target.databaseURL == nil
        let embeddedMetering = scope.metering && target.redisStorage == nil
        var lock: DataDirectoryLock?
        if embeddedAdmin || embeddedMetering || scope.files {
            try FileManager.default.createDirectory(atPath: target.dataDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if !scope.lockHeld { lock = try DataDirectoryLock.acquire(dataDirectory: target.dataDirectory, purpose: purpose) }
            try RestoreJournal.finishInterrupted(dataDirectory: target.dataDirectory)
        }
        defer { lock?.release() }

        progress("checking the target stores")
        try await refuseIfInUse(target, scope: scope, purpose: purpose)
        if !replace { try await refuseIfNotEmpty(target, scope: scope) }

        let stamp = ISOTime.now().replacingOccurrences(of: ":", with: "")
        var renames: [RestoreJournal.Rename] = []
        func rename(_ staged: String, _ final: String) {
            renames.append(.init(staged: staged, final: final, keptAs: FileManager.default.fileExists(atPath: final) ? "\(final).replaced-\(stamp)" : nil))
        }
        let rowCount = contents.rows.values.reduce(0) { $0 + $1.count }

        // 1. Stage what lives in the data directory; the target is untouched until the journal is committed.
        if embeddedAdmin {
            let staged = target.sqlitePath + ".restoring"
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: staged + suffix) }
            progress("loading \(rowCount) admin rows into a staging copy of \(target.sqlitePath)")
            try await load(contents.rows, into: target, sqlitePath: staged, replacing: false)
            if replace { try await checkpoint(target) }
            rename(staged, target.sqlitePath)
        }
        var meteringNotes: [String] = []
        var jobsApplied = false
        if embeddedMetering {
            let staged = target.meteringDirectory + ".restoring"
            try? FileManager.default.removeItem(atPath: staged)
            progress("loading \(contents.storage.count + contents.queues.count) metering keys into a staging copy of \(target.meteringDirectory)")
            (meteringNotes, jobsApplied) = try await stageEmbeddedMetering(contents, directory: staged)
            rename(staged, target.meteringDirectory)
        }
        if scope.files {
            for (name, bytes) in contents.files.sorted(by: { $0.key < $1.key }) {
                let final = target.dataDirectory + "/" + name
                guard FileManager.default.createFile(atPath: final + ".restoring", contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                    throw OperationsError("cannot write \(final).restoring; check free space and permissions")
                }
                rename(final + ".restoring", final)
            }
        }

        // 2. External stores, each in one transaction.
        if scope.admin, target.databaseURL != nil {
            progress("loading \(rowCount) admin rows into \(target.adminDescription) in one transaction")
            try await load(contents.rows, into: target, sqlitePath: nil, replacing: replace)
        }
        if scope.metering, let storage = target.redisStorage {
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
        progress("verifying the copy")
        let fingerprint = try await verify(contents, in: target, scope: scope, exactCounters: !jobsApplied)
        var lines: [String] = []
        if scope.admin { lines.append("admin: \(rowCount) rows into \(target.adminDescription), verified") }
        if scope.metering { lines.append("metering: \(contents.storage.count + contents.queues.count) keys into \(target.meteringDescription), verified") }
        lines += meteringNotes
        let kept = renames.compactMap(\.keptAs)
        if !kept.isEmpty { lines.append("the replaced data is kept as: \(kept.joined(separator: ", ")) (delete it once you no longer need it)") }
        if replace, (scope.admin && target.databaseURL != nil) || (scope.metering && target.redisStorage != nil) {
            lines.append("note: replaced external stores keep no copy of their previous contents; take a backup first if you need one")
        }
        return (lines, fingerprint)
    }

    static func refuseIfInUse(_ target: StoreLocations, scope: Scope = .everything, purpose: String) async throws {
        let admin = scope.admin ? try await target.adminSessionsInUse() : 0
        if admin > 0 {
            throw OperationsError("a running portico serve holds \(admin) connection(s) to \(target.adminDescription); stop it before \(purpose)")
        }
        let metering = scope.metering ? try await target.meteringClientsInUse() : 0
        if metering > 0 {
            throw OperationsError("a running portico serve holds \(metering) connection(s) to \(target.meteringDescription); stop it before \(purpose)")
        }
    }

    static func refuseIfNotEmpty(_ target: StoreLocations, scope: Scope) async throws {
        if scope.admin, target.databaseURL != nil || FileManager.default.fileExists(atPath: target.sqlitePath) {
            let rows = try await target.withAdminStore { store in
                try await store.appliedMigrations().isEmpty ? 0 : try await store.totalRows(RecordTable.all)
            }
            if rows > 0 {
                throw OperationsError("\(target.adminDescription) already holds \(rows) admin rows; use an empty database, or pass --replace to overwrite it")
            }
        }
        let keys = scope.metering ? try await target.meteringKeyCount() : 0
        if keys > 0 {
            throw OperationsError("\(target.meteringDescription) already holds \(keys) metering keys; use empty stores, or pass --replace to overwrite them")
        }
        if scope.files, FileManager.default.fileExists(atPath: target.credentialsPath) {
            throw OperationsError("\(target.credentialsPath) exists; use an empty data directory, or pass --replace to overwrite it")
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

    /// Reads the target back and compares its fingerprint (rows and checksums per table, keys and checksums per
    /// family) with the archive's. `exactCounters` is false when queued reports were applied on the way (their
    /// counters then legitimately differ from the archive, so only the keys' presence is compared).
    static func verify(_ contents: BackupContents, in target: StoreLocations, scope: Scope, exactCounters: Bool) async throws -> StoreFingerprint {
        var found = StoreFingerprint()
        if scope.admin {
            let tables = Array(contents.rows.keys)
            let stored = try await target.withAdminStore { try await $0.snapshotRows(tables) }
            let expected = StoreFingerprint.admin(contents.rows)
            found.tables = StoreFingerprint.admin(stored)
            for name in expected.keys.sorted() where found.tables[name] != expected[name] {
                throw OperationsError("verification failed: the \(name) table of \(target.adminDescription) holds \(found.tables[name]?.count ?? 0) rows that differ from the source's \(expected[name]?.count ?? 0); run it again with --replace")
            }
        }
        guard scope.metering else { return found }
        // Keys that expired since the source was read, and queued jobs the embedded store applied, are not compared.
        let now = ISOTime.milliseconds() + 5_000
        func comparable(_ entries: [MeteringEntry]) -> [MeteringEntry] {
            entries.filter { ($0.expiresAtMilliseconds ?? .max) > now && !isJobList($0.key) }
        }
        let read = try await target.readMetering()
        let expected = comparable(contents.storage + contents.queues)
        let actual = comparable(read.storage + read.queues)
        found.families = StoreFingerprint.metering(actual)
        if exactCounters {
            let wanted = StoreFingerprint.metering(expected)
            if let family = wanted.keys.sorted().first(where: { found.families[$0] != wanted[$0] }) ?? found.families.keys.sorted().first(where: { wanted[$0] == nil }) {
                throw OperationsError("verification failed: the \(family) keys in \(target.meteringDescription) (\(found.families[family]?.description ?? "none")) differ from the source's (\(wanted[family]?.description ?? "none")); run it again with --replace")
            }
        } else {
            let present = Set(actual.map(\.key))
            if let missing = expected.first(where: { !present.contains($0.key) }) {
                throw OperationsError("verification failed: \(missing.key) is missing from \(target.meteringDescription); run it again with --replace")
            }
        }
        return found
    }

    static func isJobList(_ key: String) -> Bool {
        key == RedisJobQueue.queueKey || (key.hasPrefix("portico/worker:") && key.hasSuffix("/processing"))
    }
}
