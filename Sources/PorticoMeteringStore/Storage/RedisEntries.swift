import PorticoRedis

/// Whole-database copies of a metering Redis, as `MeteringEntry` values: what backup, restore and move read
/// and write. Reads walk the keyspace with `SCAN` (never `KEYS`, which would stall a live server); a load is
/// one `MULTI`/`EXEC`, so a load cut off at any point leaves the database as it was.
public enum RedisEntries {
    /// Every key matching `pattern`, with values and absolute expiry, ordered by key. Keys that change while
    /// the scan runs are read as they are when reached (SCAN guarantees every key present throughout is seen).
    public static func dump(_ client: RedisClient, pattern: String = "*", nowMilliseconds: Int64) async throws -> [MeteringEntry] {
        var out: [MeteringEntry] = []
        var cursor = "0"
        repeat {
            let reply = try await client.command(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let batch = parts[1].array?.compactMap(\.string) else {
                throw MeteringStorageError("Redis answered SCAN with an unexpected reply")
            }
            cursor = next
            guard !batch.isEmpty else { continue }
            let meta = try await client.send(batch.flatMap { [["TYPE", $0], ["PTTL", $0]] })
            var reads: [[String]] = []
            var readKeys: [(key: String, type: String, ttl: Int64)] = []
            for (i, key) in batch.enumerated() {
                let type = meta[2 * i].string ?? "none"
                let ttl = meta[2 * i + 1].integer ?? -1
                let read: [String]
                switch type {
                case "string": read = ["GET", key]
                case "set": read = ["SMEMBERS", key]
                case "hash": read = ["HGETALL", key]
                case "list": read = ["LRANGE", key, "0", "-1"]
                case "zset": read = ["ZRANGE", key, "0", "-1", "WITHSCORES"]
                case "none": continue
                default: throw MeteringStorageError("Redis key \(key) has type \(type), which metering never writes; is REDIS_STORAGE_URL the right database?")
                }
                reads.append(read)
                readKeys.append((key, type, ttl))
            }
            let values = try await client.send(reads)
            for (i, item) in readKeys.enumerated() {
                let reply = values[i]
                if case .error(let message) = reply { throw MeteringStorageError("Redis refused to read \(item.key): \(message)") }
                let value: MeteringEntry.Value
                switch item.type {
                case "string":
                    guard let v = reply.string else { continue }  // expired between TYPE and GET
                    value = .string(v)
                case "set": value = .set((reply.array ?? []).compactMap(\.string).sorted())
                case "hash":
                    let items = (reply.array ?? []).compactMap(\.string)
                    var fields: [String: String] = [:]
                    for j in stride(from: 0, to: items.count - 1, by: 2) { fields[items[j]] = items[j + 1] }
                    value = .hash(fields)
                case "list": value = .list((reply.array ?? []).compactMap(\.string))
                default:
                    let items = (reply.array ?? []).compactMap(\.string)
                    var members: [String: Int64] = [:]
                    for j in stride(from: 0, to: items.count - 1, by: 2) { members[items[j]] = Double(items[j + 1]).map { Int64($0) } ?? 0 }
                    value = .sortedSet(members)
                }
                if case .list(let l) = value, l.isEmpty { continue }
                out.append(MeteringEntry(key: item.key, value: value, expiresAtMilliseconds: item.ttl > 0 ? nowMilliseconds + item.ttl : nil))
            }
        } while cursor != "0"
        // SCAN may return a key twice when the keyspace is rehashed during the walk.
        var seen = Set<String>()
        return out.sorted { $0.key < $1.key }.filter { seen.insert($0.key).inserted }
    }

    /// Writes `entries` in one transaction; with `replacing`, the database is emptied (`FLUSHDB`) inside it.
    /// Entries whose deadline has passed are skipped, as Redis would drop them at once.
    public static func load(_ client: RedisClient, _ entries: [MeteringEntry], replacing: Bool, nowMilliseconds: Int64) async throws {
        var commands: [[String]] = [["MULTI"]]
        if replacing { commands.append(["FLUSHDB"]) }
        for entry in entries {
            if let deadline = entry.expiresAtMilliseconds, deadline <= nowMilliseconds { continue }
            commands.append(contentsOf: entry.commands())
        }
        commands.append(["EXEC"])
        let replies = try await client.send(commands)
        for reply in replies {
            if case .error(let message) = reply { throw MeteringStorageError("Redis refused the load (\(message)); nothing was written") }
        }
        guard let results = replies.last?.array else { throw MeteringStorageError("Redis aborted the load transaction; nothing was written") }
        for result in results {
            if case .error(let message) = result { throw MeteringStorageError("Redis failed a write of the load: \(message)") }
        }
    }

    public static func keyCount(_ client: RedisClient) async throws -> Int {
        Int(try await client.command(["DBSIZE"]).integer ?? 0)
    }

    /// Names of other clients connected under `name` (a running `serve` sets `portico-serve`).
    public static func otherClients(_ client: RedisClient, named name: String) async throws -> Int {
        let list = try await client.command(["CLIENT", "LIST"]).string ?? ""
        return list.split(separator: "\n").filter { $0.split(separator: " ").contains(Substring("name=\(name)")) }.count
    }
}
