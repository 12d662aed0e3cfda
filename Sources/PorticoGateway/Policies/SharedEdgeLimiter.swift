import Logging
import PorticoRedis
import Synchronization

/// `rate_limit` limits shared through Redis (`redis_url`): fixed windows are a counter per key and window
/// start (`INCR`, expiring with the window), leaky buckets a hash of the excess and its time, connection limiters
/// a counter of requests in progress (given back by `leave`; it expires an hour after the last request entered, so
/// the slots of a gateway that died mid-request do not stay taken forever), each updated by one Lua script per
/// limiter so concurrent gateways never overshoot together. Keys are `portico:rate_limit:{scope}:{name}:…`. One
/// client (two pooled connections) per Redis URL, made on first use.
public final class SharedEdgeLimiter: Sendable {
    private let clients = Mutex<[String: RedisClient]>([:])
    /// Script → its SHA1 as Redis reported it from `SCRIPT LOAD`, so requests send `EVALSHA` rather than the script.
    private let loaded = Mutex<[String: String]>([:])
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    func client(_ url: String) throws -> RedisClient {
        try clients.withLock { all in
            if let existing = all[url] { return existing }
            let made = RedisClient(endpoint: try RedisEndpoint.parse(url), poolSize: 2, clientName: "portico-gateway-limits",
                                   logger: Logger(label: "portico.gateway.rate_limit.redis"))
            all[url] = made
            return made
        }
    }

    /// Closes the Redis connections (gateway shutdown).
    public func close() {
        let all = clients.withLock { all in
            let out = Array(all.values)
            all = [:]
            return out
        }
        for client in all { client.close() }
    }

    static let fixedWindowScript = """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
        return n
        """

    static let leakyBucketScript = """
        local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local stored = redis.call('HMGET', KEYS[1], 'excess', 'at')
        local excess, at = tonumber(stored[1]) or 0, tonumber(stored[2]) or now
        local value = math.max(0, excess - rate * math.max(0, now - at) / 1000 + 1)
        if value > burst + 1 then return '-1' end
        redis.call('HSET', KEYS[1], 'excess', tostring(value), 'at', tostring(now))
        redis.call('PEXPIRE', KEYS[1], math.ceil(value / rate * 1000) + 1000)
        return tostring(value)
        """

    static let connectionsEnterScript = """
        local n = redis.call('INCR', KEYS[1])
        if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return -1 end
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        return n
        """

    static let connectionsLeaveScript = """
        local n = redis.call('DECR', KEYS[1])
        if n <= 0 then redis.call('DEL', KEYS[1]) end
        return n
        """

    /// Seconds a connection-limiter counter outlives the last request that entered.
    static let connectionsExpirySeconds = 3600

    /// Runs a script by its SHA once loaded; the first call (and one after `SCRIPT FLUSH` or a failover, which
    /// answer NOSCRIPT) loads it.
    func run(_ script: String, key: String, _ arguments: [String], on redis: RedisClient) async throws -> RESPValue {
        if let sha = loaded.withLock({ $0[script] }) {
            let reply = try await redis.command(["EVALSHA", sha, "1", key] + arguments)
            if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
                loaded.withLock { $0[script] = nil }
            } else {
                if case .error(let message) = reply { throw RedisError.server(message) }
                return reply
            }
        }
        let sha = try await redis.command(["SCRIPT", "LOAD", script])
        if case .error(let message) = sha { throw RedisError.server(message) }
        guard let digest = sha.string else { throw RedisError.unexpectedReply("SCRIPT LOAD answered \(sha)") }
        loaded.withLock { $0[script] = digest }
        let reply = try await redis.command(["EVALSHA", digest, "1", key] + arguments)
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Applies every limiter whose condition holds, as `EdgeLimiter.check` does, with the counts in Redis. Throws
    /// when Redis cannot answer.
    func check(_ policy: RateLimitPolicy, url: String, serviceID: String, nowMilliseconds now: Int64,
               lookup: (String) -> String?) async throws -> EdgeLimiter.Outcome {
        let redis = try client(url)
        var delay: Int64 = 0
        var held: [String] = []
        do {
            for (limiter, condition) in policy.limiters where condition.holds(lookup) {
                switch limiter {
                case .connections(let key, let conn, let burst, let delaySeconds):
                    let name = "portico:rate_limit:" + EdgeLimiter.scopedName(key, serviceID: serviceID, lookup: lookup) + ":c"
                    let reply = try await run(Self.connectionsEnterScript, key: name, [String(conn + burst), String(Self.connectionsExpirySeconds)], on: redis)
                    guard let count = reply.integer, count > 0 else {
                        leave(held, url: url)
                        return EdgeLimiter.Outcome(verdict: .reject)
                    }
                    held.append(name)
                    delay = max(delay, EdgeLimiter.connectionDelay(count: count, conn: conn, delaySeconds: delaySeconds))
                case .fixedWindow(let key, let count, let window):
                    let start = now / 1000 / window * window
                    let name = "portico:rate_limit:" + EdgeLimiter.scopedName(key, serviceID: serviceID, lookup: lookup) + ":w\(window):\(start)"
                    let reply = try await run(Self.fixedWindowScript, key: name, [String(window)], on: redis)
                    if (reply.integer ?? 0) > count {
                        leave(held, url: url)
                        return EdgeLimiter.Outcome(verdict: .reject)
                    }
                case .leakyBucket(let key, let rate, let burst):
                    let name = "portico:rate_limit:" + EdgeLimiter.scopedName(key, serviceID: serviceID, lookup: lookup) + ":b"
                    let reply = try await run(Self.leakyBucketScript, key: name, [String(now), String(rate), String(burst)], on: redis)
                    guard let excess = reply.string.flatMap({ Double($0) }), excess >= 0 else {
                        leave(held, url: url)
                        return EdgeLimiter.Outcome(verdict: .reject)
                    }
                    if excess > 1 { delay = max(delay, Int64((excess - 1) / rate * 1000)) }
                }
            }
        } catch {
            leave(held, url: url)
            throw error
        }
        return EdgeLimiter.Outcome(verdict: delay > 0 ? .delay(milliseconds: delay) : .pass, held: held)
    }

    /// Gives connection-limiter slots back, off the request path; a Redis that does not answer is logged (the
    /// counter then expires an hour after its last request).
    func leave(_ keys: [String], url: String) {
        guard !keys.isEmpty, let redis = try? client(url) else { return }
        let logger = self.logger
        Task {
            for key in keys {
                do { _ = try await run(Self.connectionsLeaveScript, key: key, [], on: redis) } catch {
                    logger.warning("gateway.rate_limit_leave_failed", metadata: ["error": .string("\(error)")])
                }
            }
        }
    }
}
