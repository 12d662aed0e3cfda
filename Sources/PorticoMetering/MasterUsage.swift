import Logging
import PorticoCore
import PorticoMeteringStore
import Synchronization

/// Master-account usage, 3scale's "backend hits" (reference/service-management-api.md §8.5): with
/// `CONFIG_MASTER_SERVICE_ID` set, every Service Management call is also counted on the master service, on the
/// application whose user_key is the caller's provider key: `transactions/authorize` per authorize or authrep,
/// `transactions` per counted authrep and per reported transaction.
///
/// apisonator buffers these notifications in Redis and applies them once 10,000 have gathered, so a quiet
/// installation sees its master usage hours late; Portico sums them in process per provider key and minute and
/// applies them every `flushInterval` (1 s). A crash loses at most that last interval of master usage (never
/// the providers' own counts). Unknown provider keys are ignored, as apisonator's NotifyJob ignores them; master
/// metrics that do not exist are logged and the notification is dropped, as there.
public final class MasterUsage: Sendable {
    public struct Settings: Sendable, Equatable {
        public var serviceID: String
        /// `CONFIG_MASTER_METRICS_TRANSACTIONS`
        public var transactionsMetric: String
        /// `CONFIG_MASTER_METRICS_TRANSACTIONS_AUTHORIZE`
        public var authorizeMetric: String

        public init(serviceID: String, transactionsMetric: String = "transactions", authorizeMetric: String = "transactions/authorize") {
            self.serviceID = serviceID
            self.transactionsMetric = transactionsMetric
            self.authorizeMetric = authorizeMetric
        }
    }

    struct Bucket: Hashable {
        var providerKey: String
        /// Start of the minute, seconds since the epoch.
        var minute: Int64
    }

    struct Counts: Equatable {
        var authorizations: Int64 = 0
        var transactions: Int64 = 0

        mutating func add(_ authorizations: Int64, _ transactions: Int64) {
            self.authorizations += authorizations
            self.transactions += transactions
        }
    }

    public let settings: Settings
    let configuration: MeteringConfiguration
    let traffic: TrafficEvents?
    let logger: Logger
    private let pending = Mutex<[Bucket: Counts]>([:])

    public init(settings: Settings, configuration: MeteringConfiguration, traffic: TrafficEvents?, logger: Logger) {
        self.settings = settings
        self.configuration = configuration
        self.traffic = traffic
        self.logger = logger
    }

    /// Adds to the pending counts; cheap enough for every call (one lock, one dictionary update).
    public func note(providerKey: String, authorizations: Int64, transactions: Int64, at t: Timestamp) {
        guard authorizations > 0 || transactions > 0 else { return }
        let minute = t.secondsSinceEpoch - ((t.secondsSinceEpoch % 60) + 60) % 60
        pending.withLock { $0[Bucket(providerKey: providerKey, minute: minute), default: Counts()].add(authorizations, transactions) }
    }

    /// Applies everything pending. A bucket whose write fails (storage unavailable) is put back for the next flush.
    public func flush() async {
        let taken = pending.withLock { buckets in
            let out = buckets
            buckets = [:]
            return out
        }
        for (bucket, counts) in taken {
            do {
                try await apply(bucket, counts)
            } catch let error as UsageError {
                logger.warning("metering.master_usage.metric_missing", metadata: [
                    "service_id": .string(settings.serviceID), "error": .string("\(error)"),
                ])
            } catch {
                logger.warning("metering.master_usage.deferred", metadata: ["error": .string("\(error)")])
                pending.withLock { $0[bucket, default: Counts()].add(counts.authorizations, counts.transactions) }
            }
        }
    }

    func apply(_ bucket: Bucket, _ counts: Counts) async throws {
        let sid = settings.serviceID
        guard let appID = try await configuration.applicationID(serviceID: sid, userKey: bucket.providerKey) else { return }
        let hierarchy = try await configuration.metrics(serviceID: sid)
        var pairs: [(name: String, value: String)] = []
        if counts.authorizations > 0 { pairs.append((settings.authorizeMetric, String(counts.authorizations))) }
        if counts.transactions > 0 { pairs.append((settings.transactionsMetric, String(counts.transactions))) }
        let usage = try LimitEvaluation.process(pairs, hierarchy: hierarchy, flat: false)
        let values = hierarchy.metrics.compactMap { m in usage[m.id].map { (metricID: m.id, value: $0) } }
        let write = UsageWrite(serviceID: sid, applicationID: appID, timestamp: Timestamp(secondsSinceEpoch: bucket.minute), values: values, responseCode: nil)
        if let traffic {
            _ = try await traffic.apply([write], guards: [], extra: [], storage: configuration.storage)
        } else {
            try await configuration.storage.apply([.usage(write)])
        }
    }

    public static let flushInterval: Duration = .seconds(1)

    /// Flushes every second until cancelled, then once more.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.flushInterval)
            await flush()
        }
        await flush()
    }
}
