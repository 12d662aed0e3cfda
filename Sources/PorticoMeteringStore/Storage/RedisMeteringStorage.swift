import Crypto
import PorticoCore
import PorticoRedis
import Synchronization

/// Metering storage on Redis ≥ 6.2 in apisonator's key layout, so Portico can take over an existing 3scale
/// backend Redis. Writes of one call run in one `MULTI`/`EXEC`; check-and-count runs as one Lua script, so
/// concurrent authreps on any number of Portico processes never overshoot a limit.
///
/// A write whose reply is lost (connection broken after sending) is reported as a failure and never resent,
/// so nothing is counted twice.
public final class RedisMeteringStorage: MeteringStorage, Sendable {
    public let client: RedisClient
    /// The current minute's counter keys, kept between transactions as the embedded store does.
    private let counterKeys = Mutex(CounterKeyCache())

    public init(client: RedisClient) {
        self.client = client
    }

    // MARK: reads

    public func get(_ keys: [String]) async throws -> [String?] {
        guard !keys.isEmpty else { return [] }
        let reply = try await run(["MGET"] + keys)
        guard let items = reply.array, items.count == keys.count else { throw unexpected("MGET", reply) }
        return items.map { $0 == .null ? nil : $0.string }
    }

    public func exists(_ key: String) async throws -> Bool {
        try await run(["EXISTS", key]).integer == 1
    }

    public func members(_ key: String) async throws -> [String] {
        let reply = try await run(["SMEMBERS", key])
        guard let items = reply.array else { throw unexpected("SMEMBERS", reply) }
        return items.compactMap(\.string)
    }

    public func listRange(_ key: String, start: Int, stop: Int) async throws -> [String] {
        let reply = try await run(["LRANGE", key, String(start), String(stop)])
        guard let items = reply.array else { throw unexpected("LRANGE", reply) }
        return items.compactMap(\.string)
    }

    public func listLength(_ key: String) async throws -> Int {
        Int(try await run(["LLEN", key]).integer ?? 0)
    }

    public func sortedSetMembers(_ key: String) async throws -> [(member: String, score: Int64)] {
        let reply = try await run(["ZRANGE", key, "0", "-1", "WITHSCORES"])
        guard let items = reply.array, items.count % 2 == 0 else { throw unexpected("ZRANGE", reply) }
        return stride(from: 0, to: items.count, by: 2).compactMap { i in
            guard let member = items[i].string, let score = items[i + 1].string.flatMap({ Double($0) }) else { return nil }
            return (member: member, score: Int64(score))
        }
    }

    public func keys(prefix: String) async throws -> [String] {
        var found: [String] = []
        var cursor = "0"
        repeat {
            let reply = try await run(["SCAN", cursor, "MATCH", Self.globEscaped(prefix) + "*", "COUNT", "1000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let batch = parts[1].array else { throw unexpected("SCAN", reply) }
            found.append(contentsOf: batch.compactMap(\.string))
            cursor = next
        } while cursor != "0"
        return found
    }

    // MARK: writes

    public func apply(_ commands: [StorageCommand]) async throws {
        let redisCommands = redisCommands(commands)
        guard !redisCommands.isEmpty else { return }
        let replies = try await sendMapped([["MULTI"]] + redisCommands + [["EXEC"]])
        guard let exec = replies.last else { throw MeteringStorageError("Redis sent no reply to EXEC") }
        if case .error(let message) = exec { throw MeteringStorageError("Redis refused the write: \(message)") }
        for reply in exec.array ?? [] {
            if case .error(let message) = reply { throw MeteringStorageError("Redis refused part of a write: \(message)") }
        }
    }

    public func checkAndApply(_ guards: [CounterGuard], _ commands: [StorageCommand]) async throws -> CounterCheck {
        let arguments = Self.checkAndApplyArguments(guards, redisCommands(commands))
        var reply = try await sendMapped([["EVALSHA", Self.checkAndApplySHA, String(guards.count)] + arguments])[0]
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            // First use on this server (or after SCRIPT FLUSH): send the script itself, which also caches it.
            reply = try await sendMapped([["EVAL", Self.checkAndApplyScript, String(guards.count)] + arguments])[0]
        }
        if case .error(let message) = reply { throw MeteringStorageError("Redis refused the limit check: \(message)") }
        guard let items = reply.array, items.count == guards.count + 1, let applied = items.last?.integer else { throw unexpected("EVALSHA", reply) }
        return CounterCheck(values: items.dropLast().map { $0.integer ?? 0 }, applied: applied == 1)
    }

    // MARK: command translation

    /// The Redis commands of storage writes, `usage` expanded to apisonator's counter keys.
    func redisCommands(_ commands: [StorageCommand]) -> [[String]] {
        var out: [[String]] = []
        out.reserveCapacity(commands.count)
        for command in commands {
            switch command {
            case .set(let k, let v): out.append(["SET", k, v])
            case .setExpiring(let k, let v, let seconds): out.append(["SET", k, v, "EX", String(max(seconds, 1))])
            case .delete(let k): out.append(["DEL", k])
            case .incrementBy(let k, let n): out.append(["INCRBY", k, String(n)])
            case .expire(let k, let seconds): out.append(["EXPIRE", k, String(seconds)])
            case .setAdd(let k, let members): if !members.isEmpty { out.append(["SADD", k] + members) }
            case .setRemove(let k, let members): if !members.isEmpty { out.append(["SREM", k] + members) }
            case .hashSet(let k, let field, let value): out.append(["HSET", k, field, value])
            case .listPushTrimmed(let k, let v, let keep):
                out.append(["LPUSH", k, v])
                out.append(["LTRIM", k, "0", String(keep - 1)])
            case .sortedSetAdd(let k, let score, let member): out.append(["ZADD", k, String(score), member])
            case .sortedSetRemoveByScore(let k, let min, let max): out.append(["ZREMRANGEBYSCORE", k, String(min), String(max)])
            case .usage(let write):
                let expanded = counterKeys.withLock { cache in
                    CounterWrites.expand(write) { cache.keys(serviceID: write.serviceID, applicationID: write.applicationID, counter: $0, at: write.timestamp) }
                }
                out.append(contentsOf: redisCommands(expanded))
            }
        }
        return out
    }

    /// KEYS are the guarded counters; ARGV holds per guard (limit or "", change kind `i`/`s`/"", amount, set
    /// member or ""), then each write as its argument count followed by its arguments.
    static func checkAndApplyArguments(_ guards: [CounterGuard], _ writes: [[String]]) -> [String] {
        var args: [String] = guards.map(\.key)
        args.reserveCapacity(guards.count * 4 + writes.count * 4)
        for g in guards {
            args.append(g.maxValue.map(String.init) ?? "")
            switch g.change {
            case .increment(let n)?: args.append("i"); args.append(String(n))
            case .set(let n)?: args.append("s"); args.append(String(n))
            case nil: args.append(""); args.append("0")
            }
            args.append(g.member ?? "")
        }
        for w in writes {
            args.append(String(w.count))
            args.append(contentsOf: w)
        }
        return args
    }

    static let checkAndApplyScript = """
        local n = #KEYS
        local out = {}
        local admitted = true
        for i = 1, n do
          local stored
          if ARGV[4 * i] ~= '' then
            stored = redis.call('SISMEMBER', KEYS[i], ARGV[4 * i])
          else
            stored = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
          end
          out[i] = stored
          local limit = ARGV[4 * i - 3]
          if limit ~= '' then
            local kind = ARGV[4 * i - 2]
            local after = stored
            if kind == 'i' then after = stored + tonumber(ARGV[4 * i - 1]) elseif kind == 's' then after = tonumber(ARGV[4 * i - 1]) end
            if after > tonumber(limit) then admitted = false end
          end
        end
        if admitted then
          local p = 4 * n + 1
          while p <= #ARGV do
            local count = tonumber(ARGV[p])
            redis.call(unpack(ARGV, p + 1, p + count))
            p = p + count + 1
          end
        end
        out[n + 1] = admitted and 1 or 0
        return out
        """

    static let checkAndApplySHA = Insecure.SHA1.hash(data: Array(checkAndApplyScript.utf8)).map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()

    // MARK: helpers

    private func run(_ command: [String]) async throws -> RESPValue {
        let reply = try await sendMapped([command])[0]
        if case .error(let message) = reply { throw MeteringStorageError("Redis refused \(command[0]): \(message)") }
        return reply
    }

    /// Sends and turns client failures into `MeteringStorageError`s whose text tells the operator what happened.
    private func sendMapped(_ commands: [[String]]) async throws -> [RESPValue] {
        do {
            return try await client.send(commands)
        } catch let error as RedisError {
            throw MeteringStorageError("\(error) (\(client.endpoint))")
        }
    }

    private func unexpected(_ command: String, _ reply: RESPValue) -> MeteringStorageError {
        MeteringStorageError("unexpected Redis reply to \(command): \(reply)")
    }

    static func globEscaped(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "*" || c == "?" || c == "[" || c == "]" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
