import PorticoMeteringStore
import PorticoRedis

/// Metering keys in an archive: the Redis commands that recreate them (`SET`, `SADD`, `HSET`, `RPUSH`, `ZADD`,
/// then `PEXPIREAT` for keys with a deadline), in RESP, ordered by key. It is the embedded store's own
/// snapshot format, and can be replayed into any Redis with `redis-cli --pipe`.
enum MeteringEntriesCodec {
    static func encode(_ entries: [MeteringEntry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            for command in entry.commands() { RESPEncoder.encodeCommand(command, into: &out) }
        }
        return out
    }

    static func decode(_ bytes: [UInt8], member: String) throws(OperationsError) -> [MeteringEntry] {
        var decoder = RESPDecoder()
        decoder.feed(bytes)
        var entries: [MeteringEntry] = []
        func fail(_ why: String) -> OperationsError {
            OperationsError("\(member) has \(why) after \(entries.count) key(s); the archive is corrupted")
        }
        while true {
            let value: RESPValue?
            do { value = try decoder.next() } catch { throw fail("an unreadable record") }
            guard let value else { break }
            guard let parts = value.array?.compactMap(\.string), parts.count == value.array?.count, parts.count >= 3 else {
                throw fail("a record that is not a command")
            }
            let key = parts[1]
            let arguments = Array(parts.dropFirst(2))
            switch parts[0] {
            case "SET": entries.append(MeteringEntry(key: key, value: .string(arguments[0])))
            case "SADD": entries.append(MeteringEntry(key: key, value: .set(arguments)))
            case "RPUSH": entries.append(MeteringEntry(key: key, value: .list(arguments)))
            case "HSET", "ZADD":
                guard arguments.count % 2 == 0 else { throw fail("an odd \(parts[0])") }
                if parts[0] == "HSET" {
                    var fields: [String: String] = [:]
                    for i in stride(from: 0, to: arguments.count, by: 2) { fields[arguments[i]] = arguments[i + 1] }
                    entries.append(MeteringEntry(key: key, value: .hash(fields)))
                } else {
                    var members: [String: Int64] = [:]
                    for i in stride(from: 0, to: arguments.count, by: 2) {
                        guard let score = Int64(arguments[i]) else { throw fail("a ZADD with a non-integer score") }
                        members[arguments[i + 1]] = score
                    }
                    entries.append(MeteringEntry(key: key, value: .sortedSet(members)))
                }
            case "PEXPIREAT":
                guard let deadline = Int64(arguments[0]), entries.last?.key == key else { throw fail("a PEXPIREAT without its key") }
                entries[entries.count - 1].expiresAtMilliseconds = deadline
            default:
                throw fail("an unexpected \(parts[0]) record")
            }
        }
        guard decoder.bufferedByteCount == 0 else { throw fail("a record cut short") }
        return entries
    }

    /// Keys per family.
    static func families(_ entries: [MeteringEntry]) -> [String: Int] {
        var out: [String: Int] = [:]
        for e in entries { out[e.family, default: 0] += 1 }
        return out
    }
}
