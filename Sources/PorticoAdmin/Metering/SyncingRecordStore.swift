import Logging
import PorticoCore
import PorticoStore
import Synchronization

/// Wraps the admin store so every committed write to a table metering cares about is pushed to metering
/// before the call that made it returns — whichever route made it. Writes inside a transaction are pushed
/// after the commit, so a rolled-back change never reaches metering.
///
/// A failed push does not undo the admin write (the database is the source of truth): the change is kept in a
/// backlog, in order, and every later change waits behind it, so metering never applies them out of order (a
/// deletion overtaken by an older save would bring a deleted application back). `retryBacklog` pushes the
/// backlog once metering answers again; `serve` calls it every few seconds. With a backlog file the backlog
/// survives a restart of admin (`SyncBacklogFile`).
public struct SyncingRecordStore: RecordStore {
    let base: any RecordStore
    let publisher: MeteringPublisher
    let logger: Logger
    /// Set inside a transaction: changes wait here until the commit.
    let pending: PendingChanges?
    let backlog: Backlog

    /// `backlogPath`: where waiting changes are kept across restarts; nil keeps them in memory only.
    public init(base: any RecordStore, sync: any MeteringSync, masterAccountID: Int64, logger: Logger, backlogPath: String? = nil) {
        self.base = base
        self.publisher = MeteringPublisher(store: base, sync: sync, masterAccountID: masterAccountID)
        self.logger = logger
        self.pending = nil
        self.backlog = Backlog(file: backlogPath.map(SyncBacklogFile.init(path:)))
        if let file = backlog.file {
            do {
                let saved = try file.load()
                backlog.changes.withLock { $0 = saved.changes }
                if !saved.changes.isEmpty || saved.unreadable > 0 {
                    logger.notice("admin.metering_sync_backlog_loaded", metadata: [
                        "changes": .stringConvertible(saved.changes.count), "unreadable_lines": .stringConvertible(saved.unreadable), "file": .string(file.path),
                    ])
                }
            } catch {
                logger.error("admin.metering_sync_backlog_unreadable", metadata: ["file": .string(file.path), "error": .string("\(error)")])
            }
        }
    }

    private init(base: any RecordStore, publisher: MeteringPublisher, logger: Logger, pending: PendingChanges, backlog: Backlog) {
        self.base = base
        self.publisher = publisher
        self.logger = logger
        self.pending = pending
        self.backlog = backlog
    }

    /// Pushes the whole configuration (start-up).
    public func publishAll() async throws { try await publisher.publishAll() }

    final class PendingChanges: Sendable {
        let changes = Mutex<[RecordChange]>([])
    }

    /// Changes metering has not received yet, oldest first.
    final class Backlog: Sendable {
        let changes = Mutex<[RecordChange]>([])
        let file: SyncBacklogFile?
        init(file: SyncBacklogFile? = nil) { self.file = file }
        /// Beyond this many waiting changes new ones are dropped (and logged): the next start of admin republishes
        /// everything, but deletions made meanwhile would not reach metering.
        static let limit = 100_000
    }

    /// How many changes wait for metering.
    public var backlogCount: Int { backlog.changes.withLock { $0.count } }

    /// Pushes waiting changes in order until one fails; returns how many still wait.
    public func retryBacklog() async -> Int {
        var pushed = 0
        defer { if pushed > 0 { saveBacklog() } }
        while let next = backlog.changes.withLock({ $0.first }) {
            do {
                try await publisher.publish(next)
            } catch {
                return backlogCount
            }
            backlog.changes.withLock { _ = $0.removeFirst() }
            pushed += 1
        }
        logger.info("admin.metering_sync_caught_up")
        return 0
    }

    /// Rewrites the backlog file with what still waits (under the backlog's lock, so no append interleaves).
    private func saveBacklog() {
        guard let file = backlog.file else { return }
        let failure: (any Error)? = backlog.changes.withLock { waiting in
            do { try file.rewrite(waiting) } catch { return error }
            return nil
        }
        if let failure { logger.error("admin.metering_sync_backlog_not_saved", metadata: ["file": .string(file.path), "error": .string("\(failure)")]) }
    }

    private func record(_ change: RecordChange) async {
        if let pending {
            pending.changes.withLock { $0.append(change) }
            return
        }
        await push([change])
    }

    private func push(_ changes: [RecordChange]) async {
        guard !changes.isEmpty else { return }
        if backlogCount > 0 {
            enqueue(changes[...])
            return
        }
        for (index, change) in changes.enumerated() {
            do {
                try await publisher.publish(change)
            } catch {
                logger.error("admin.metering_sync_failed", metadata: [
                    "table": .string(change.table.name), "error": .string("\(error)"),
                    "hint": "kept with every later change until metering answers again; they are pushed then, in order",
                ])
                enqueue(changes[index...])
                return
            }
        }
    }

    private func enqueue(_ changes: ArraySlice<RecordChange>) {
        let file = backlog.file
        let (dropped, failure) = backlog.changes.withLock { waiting -> (Int, (any Error)?) in
            let room = max(0, Backlog.limit - waiting.count)
            let kept = changes.prefix(room)
            waiting.append(contentsOf: kept)
            var failure: (any Error)?
            do { try file?.append(kept) } catch { failure = error }
            return (max(0, changes.count - room), failure)
        }
        if let failure, let file {
            logger.error("admin.metering_sync_backlog_not_saved", metadata: [
                "file": .string(file.path), "error": .string("\(failure)"),
                "hint": "the changes wait in memory; a restart of admin before metering answers would lose the deletions among them",
            ])
        }
        if dropped > 0 {
            logger.error("admin.metering_sync_backlog_full", metadata: [
                "dropped": .stringConvertible(dropped),
                "hint": "restart admin once metering answers: it republishes the whole configuration (deletions made meanwhile are not)",
            ])
        }
    }

    public func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
        let id = try await base.insert(table, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
        if MeteringPublisher.tables.contains(table) {
            await record(RecordChange(table: table, tenantID: tenantID, old: nil,
                                      new: RawRecord(id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)))
        }
        return id
    }

    public func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
        guard MeteringPublisher.tables.contains(table) else {
            return try await base.update(table, id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
        }
        let old = try await base.fetch(table, tenantID: tenantID, ids: [id]).first
        let found = try await base.update(table, id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
        if found {
            await record(RecordChange(table: table, tenantID: tenantID, old: old,
                                      new: RawRecord(id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)))
        }
        return found
    }

    public func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
        guard MeteringPublisher.tables.contains(table) else { return try await base.delete(table, tenantID: tenantID, id: id) }
        let old = try await base.fetch(table, tenantID: tenantID, ids: [id]).first
        let deleted = try await base.delete(table, tenantID: tenantID, id: id)
        if deleted, let old { await record(RecordChange(table: table, tenantID: tenantID, old: old, new: nil)) }
        return deleted
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
        try await base.fetch(table, tenantID: tenantID, ids: ids)
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
        try await base.fetch(table, tenantID: tenantID, filter: filter, page: page)
    }

    public func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
        try await base.count(table, tenantID: tenantID, filter: filter)
    }

    public func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
        try await base.fetchAcrossTenants(table, lookupKey: lookupKey)
    }

    public func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
        // Inside a transaction of ours, the outermost commit publishes; otherwise collect for this one.
        let collected = pending ?? PendingChanges()
        let sync = publisher.sync
        let masterAccountID = publisher.masterAccountID
        let logger = self.logger
        let backlog = self.backlog
        let value = try await base.withTransaction { tx in
            try await body(SyncingRecordStore(base: tx, publisher: MeteringPublisher(store: tx, sync: sync, masterAccountID: masterAccountID),
                                              logger: logger, pending: collected, backlog: backlog))
        }
        if pending == nil { await push(collected.changes.withLock { $0 }) }
        return value
    }
}
