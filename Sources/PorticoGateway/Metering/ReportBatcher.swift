import Dispatch
import Logging
import Metrics
import Synchronization

/// The `3scale_batcher` policy's state (reference/gateway.md §4.3): cached authorizations with their TTL,
/// and usage aggregated per product and credential, sent as one `POST /transactions.xml` per product every
/// `batch_report_seconds`. A failed report is put back and retried on the next tick; shutdown flushes all.
public final class ReportBatcher: Sendable {
    struct Batch: Sendable {
        var target: MeteringCall
        var dueAt: Int64
        /// Credential key → (credentials, metric → delta).
        var usage: [String: (Credentials, [String: Int64])]
    }

    let metering: any MeteringClient
    let clock: @Sendable () -> Int64
    let logger: Logger
    private let cacheHits = Counter(label: "batching_policy_auths_cache_hits")
    private let cacheMisses = Counter(label: "batching_policy_auths_cache_misses")
    private let authorizations = Mutex<[String: (MeteringAnswer, expiresAt: Int64)]>([:])
    private let batches = Mutex<[String: Batch]>([:])
    private let stopped = Mutex<Bool>(false)

    init(metering: any MeteringClient, clockMilliseconds: @escaping @Sendable () -> Int64, logger: Logger) {
        self.metering = metering
        self.clock = clockMilliseconds
        self.logger = logger
    }

    func cachedAuthorization(_ key: String, nowMilliseconds: Int64) -> MeteringAnswer? {
        let hit: MeteringAnswer? = authorizations.withLock { dict in
            guard let (answer, expiry) = dict[key] else { return nil }
            if expiry <= nowMilliseconds {
                dict[key] = nil
                return nil
            }
            return answer
        }
        (hit == nil ? cacheMisses : cacheHits).increment()
        return hit
    }

    func cacheAuthorization(_ key: String, _ answer: MeteringAnswer, ttlMilliseconds: Int64, nowMilliseconds: Int64) {
        authorizations.withLock { dict in
            if dict.count >= 100_000 { dict.removeAll(keepingCapacity: true) }
            dict[key] = (answer, nowMilliseconds + ttlMilliseconds)
        }
    }

    func add(product: GatewayProduct, target: MeteringCall, credentials: Credentials, match: RuleMatch, settings: BatcherSettings, nowMilliseconds: Int64) {
        batches.withLock { all in
            var batch = all[product.id] ?? Batch(target: target, dueAt: nowMilliseconds + settings.batchReportSeconds * 1000, usage: [:])
            var entry = batch.usage[credentials.cacheKey] ?? (credentials, [:])
            for u in match.usage { entry.1[u.metric, default: 0] += u.delta }
            batch.usage[credentials.cacheKey] = entry
            all[product.id] = batch
        }
    }

    /// Pending usage per product (for tests and the debug view).
    public var pendingProducts: [String] { batches.withLock { Array($0.keys) } }

    /// Sends every batch that is due (all of them when `everything`).
    public func flush(everything: Bool = false) async {
        let now = clock()
        let due: [(String, Batch)] = batches.withLock { all in
            let ready = all.filter { everything || $0.value.dueAt <= now }
            for (id, _) in ready { all[id] = nil }
            return Array(ready)
        }
        for (productID, batch) in due {
            var call = batch.target
            call.query = call.query.filter { $0.0 == "service_token" || $0.0 == "provider_key" || $0.0 == "service_id" }
            var form: [(String, String)] = []
            for (index, (credentials, usage)) in batch.usage.values.enumerated() {
                for (name, value) in credentials.meteringParameters { form.append(("transactions[\(index)][\(name)]", value)) }
                for (metric, delta) in usage.sorted(by: { $0.key < $1.key }) { form.append(("transactions[\(index)][usage][\(metric)]", String(delta))) }
            }
            call.form = form
            let answer = await metering.send(call)
            BackendCallCounters.shared.increment(endpoint: "report", status: answer.statusClass)
            if answer.status != 200 && answer.status != 202 {
                logger.warning("gateway.batch_report_failed", metadata: ["service.id": .string(productID), "status": .stringConvertible(answer.status)])
                // Put the usage back so the next tick retries it; merge with anything added meanwhile.
                batches.withLock { all in
                    var merged = all[productID] ?? Batch(target: batch.target, dueAt: now + 1000, usage: [:])
                    for (key, (creds, usage)) in batch.usage {
                        var entry = merged.usage[key] ?? (creds, [:])
                        for (m, d) in usage { entry.1[m, default: 0] += d }
                        merged.usage[key] = entry
                    }
                    all[productID] = merged
                }
                if everything { return }
            }
        }
    }

    /// Ticks every 250 ms until `stop()`, then flushes what is left.
    public func run() async {
        while !stopped.withLock({ $0 }) {
            await Self.pause(milliseconds: 250)
            await flush()
        }
        await flush(everything: true)
    }

    /// A sleep cancellation does not cut short. The batcher's task is cancelled with the rest of the server when
    /// a shutdown begins, yet it must keep ticking until the listeners have drained and `stop()` is called;
    /// `Task.sleep` would throw at once and turn this loop into a busy one.
    static func pause(milliseconds: Int) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { done.resume() }
        }
    }

    public func stop() { stopped.withLock { $0 = true } }
}
