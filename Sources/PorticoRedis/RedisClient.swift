import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A pool of pipelined connections to one Redis store, direct or found through Sentinel.
///
/// Connections are opened on first use and reopened after they break. While the store is unreachable, calls
/// fail at once with `.unavailable` (nothing sent) and a new connection is tried after a backoff that doubles
/// from 50 ms to 2 s, so service resumes by itself within two seconds of the store coming back without
/// every request paying a connect timeout meanwhile. After a Sentinel failover the old master answers writes
/// with `READONLY`; that connection is dropped and the next one asks the sentinels again.
public final class RedisClient: Sendable {
    public let endpoint: RedisEndpoint
    let group: any EventLoopGroup
    let poolSize: Int
    let connectTimeout: TimeAmount
    let commandTimeout: TimeAmount
    let logger: Logger
    /// Set on every connection (`CLIENT SETNAME`), so `CLIENT LIST` shows which Portico process holds it.
    let clientName: String?
    private let state: Mutex<PoolState>

    static let firstBackoff: TimeAmount = .milliseconds(50)
    static let maximumBackoff: TimeAmount = .seconds(2)

    private enum Slot {
        case empty
        case connecting(Task<RedisConnection, any Error>)
        case ready(RedisConnection)
    }

    private struct PoolState {
        var slots: [Slot]
        var next = 0
        /// Set while the store is unreachable: no new connection is tried before `retryAt`.
        var outage: (retryAt: NIODeadline, backoff: TimeAmount, reason: String)?
        var closed = false
    }

    public init(endpoint: RedisEndpoint, poolSize: Int = 2, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                connectTimeout: TimeAmount = .seconds(2), commandTimeout: TimeAmount = .seconds(5),
                clientName: String? = nil, logger: Logger = Logger(label: "portico.redis")) {
        self.clientName = clientName
        self.endpoint = endpoint
        self.group = eventLoopGroup
        self.poolSize = max(1, poolSize)
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.logger = logger
        state = Mutex(PoolState(slots: Array(repeating: .empty, count: max(1, poolSize))))
        // Built once: loading the CA and key for every new connection would be wasted work.
        tlsContext = endpoint.tls.map { tls in Result { () throws(RedisConfigurationError) in try tls.makeContext() } }
    }

    /// The TLS context for `rediss://`; a failure (unusable PEM) is reported by every connection attempt.
    private let tlsContext: Result<NIOSSLContext, RedisConfigurationError>?

    /// Sends the commands pipelined on one pooled connection; replies in order, error replies as values.
    public func send(_ commands: [[String]]) async throws -> [RESPValue] {
        let connection = try await pooledConnection()
        let replies = try await connection.send(commands)
        for reply in replies {
            if case .error(let message) = reply, message.hasPrefix("READONLY") || message.hasPrefix("MASTERDOWN") {
                // The server stopped being the master (Sentinel failover): find the new one on the next call.
                connection.close()
                break
            }
        }
        return replies
    }

    /// Sends one command, throwing an error reply as `.server`.
    @discardableResult
    public func command(_ parts: [String]) async throws -> RESPValue {
        let reply = try await send([parts])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// A connection outside the pool, for blocking commands (`BLMOVE`) that would stall pipelined callers.
    /// The caller closes it.
    public func dedicatedConnection() async throws -> RedisConnection {
        try await connectToMaster()
    }

    public func close() {
        let slots = state.withLock { s -> [Slot] in
            s.closed = true
            defer { s.slots = Array(repeating: .empty, count: s.slots.count) }
            return s.slots
        }
        for slot in slots {
            switch slot {
            case .ready(let c): c.close()
            case .connecting(let t): t.cancel()
            case .empty: break
            }
        }
    }

    private enum Acquire {
        case use(RedisConnection)
        case wait(Task<RedisConnection, any Error>)
        case fail(RedisError)
    }

    private func pooledConnection() async throws -> RedisConnection {
        let index = state.withLock { s -> Int in
            s.next = (s.next + 1) % s.slots.count
            return s.next
        }
        let decision = state.withLock { s -> Acquire in
            if s.closed { return .fail(.unavailable("the Redis client was closed")) }
            switch s.slots[index] {
            case .ready(let c) where c.isActive: return .use(c)
            case .connecting(let t): return .wait(t)
            default:
                if let outage = s.outage, NIODeadline.now() < outage.retryAt {
                    return .fail(.unavailable("\(outage.reason) (next attempt within \(outage.backoff.nanoseconds / 1_000_000) ms)"))
                }
                let task = Task { try await self.connectToMaster() }
                s.slots[index] = .connecting(task)
                return .wait(task)
            }
        }
        switch decision {
        case .use(let c): return c
        case .fail(let e): throw e
        case .wait(let task):
            do {
                let c = try await task.value
                let recovered = state.withLock { s -> Bool in
                    if case .connecting = s.slots[index] { s.slots[index] = .ready(c) }
                    defer { s.outage = nil }
                    return s.outage != nil
                }
                if recovered { logger.info("redis.reconnected", metadata: ["redis": .string(endpoint.description)]) }
                return c
            } catch {
                // The reason without the "Redis is unavailable" prefix, which the rethrown error adds again.
                let reason: String
                if case .unavailable(let inner)? = error as? RedisError { reason = inner } else { reason = (error as? RedisError).map { "\($0)" } ?? "\(error)" }
                let first = state.withLock { s -> Bool in
                    if case .connecting = s.slots[index] { s.slots[index] = .empty }
                    let backoff = s.outage.map { min($0.backoff * 2, Self.maximumBackoff) } ?? Self.firstBackoff
                    defer { s.outage = (NIODeadline.now() + backoff, backoff, reason) }
                    return s.outage == nil
                }
                if first { logger.error("redis.unavailable", metadata: ["redis": .string(endpoint.description), "error": .string(reason)]) }
                throw RedisError.unavailable(reason)
            }
        }
    }

    private func connectToMaster() async throws -> RedisConnection {
        var host = endpoint.host
        var port = endpoint.port
        if !endpoint.sentinels.isEmpty { (host, port) = try await discoverMaster() }
        let connection = try await RedisConnection.connect(host: host, port: port, username: endpoint.username, password: endpoint.password,
                                                           database: endpoint.database, eventLoopGroup: group,
                                                           connectTimeout: connectTimeout, commandTimeout: commandTimeout,
                                                           clientName: clientName, tls: try tls())
        if !endpoint.sentinels.isEmpty {
            // A sentinel's answer can be stale during a failover: write only to a server that says it is the master.
            let role = try? await connection.command("ROLE")
            guard role?.array?.first?.string == "master" else {
                connection.close()
                throw RedisError.unavailable("\(host):\(port), named master of \"\(endpoint.host)\" by Sentinel, is not a master yet")
            }
        }
        return connection
    }

    private func tls() throws -> NIOSSLContext? {
        do {
            return try tlsContext?.get()
        } catch {
            throw RedisError.unavailable("\(endpoint): \(error)")
        }
    }

    /// Asks each sentinel in turn for the master of the group; the first answer wins.
    func discoverMaster() async throws -> (String, Int) {
        var problems: [String] = []
        for sentinel in endpoint.sentinels {
            do {
                let connection = try await RedisConnection.connect(host: sentinel.host, port: sentinel.port, username: endpoint.sentinelUsername,
                                                                   password: endpoint.sentinelPassword, database: 0, eventLoopGroup: group,
                                                                   connectTimeout: connectTimeout, commandTimeout: commandTimeout,
                                                                   tls: endpoint.sentinelsUseTLS ? try tls() : nil)
                defer { connection.close() }
                let reply = try await connection.command("SENTINEL", "get-master-addr-by-name", endpoint.host)
                guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
                    problems.append("\(sentinel.host):\(sentinel.port) does not know master \"\(endpoint.host)\"")
                    continue
                }
                return (host, port)
            } catch {
                problems.append("\(sentinel.host):\(sentinel.port): \(error)")
            }
        }
        throw RedisError.unavailable("no sentinel named a master for \"\(endpoint.host)\": " + problems.joined(separator: "; "))
    }
}
