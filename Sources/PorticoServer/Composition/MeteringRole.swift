import Foundation
import Logging
import NIOCore
import PorticoAdmin
import PorticoCore
import PorticoGateway
import PorticoMetering
import PorticoMeteringStore
import PorticoRedis
import ServiceLifecycle

/// What the metering role runs on: the Service Management API over a configuration layer, plus background
/// duties (report worker, cron, persistence) that `run()` performs until `stop()`.
protocol MeteringRuntime: Sendable {
    var configuration: MeteringConfiguration { get }
    var api: ServiceManagementAPI { get }
    /// Runs the background duties; returns after `stop()` once queued work is applied and state is saved.
    func run() async
    func stop()
}

extension MeteringRuntime {
    static func cronIntervals(_ c: PorticoConfiguration) -> (Duration, Duration) {
        (.seconds(c.rescheduleJobsSeconds), .seconds(c.deleteStatsSeconds))
    }
}

/// What counted calls cause besides counts: first_traffic events, porta's events-hook ping
/// (`CONFIG_EVENTS_HOOK`) and master-account usage (`CONFIG_MASTER_SERVICE_ID`), shared by the API and the worker.
struct MeteringNotifications {
    let hook: EventsHookPinger?
    let traffic: TrafficEvents
    let master: MasterUsage?

    init(_ c: PorticoConfiguration, configuration: MeteringConfiguration) {
        let logger = Logger(label: "portico.metering.events")
        hook = c.eventsHookURL.map {
            EventsHookPinger(storage: configuration.storage, hook: HTTPEventsHook(url: $0, secret: c.eventsHookSecret ?? ""), logger: logger)
        }
        let traffic = TrafficEvents(storage: configuration.storage, hook: hook)
        self.traffic = traffic
        master = c.masterUsage.map {
            MasterUsage(settings: $0, configuration: configuration, traffic: traffic, logger: Logger(label: "portico.metering.master_usage"))
        }
    }

    func processor(_ configuration: MeteringConfiguration, clock: @escaping @Sendable () -> Timestamp) -> ReportProcessor {
        ReportProcessor(configuration: configuration, clock: clock, traffic: traffic, alertsHook: hook)
    }

    func api(_ configuration: MeteringConfiguration, reports: any ReportQueue, c: PorticoConfiguration,
             clock: @escaping @Sendable () -> Timestamp) -> ServiceManagementAPI {
        ServiceManagementAPI(configuration: configuration, reports: reports, internalCredentials: c.internalAPICredentials, clock: clock,
                             logger: Logger(label: "portico.metering"), traffic: traffic, master: master, eventsHook: hook)
    }
}

/// The metering role on the embedded store: storage recovered from `<data-dir>/metering`, the configuration
/// layer, the in-process report worker and the Service Management API.
final class EmbeddedMetering: MeteringRuntime {
    let storage: EmbeddedMeteringStorage
    let persistence: EmbeddedPersistence
    let configuration: MeteringConfiguration
    let reports: InProcessReportQueue
    let api: ServiceManagementAPI
    let cron: MeteringCron
    let master: MasterUsage?
    let logger: Logger

    static func milliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    init(configuration c: PorticoConfiguration, logger: Logger) throws {
        self.logger = logger
        storage = EmbeddedMeteringStorage(clockMilliseconds: { EmbeddedMetering.milliseconds() })
        try DataDirectory.prepare(c.dataDirectory)
        persistence = EmbeddedPersistence(directory: c.dataDirectory + "/metering", storage: storage)
        let report = try persistence.recover()
        logger.info("metering.recovered", metadata: [
            "records": .stringConvertible(report.records), "discarded_tail_bytes": .stringConvertible(report.discardedTailBytes),
        ])
        configuration = MeteringConfiguration(storage: storage, cacheTTLMilliseconds: nil, clockMilliseconds: { EmbeddedMetering.milliseconds() })
        let clock: @Sendable () -> Timestamp = { PlatformServer.now() }
        let notifications = MeteringNotifications(c, configuration: configuration)
        master = notifications.master
        reports = InProcessReportQueue(processor: notifications.processor(configuration, clock: clock), logger: Logger(label: "portico.metering.worker"))
        api = notifications.api(configuration, reports: reports, c: c, clock: clock)
        let (reschedule, deleteStats) = Self.cronIntervals(c)
        cron = MeteringCron(storage: storage, queue: nil, rescheduleInterval: reschedule, deleteStatsInterval: deleteStats,
                            logger: Logger(label: "portico.metering.cron"))
    }

    func run() async {
        let persistence = self.persistence
        let logger = self.logger
        let flusher = Task {
            var failing = false
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                do {
                    try persistence.flush()
                    if failing { logger.info("metering.persistence_recovered") }
                    failing = false
                } catch {
                    // Counts stay in memory and are retried every second; say so once per outage.
                    if !failing { logger.error("metering.persistence_failed", metadata: ["error": .string("\(error)")]) }
                    failing = true
                }
            }
        }
        let cron = Task { await self.cron.run() }
        let master = Task { await self.master?.run() }
        await reports.run()
        cron.cancel()
        master.cancel()
        await master.value
        flusher.cancel()
        await flusher.value
        do {
            try persistence.flush()
            try persistence.compact()
        } catch {
            logger.error("metering.final_snapshot_failed", metadata: ["error": .string(error.description)])
        }
    }

    func stop() { reports.finish() }
}

/// The metering role on Redis (`REDIS_STORAGE_URL`, `REDIS_QUEUES_URL`): apisonator's key layout and Resque
/// queue, so any number of metering processes (and an existing 3scale backend) share counters and jobs.
final class RedisMetering: MeteringRuntime {
    let storageClient: RedisClient
    let queuesClient: RedisClient
    let configuration: MeteringConfiguration
    let queue: RedisJobQueue
    let api: ServiceManagementAPI
    let worker: RedisReportWorker
    let cron: MeteringCron
    let master: MasterUsage?
    let logger: Logger
    private let stopped: AsyncStream<Void>
    private let stopper: AsyncStream<Void>.Continuation

    /// Configuration written by other processes (another metering replica's internal API) is seen within this.
    static let sharedCacheTTLMilliseconds: Int64 = 1000

    init(configuration c: PorticoConfiguration, storage: RedisEndpoint, queues: RedisEndpoint, logger: Logger) {
        self.logger = logger
        storageClient = RedisClient(endpoint: storage, poolSize: 2, clientName: "portico-serve", logger: Logger(label: "portico.redis.storage"))
        queuesClient = storage == queues ? storageClient : RedisClient(endpoint: queues, poolSize: 1, clientName: "portico-serve", logger: Logger(label: "portico.redis.queues"))
        let meteringStorage = RedisMeteringStorage(client: storageClient)
        configuration = MeteringConfiguration(storage: meteringStorage, cacheTTLMilliseconds: Self.sharedCacheTTLMilliseconds,
                                              clockMilliseconds: { EmbeddedMetering.milliseconds() })
        queue = RedisJobQueue(client: queuesClient, workerID: UUID().uuidString.lowercased())
        let clock: @Sendable () -> Timestamp = { PlatformServer.now() }
        let reports = RedisReportQueue(queue: queue, newID: { UUID().uuidString.lowercased() })
        let notifications = MeteringNotifications(c, configuration: configuration)
        master = notifications.master
        api = notifications.api(configuration, reports: reports, c: c, clock: clock)
        worker = RedisReportWorker(queue: queue, processor: notifications.processor(configuration, clock: clock), clock: clock,
                                   logger: Logger(label: "portico.metering.worker"))
        let (reschedule, deleteStats) = Self.cronIntervals(c)
        cron = MeteringCron(storage: meteringStorage, queue: queue, rescheduleInterval: reschedule, deleteStatsInterval: deleteStats,
                            logger: Logger(label: "portico.metering.cron"))
        (stopped, stopper) = AsyncStream.makeStream(of: Void.self)
    }

    /// Refuses a Redis older than 6.2 (BLMOVE, LMOVE); an unreachable one is only logged, since calls fail with
    /// 503 and recover by themselves once it is back.
    func checkVersion() async throws {
        for (name, client) in [("REDIS_STORAGE_URL", storageClient), ("REDIS_QUEUES_URL", queuesClient)] {
            let info: RESPValue
            do { info = try await client.command(["INFO", "server"]) } catch {
                logger.error("metering.redis_unreachable_at_start", metadata: ["setting": .string(name), "error": .string("\(error)")])
                continue
            }
            guard let version = RedisServerRequirements.version(fromInfo: info.string ?? "") else { continue }
            if let message = RedisServerRequirements.unsupportedMessage(version: version, setting: name, endpoint: client.endpoint) {
                throw ServerError(message)
            }
        }
    }

    func run() async {
        let worker = Task { await self.worker.run() }
        let cron = Task { await self.cron.run() }
        let master = Task { await self.master?.run() }
        for await _ in stopped { break }
        worker.cancel()
        cron.cancel()
        master.cancel()
        await worker.value
        await master.value
        storageClient.close()
        queuesClient.close()
    }

    func stop() { stopper.finish() }
}

/// Serves the Service Management API and the internal API on the metering port while the runtime's
/// background duties run; on a clean stop, lets them finish their work.
struct MeteringRoleService: Service {
    let configuration: PorticoConfiguration
    let metering: any MeteringRuntime
    let readiness: ReadinessState
    let logger: Logger

    func run() async throws {
        let metering = self.metering
        let background = Task { await metering.run() }
        let readiness = self.readiness
        let api = metering.api
        let listener = HTTPListener(host: configuration.bindAddress, port: configuration.meteringPort, codec: .requestDecoder)
        defer { readiness.markStopped("metering") }
        do {
            try await withGracefulShutdownHandler {
                try await listener.run(makeHandler: { _, executor, connections, _ in
                    [MeteringConnectionHandler(api: api, executor: executor, connections: connections)]
                }, onServing: { readiness.markServing("metering") })
            } onGracefulShutdown: {
                listener.beginShutdown()
            }
        } catch {
            metering.stop()
            await background.value
            throw error
        }
        metering.stop()
        await background.value
    }
}

/// `MeteringSync` in process: admin's changes are written to metering's configuration directly.
struct InProcessMeteringSync: MeteringSync {
    let configuration: MeteringConfiguration

    func saveService(_ s: MeteringSyncService) async throws {
        try await configuration.saveService(MeteredService(id: s.id, providerKey: s.providerKey, backendVersion: s.backendVersion,
                                                           referrerFiltersRequired: s.referrerFiltersRequired, state: s.active ? "active" : "suspended"),
                                            makeDefault: nil)
    }
    func deleteService(id: String) async throws { _ = try await configuration.deleteService(id: id, reassignDefault: true) }
    func changeProviderKey(from old: String, to new: String) async throws { _ = try await configuration.changeProviderKey(from: old, to: new) }
    func saveServiceToken(_ token: String, serviceID: String) async throws { try await configuration.saveServiceToken(token, serviceID: serviceID) }
    func deleteServiceToken(_ token: String, serviceID: String) async throws { _ = try await configuration.deleteServiceToken(token, serviceID: serviceID) }
    func saveApplication(_ a: MeteringSyncApplication) async throws {
        try await configuration.saveApplication(MeteredApplication(serviceID: a.serviceID, id: a.id, state: a.state, planID: a.planID,
                                                                   planName: a.planName, redirectURL: a.redirectURL))
    }
    func deleteApplication(serviceID: String, id: String) async throws { _ = try await configuration.deleteApplication(serviceID: serviceID, id: id) }
    func setUserKey(serviceID: String, userKey: String, applicationID: String) async throws {
        try await configuration.setUserKey(serviceID: serviceID, userKey: userKey, applicationID: applicationID)
    }
    func deleteUserKey(serviceID: String, userKey: String) async throws { try await configuration.deleteUserKey(serviceID: serviceID, userKey: userKey) }
    func replaceApplicationKeys(serviceID: String, applicationID: String, keys: [String]) async throws {
        try await configuration.replaceApplicationKeys(serviceID: serviceID, applicationID: applicationID, keys)
    }
    func replaceReferrerFilters(serviceID: String, applicationID: String, filters: [String]) async throws {
        try await configuration.replaceReferrerFilters(serviceID: serviceID, applicationID: applicationID, filters)
    }
    func saveMetric(serviceID: String, id: String, name: String, parentID: String?) async throws {
        try await configuration.saveMetric(serviceID: serviceID, MeteredMetric(id: id, name: name, parentID: parentID))
    }
    func deleteMetric(serviceID: String, id: String) async throws { _ = try await configuration.deleteMetric(serviceID: serviceID, id: id) }
    func saveUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod, value: Int64) async throws {
        try await configuration.saveUsageLimit(serviceID: serviceID, planID: planID, metricID: metricID, period: period, value: value)
    }
    func deleteUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod) async throws {
        try await configuration.deleteUsageLimit(serviceID: serviceID, planID: planID, metricID: metricID, period: period)
    }
}
