import Logging
import PorticoCore
import PorticoMeteringStore

/// apisonator's cron duties: every `rescheduleInterval` (its `RESCHEDULE_JOBS_FREQ`, 300 s) failed report jobs
/// go back to the queue and jobs held by dead workers are recovered; every `deleteStatsInterval`
/// (`DELETE_STATS_FREQ`, 86400 s) the statistics of services marked for deletion are removed.
public struct MeteringCron: Sendable {
    let storage: any MeteringStorage
    let queue: RedisJobQueue?
    let rescheduleInterval: Duration
    let deleteStatsInterval: Duration
    let logger: Logger
    static let rescheduleLimit = 20_000

    public init(storage: any MeteringStorage, queue: RedisJobQueue?, rescheduleInterval: Duration, deleteStatsInterval: Duration, logger: Logger) {
        self.storage = storage
        self.queue = queue
        self.rescheduleInterval = rescheduleInterval
        self.deleteStatsInterval = deleteStatsInterval
        self.logger = logger
    }

    public func run() async {
        let clock = ContinuousClock()
        var nextReschedule = clock.now + rescheduleInterval
        var nextDeletion = clock.now
        while !Task.isCancelled {
            let now = clock.now
            if queue != nil, now >= nextReschedule {
                nextReschedule = now + rescheduleInterval
                await logFailure("reschedule_failed_jobs") { try await rescheduleJobs() }
            }
            if now >= nextDeletion {
                nextDeletion = now + deleteStatsInterval
                await logFailure("delete_stats") { _ = try await deleteMarkedStats() }
            }
            let wake = queue == nil ? nextDeletion : min(nextReschedule, nextDeletion)
            try? await Task.sleep(until: wake, clock: clock)
        }
    }

    public func rescheduleJobs() async throws {
        guard let queue else { return }
        let outcome = try await queue.rescheduleFailed(limit: Self.rescheduleLimit)
        let recovered = try await queue.recoverAbandoned(includingOwn: false)
        if outcome.requeued + outcome.dropped + recovered > 0 {
            logger.info("metering.cron.rescheduled", metadata: [
                "requeued": .stringConvertible(outcome.requeued), "dropped": .stringConvertible(outcome.dropped),
                "recovered_from_dead_workers": .stringConvertible(recovered),
            ])
        }
    }

    /// Deletes every statistics key of each marked service, then unmarks it. Returns the number of keys deleted.
    public func deleteMarkedStats() async throws -> Int {
        var deleted = 0
        for sid in try await storage.members(ApisonatorKeys.servicesMarkedForStatsDeletion) {
            let keys = try await storage.keys(prefix: ApisonatorKeys.serviceStatsPrefix(sid))
            var index = 0
            while index < keys.count {
                let batch = keys[index..<min(index + 500, keys.count)]
                try await storage.apply(batch.map { .delete($0) })
                index += batch.count
            }
            try await storage.apply([.setRemove(ApisonatorKeys.servicesMarkedForStatsDeletion, [sid])])
            deleted += keys.count
            logger.info("metering.cron.stats_deleted", metadata: ["service_id": .string(sid), "keys": .stringConvertible(keys.count)])
        }
        return deleted
    }

    private func logFailure(_ task: String, _ body: () async throws -> Void) async {
        do { try await body() } catch {
            logger.error("metering.cron.failed", metadata: ["task": .string(task), "error": .string("\(error)")])
        }
    }
}
