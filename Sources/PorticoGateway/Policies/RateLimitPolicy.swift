import PorticoCore
import PorticoRedis
import Synchronization

/// `rate_limit` (edge limiting) with per-gateway state: fixed windows (`count` per `window` seconds) and
/// leaky buckets (`rate` per second, `burst` delayed, beyond that rejected), keyed by a plain or Liquid name
/// with service or global scope; a limiter with a `condition` counts only the requests it holds for. With
/// `redis_url` the counts live in that Redis, so every gateway pointed at it shares them (`SharedEdgeLimiter`).
/// Connection limiters (`conn` requests in progress per key, `burst` more delayed by `delay` seconds per
/// `conn` ahead of them, beyond that rejected) hold their slot until the response ended (`ConnectionSlots`).
public struct RateLimitPolicy: Sendable {
    struct Key: Sendable {
        var name: String
        var template: LiquidTemplate?
        var global: Bool
    }
    enum Limiter: Sendable {
        case fixedWindow(key: Key, count: Int64, windowSeconds: Int64)
        case leakyBucket(key: Key, rate: Double, burst: Double)
        /// Requests in progress: up to `conn` pass, `burst` more wait `delaySeconds` for each `conn` ahead of them.
        case connections(key: Key, conn: Int64, burst: Int64, delaySeconds: Double)
    }

    var limiters: [(limiter: Limiter, condition: PolicyCondition)]
    var rejectStatus: Int
    /// `error_handling: log` lets limited requests through (and logs).
    var enforce: Bool
    /// `redis_url`: limits shared by every gateway using this Redis.
    var redisURL: String?
    /// `configuration_error`: the answer when the shared limits cannot be read (Redis unreachable).
    var configurationErrorStatus: Int
    var failOnConfigurationError: Bool

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        if let url = c["redis_url"]?.stringValue, !url.isEmpty {
            do { _ = try RedisEndpoint.parse(url) } catch { throw GatewayConfigurationError("redis_url: \(error.description)") }
            redisURL = url
        } else {
            redisURL = nil
        }
        configurationErrorStatus = Int(c["configuration_error"]?["status_code"]?.stringValue ?? "") ?? 500
        failOnConfigurationError = c["configuration_error"]?["error_handling"]?.stringValue != "log"
        func key(_ l: JSONValue) throws(GatewayConfigurationError) -> Key {
            guard let name = l["key"]?["name"]?.stringValue, !name.isEmpty else { throw GatewayConfigurationError("every limiter needs key.name") }
            let template = l["key"]?["name_type"]?.stringValue == "liquid" ? try LiquidTemplate(name) : nil
            return Key(name: name, template: template, global: l["key"]?["scope"]?.stringValue == "global")
        }
        var limiters: [(Limiter, PolicyCondition)] = []
        // APIcast's order: connection limiters, leaky buckets, fixed windows.
        for l in c["connection_limiters"]?.arrayValue ?? [] {
            guard let conn = Int64(l["conn"]?.stringValue ?? ""), conn > 0 else { throw GatewayConfigurationError("connection_limiters need conn, a positive number") }
            let burst = Int64(l["burst"]?.stringValue ?? "") ?? 0
            let delay = Double(l["delay"]?.stringValue ?? "") ?? 0
            guard burst >= 0, delay >= 0, delay.isFinite else { throw GatewayConfigurationError("connection_limiters need a burst and delay of 0 or more") }
            limiters.append((.connections(key: try key(l), conn: conn, burst: burst, delaySeconds: delay), try PolicyCondition(l["condition"])))
        }
        var windows: [(Limiter, PolicyCondition)] = []
        for l in c["fixed_window_limiters"]?.arrayValue ?? [] {
            guard let count = Int64(l["count"]?.stringValue ?? ""), count >= 0 else { throw GatewayConfigurationError("fixed_window_limiters need a count") }
            windows.append((.fixedWindow(key: try key(l), count: count, windowSeconds: max(1, Int64(l["window"]?.stringValue ?? "") ?? 1)),
                            try PolicyCondition(l["condition"])))
        }
        for l in c["leaky_bucket_limiters"]?.arrayValue ?? [] {
            guard let rate = Double(l["rate"]?.stringValue ?? ""), rate > 0 else { throw GatewayConfigurationError("leaky_bucket_limiters need a rate") }
            limiters.append((.leakyBucket(key: try key(l), rate: rate, burst: max(0, Double(l["burst"]?.stringValue ?? "") ?? 0)),
                             try PolicyCondition(l["condition"])))
        }
        self.limiters = limiters + windows
        rejectStatus = Int(c["limits_exceeded_error"]?["status_code"]?.stringValue ?? "") ?? 429
        enforce = c["limits_exceeded_error"]?["error_handling"]?.stringValue != "log"
    }
}

/// Limiter state of one gateway listener.
public final class EdgeLimiter: Sendable {
    private let windows = Mutex<[String: (start: Int64, count: Int64)]>([:])
    private let buckets = Mutex<[String: (excess: Double, at: Int64)]>([:])
    /// Requests in progress per connection-limiter key (entries leave when they reach 0).
    private let inProgress = Mutex<[String: Int64]>([:])

    public init() {}

    public enum Verdict: Sendable, Equatable {
        case pass
        case delay(milliseconds: Int64)
        case reject
    }

    /// A verdict and the connection-limiter keys the request now holds (to `leave` once its response ended;
    /// none are held after a rejection).
    struct Outcome: Sendable {
        var verdict: Verdict
        var held: [String] = []
    }

    /// Applies every limiter of the policy; the strictest verdict wins.
    func check(_ policy: RateLimitPolicy, serviceID: String, nowMilliseconds now: Int64, lookup: (String) -> String?) -> Outcome {
        var delay: Int64 = 0
        var held: [String] = []
        func rejected() -> Outcome {
            leave(held)
            return Outcome(verdict: .reject)
        }
        for (limiter, condition) in policy.limiters where condition.holds(lookup) {
            switch limiter {
            case .connections(let key, let conn, let burst, let delaySeconds):
                let k = scoped(key, serviceID: serviceID, lookup: lookup) + "/c"
                let count: Int64? = inProgress.withLock { all in
                    let next = (all[k] ?? 0) + 1
                    guard next <= conn + burst else { return nil }
                    all[k] = next
                    return next
                }
                guard let count else { return rejected() }
                held.append(k)
                delay = max(delay, Self.connectionDelay(count: count, conn: conn, delaySeconds: delaySeconds))
            case .fixedWindow(let key, let count, let window):
                let k = scoped(key, serviceID: serviceID, lookup: lookup) + "/w\(window)"
                let start = now / 1000 / window * window
                let used: Int64 = windows.withLock { all in
                    if all.count > 100_000 { all.removeAll(keepingCapacity: true) }
                    var entry = all[k] ?? (start, 0)
                    if entry.start != start { entry = (start, 0) }
                    entry.count += 1
                    all[k] = entry
                    return entry.count
                }
                if used > count { return rejected() }
            case .leakyBucket(let key, let rate, let burst):
                let k = scoped(key, serviceID: serviceID, lookup: lookup) + "/b"
                let excess: Double? = buckets.withLock { all in
                    if all.count > 100_000 { all.removeAll(keepingCapacity: true) }
                    let previous = all[k] ?? (0, now)
                    let elapsed = Double(max(0, now - previous.at)) / 1000
                    let value = max(0, previous.excess - rate * elapsed + 1)
                    guard value <= burst + 1 else { return nil }
                    all[k] = (value, now)
                    return value
                }
                guard let excess else { return rejected() }
                if excess > 1 { delay = max(delay, Int64((excess - 1) / rate * 1000)) }
            }
        }
        return Outcome(verdict: delay > 0 ? .delay(milliseconds: delay) : .pass, held: held)
    }

    /// Requests whose response ended give their connection-limiter slots back.
    func leave(_ keys: [String]) {
        guard !keys.isEmpty else { return }
        inProgress.withLock { all in
            for k in keys {
                let left = (all[k] ?? 1) - 1
                all[k] = left > 0 ? left : nil
            }
        }
    }

    /// Requests in progress for a connection-limiter key (tests and diagnostics).
    func requestsInProgress(_ key: String) -> Int64 { inProgress.withLock { $0[key] ?? 0 } }

    /// resty.limit.conn's wait: a request beyond `conn` waits `delay` for every `conn` requests ahead of it.
    static func connectionDelay(count: Int64, conn: Int64, delaySeconds: Double) -> Int64 {
        guard count > conn else { return 0 }
        return Int64(Double((count - 1) / conn) * delaySeconds * 1000)
    }

    func scoped(_ key: RateLimitPolicy.Key, serviceID: String, lookup: (String) -> String?) -> String {
        Self.scopedName(key, serviceID: serviceID, lookup: lookup)
    }

    static func scopedName(_ key: RateLimitPolicy.Key, serviceID: String, lookup: (String) -> String?) -> String {
        let name = key.template?.render(lookup) ?? key.name
        return key.global ? "global:" + name : "service:\(serviceID):" + name
    }
}
