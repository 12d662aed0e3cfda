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

    public init(serviceID: String, transactions: [ParameterValue], enqueuedAt: Timestamp, flatUsage: Bool, extensions: [String: String]) {
        self.serviceID = serviceID
        self.transactions = transactions
        self.enqueuedAt = enqueuedAt
        self.flatUsage = flatUsage
        self.extensions = extensions
    }
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

    public init(configuration: MeteringConfiguration, clock: @escaping @Sendable () -> Timestamp) {
        self.configuration = configuration
        self.errors = IntegrationErrorLog(storage: configuration.storage, clock: clock)
        self.clock = clock
    }

    /// Applies a job. Domain problems are recorded as integration errors and the job completes; storage
    /// failures throw, so the caller can retry the job.
    public func process(_ job: ReportJob) async throws {
        let now = clock()
        do {
            let writes = try await validate(job, now: now)
            guard !writes.isEmpty else { return }
            try await configuration.storage.apply(writes.map { .usage($0) })
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
