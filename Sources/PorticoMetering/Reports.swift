import Logging
import PorticoCore
import PorticoMeteringStore

/// A batch accepted by `POST /transactions.xml`, validated and applied later by the worker (all or nothing).
public struct ReportJob: Sendable, Equatable {
    public var serviceID: String
    public var transactions: [ParameterValue]
    public var enqueuedAt: Timestamp
    public var flatUsage: Bool
    public var extensions: [String: String]
    /// Set on jobs that travel through Redis: the job is applied at most once even if it is queued again.
    public var id: String?

    public init(serviceID: String, transactions: [ParameterValue], enqueuedAt: Timestamp, flatUsage: Bool, extensions: [String: String],
                id: String? = nil) {
        self.serviceID = serviceID
        self.transactions = transactions
        self.enqueuedAt = enqueuedAt
        self.flatUsage = flatUsage
        self.extensions = extensions
        self.id = id
    }

    /// The marker that records a job with an id as applied, kept for a day (failed jobs are re-queued within
    /// minutes by the cron).
    static func appliedMarkerKey(_ id: String) -> String { "portico/report_job:\(id)/applied" }
    static let appliedMarkerSeconds: Int64 = 86_400
}

/// Where accepted reports wait for the worker: in process for the embedded store, apisonator's Resque list on
/// Redis.
public protocol ReportQueue: Sendable {
    func enqueue(_ job: ReportJob) async throws
}

/// Validates and applies report jobs (reference/service-management-api.md §2.7, §8.4): one bad transaction
/// voids the whole batch and is recorded as an integration error; transactions without usage are dropped.
public struct ReportProcessor: Sendable {
    let configuration: MeteringConfiguration
    let errors: IntegrationErrorLog
    let clock: @Sendable () -> Timestamp
    let traffic: TrafficEvents?
    let alertsHook: EventsHookPinger?

    public init(configuration: MeteringConfiguration, clock: @escaping @Sendable () -> Timestamp, traffic: TrafficEvents? = nil,
                alertsHook: EventsHookPinger? = nil) {
        self.configuration = configuration
        self.errors = IntegrationErrorLog(storage: configuration.storage, clock: clock)
        self.clock = clock
        self.traffic = traffic
        self.alertsHook = alertsHook
    }

    /// Applies a job. Domain problems are recorded as integration errors and the job completes; storage
    /// failures throw, so the caller can retry the job.
    public func process(_ job: ReportJob) async throws {
        let now = clock()
        do {
            let writes = try await validate(job, now: now)
            guard !writes.isEmpty else { return }
            // Counts, traffic events' reads and a job's applied marker are written in one atomic step, and only if
            // the marker is absent.
            var guards: [CounterGuard] = [], extra: [StorageCommand] = []
            if let id = job.id {
                let marker = ReportJob.appliedMarkerKey(id)
                guards = [CounterGuard(key: marker, maxValue: 0, change: nil)]
                extra = [.setExpiring(marker, "1", seconds: ReportJob.appliedMarkerSeconds)]
            }
            if let traffic {
                guard try await traffic.apply(writes, guards: guards, extra: extra, storage: configuration.storage) else { return }
            } else if guards.isEmpty {
                try await configuration.storage.apply(writes.map { .usage($0) })
            } else {
                guard try await configuration.storage.checkAndApply(guards, writes.map { .usage($0) } + extra).applied else { return }
            }
            let alerts = UtilizationAlerts(configuration: configuration, hook: alertsHook)
            var checked: Set<String> = []
            for write in writes where checked.insert(write.applicationID).inserted {
                _ = try? await alerts.check(serviceID: write.serviceID, applicationID: write.applicationID, now: now)
            }
        } catch let failure as MeteringFailure {
            if let code = failure.code {
                try await errors.record(serviceID: job.serviceID, code: code, message: failure.message, request: nil, extensions: job.extensions)
            }
        }
    }

    func validate(_ job: ReportJob, now: Timestamp) async throws -> [UsageWrite] {
        guard let service = try await configuration.service(id: job.serviceID) else { return [] }
        let hierarchy = try await configuration.metrics(serviceID: service.id)
        var writes: [UsageWrite] = []
        for transaction in job.transactions {
            let appID = transaction["app_id"]?.string?.trimmingWhitespace.nonEmpty
            let userKey = transaction["user_key"]?.string?.trimmingWhitespace.nonEmpty
            if appID != nil, userKey != nil { throw MeteringFailure.authenticationError }
            let resolved: String
            if let userKey {
                guard let id = try await configuration.applicationID(serviceID: service.id, userKey: userKey) else { throw MeteringFailure.userKeyInvalid(userKey) }
                resolved = id
            } else {
                guard let appID, try await configuration.application(serviceID: service.id, id: appID) != nil else {
                    throw MeteringFailure.applicationNotFound(appID)
                }
                resolved = appID
            }
            guard let usageEntries = transaction["usage"]?.entries, !usageEntries.isEmpty else { continue }
            let pairs = usageEntries.map { ($0.0, $0.1.string ?? "") }
            let usage: [String: UsageValue]
            do { usage = try LimitEvaluation.process(pairs, hierarchy: hierarchy, flat: job.flatUsage) } catch { throw MeteringFailure(error) }
            let timestamp = try Self.timestamp(transaction["timestamp"]?.string, now: now)
            let code = transaction["log"]?["code"]?.string.flatMap { Int($0.trimmingWhitespace) }
            let values = hierarchy.metrics.compactMap { m in usage[m.id].map { (metricID: m.id, value: $0) } }
            writes.append(UsageWrite(serviceID: service.id, applicationID: resolved, timestamp: timestamp, values: values, responseCode: code))
        }
        return writes
    }

    /// UNIX seconds or a date with year, month and day (offsets honoured); unparseable or blank means now.
    /// Accepted from 24 hours ago to 1 hour ahead, both inclusive.
    static func timestamp(_ raw: String?, now: Timestamp) throws -> Timestamp {
        guard let raw = raw?.trimmingWhitespace, !raw.isEmpty, let t = LenientTime.parse(raw) else { return now }
        if t.secondsSinceEpoch < now.secondsSinceEpoch - 86_400 {
            throw MeteringFailure(403, "transaction_timestamp_too_old", "reporting transactions older than 86400 seconds is not allowed")
        }
        if t.secondsSinceEpoch > now.secondsSinceEpoch + 3_600 {
            throw MeteringFailure(403, "transaction_timestamp_too_new", "reporting transactions more than 3600 seconds in the future is not allowed")
        }
        return t
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// The in-process report queue of `serve` on the embedded store: jobs are applied by `run()` in arrival order,
/// normally within milliseconds, and drained before a clean stop.
public final class InProcessReportQueue: ReportQueue, Sendable {
    let stream: AsyncStream<ReportJob>
    let continuation: AsyncStream<ReportJob>.Continuation
    let processor: ReportProcessor
    let logger: Logger

    public init(processor: ReportProcessor, logger: Logger) {
        (stream, continuation) = AsyncStream.makeStream(of: ReportJob.self)
        self.processor = processor
        self.logger = logger
    }

    public func enqueue(_ job: ReportJob) async throws {
        continuation.yield(job)
    }

    /// Stops accepting jobs; `run()` returns once the queued ones are applied.
    public func finish() { continuation.finish() }

    public func run() async {
        for await job in stream {
            var attempt = 0
            while true {
                do {
                    try await processor.process(job)
                    break
                } catch {
                    attempt += 1
                    logger.error("metering.report_failed", metadata: ["error": .string("\(error)"), "attempt": .stringConvertible(attempt)])
                    if attempt >= 5 { break }
                    try? await Task.sleep(for: .milliseconds(100 * attempt))
                }
            }
        }
    }
}

/// The report queue on Redis: jobs go to apisonator's Resque list, where any Portico metering process (or an
/// apisonator worker) applies them.
public struct RedisReportQueue: ReportQueue {
    let queue: RedisJobQueue
    let newID: @Sendable () -> String

    public init(queue: RedisJobQueue, newID: @escaping @Sendable () -> String) {
        self.queue = queue
        self.newID = newID
    }

    public func enqueue(_ job: ReportJob) async throws {
        var job = job
        job.id = job.id ?? newID()
        do {
            try await queue.push(ReportJobCodec.encode(job))
        } catch {
            throw MeteringStorageError("cannot queue the report: \(error)")
        }
    }
}

/// Applies jobs from the Redis queue, one at a time. A job whose processing fails on storage goes to Resque's
/// failed list (the cron re-queues it); one that cannot be decoded goes there too, so nothing disappears
/// silently. While Redis is down the loop backs off and, once it is back, first puts back what it held.
public struct RedisReportWorker: Sendable {
    let queue: RedisJobQueue
    let processor: ReportProcessor
    let clock: @Sendable () -> Timestamp
    let logger: Logger

    public init(queue: RedisJobQueue, processor: ReportProcessor, clock: @escaping @Sendable () -> Timestamp, logger: Logger) {
        self.queue = queue
        self.processor = processor
        self.clock = clock
        self.logger = logger
    }

    public func run() async {
        var holdsJobs = true
        var failing = false
        var lastHeartbeat: Int64?
        defer { queue.close() }
        while !Task.isCancelled {
            do {
                let now = clock().secondsSinceEpoch
                if lastHeartbeat.map({ now - $0 >= 10 }) ?? true {
                    try await queue.heartbeat()
                    lastHeartbeat = now
                }
                if holdsJobs {
                    let moved = try await queue.recoverAbandoned(includingOwn: true)
                    if moved > 0 { logger.info("metering.jobs_requeued", metadata: ["count": .stringConvertible(moved)]) }
                    holdsJobs = false
                }
                if failing {
                    logger.info("metering.worker_recovered")
                    failing = false
                }
                guard let payload = try await queue.reserve(timeoutSeconds: 1) else { continue }
                holdsJobs = true
                guard let job = ReportJobCodec.decode(payload) else {
                    try await queue.fail(payload, error: "not a report job Portico can decode", at: clock())
                    holdsJobs = false
                    continue
                }
                do {
                    try await processor.process(job)
                    try await queue.complete(payload)
                } catch {
                    logger.error("metering.report_failed", metadata: ["error": .string("\(error)"), "service_id": .string(job.serviceID)])
                    try await queue.fail(payload, error: "\(error)", at: clock())
                }
                holdsJobs = false
            } catch {
                if !failing { logger.error("metering.worker_unavailable", metadata: ["error": .string("\(error)")]) }
                failing = true
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
