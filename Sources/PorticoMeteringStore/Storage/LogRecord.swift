import PorticoCore
import PorticoRedis

/// The embedded store's log format: each write is one RESP array of bulk strings, like a Redis AOF, with
/// relative times made absolute so that replaying a record gives the same state whenever it happens.
enum LogRecord {
    static func encode(_ command: StorageCommand, nowMilliseconds now: Int64, into out: inout [UInt8]) {
        switch command {
        case .set(let k, let v): RESPEncoder.encodeCommand(["SET", k, v], into: &out)
        case .setExpiring(let k, let v, let seconds): RESPEncoder.encodeCommand(["SETPXAT", k, v, String(now + seconds * 1000)], into: &out)
        case .delete(let k): RESPEncoder.encodeCommand(["DEL", k], into: &out)
        case .incrementBy(let k, let n): RESPEncoder.encodeCommand(["INCRBY", k, String(n)], into: &out)
        case .expire(let k, let seconds): RESPEncoder.encodeCommand(["PEXPIREAT", k, String(now + seconds * 1000)], into: &out)
        case .setAdd(let k, let members): RESPEncoder.encodeCommand(["SADD", k] + members, into: &out)
        case .setRemove(let k, let members): RESPEncoder.encodeCommand(["SREM", k] + members, into: &out)
        case .hashSet(let k, let f, let v): RESPEncoder.encodeCommand(["HSET", k, f, v], into: &out)
        case .listPushTrimmed(let k, let v, let keep): RESPEncoder.encodeCommand(["LPUSHTRIM", k, v, String(keep)], into: &out)
        case .sortedSetAdd(let k, let score, let member): RESPEncoder.encodeCommand(["ZADD", k, String(score), member], into: &out)
        case .sortedSetRemoveByScore(let k, let min, let max): RESPEncoder.encodeCommand(["ZREMRANGEBYSCORE", k, String(min), String(max)], into: &out)
        case .usage(let w):
            var parts = ["USAGE", w.serviceID, w.applicationID, String(w.timestamp.secondsSinceEpoch), w.responseCode.map(String.init) ?? ""]
            for (metric, value) in w.values {
                parts.append(metric)
                switch value {
                case .increment(let n): parts.append("+\(n)")
                case .set(let n): parts.append("#\(n)")
                }
            }
            RESPEncoder.encodeCommand(parts, into: &out)
        }
    }

    static func decode(_ parts: [String]) throws(MeteringStorageError) -> StorageCommand {
        guard let name = parts.first else { throw MeteringStorageError("empty log record") }
        func arg(_ i: Int) throws(MeteringStorageError) -> String {
            guard i < parts.count else { throw MeteringStorageError("log record \(name) is missing argument \(i)") }
            return parts[i]
        }
        func int(_ i: Int) throws(MeteringStorageError) -> Int64 {
            guard let v = Int64(try arg(i)) else { throw MeteringStorageError("log record \(name) argument \(i) is not an integer") }
            return v
        }
        switch name {
        case "SET": return .set(try arg(1), try arg(2))
        case "DEL": return .delete(try arg(1))
        case "INCRBY": return .incrementBy(try arg(1), try int(2))
        case "SADD": return .setAdd(try arg(1), Array(parts.dropFirst(2)))
        case "SREM": return .setRemove(try arg(1), Array(parts.dropFirst(2)))
        case "HSET": return .hashSet(try arg(1), field: try arg(2), value: try arg(3))
        case "LPUSHTRIM": return .listPushTrimmed(try arg(1), try arg(2), keep: Int(try int(3)))
        case "ZADD": return .sortedSetAdd(try arg(1), score: try int(2), member: try arg(3))
        case "ZREMRANGEBYSCORE": return .sortedSetRemoveByScore(try arg(1), min: try int(2), max: try int(3))
        case "USAGE":
            let code = try arg(4)
            var values: [(metricID: String, value: UsageValue)] = []
            var i = 5
            while i + 1 < parts.count {
                let raw = parts[i + 1]
                guard let n = Int64(raw.dropFirst()), raw.first == "+" || raw.first == "#" else {
                    throw MeteringStorageError("log record USAGE has an invalid value \(raw)")
                }
                values.append((parts[i], raw.first == "#" ? .set(n) : .increment(n)))
                i += 2
            }
            return .usage(UsageWrite(serviceID: try arg(1), applicationID: try arg(2), timestamp: Timestamp(secondsSinceEpoch: try int(3)),
                                     values: values, responseCode: code.isEmpty ? nil : Int(code)))
        default:
            throw MeteringStorageError("unknown log record \(name)")
        }
    }
}
