/// One key of metering storage with its value and expiry, in a form both stores produce and accept: what
/// backups, restores and moves carry between the embedded store and Redis.
public struct MeteringEntry: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case string(String)
        case set([String])
        case hash([String: String])
        case list([String])
        case sortedSet([String: Int64])
    }

    public var key: String
    public var value: Value
    /// Absolute deadline in milliseconds since the epoch; nil for keys that never expire.
    public var expiresAtMilliseconds: Int64?

    public init(key: String, value: Value, expiresAtMilliseconds: Int64? = nil) {
        self.key = key
        self.value = value
        self.expiresAtMilliseconds = expiresAtMilliseconds
    }

    /// The key family statistics are grouped by: apisonator's first path segment (`stats`, `service`,
    /// `application`, `events`, `resque:queue` …).
    public var family: String {
        if key.hasPrefix("resque:") {
            let rest = key.dropFirst("resque:".count)
            return "resque:" + (rest.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "")
        }
        return key.split(separator: "/", maxSplits: 1).first.map(String.init) ?? key
    }

    /// Redis commands that recreate the entry, members in a canonical order so equal data always gives equal
    /// bytes. The expiry, when `includeExpiry`, is the last command.
    public func commands(includeExpiry: Bool = true) -> [[String]] {
        var out: [[String]]
        switch value {
        case .string(let v): out = [["SET", key, v]]
        case .set(let members): out = members.isEmpty ? [] : [["SADD", key] + members.sorted()]
        case .hash(let fields):
            out = fields.isEmpty ? [] : [["HSET", key] + fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }]
        case .list(let items): out = items.isEmpty ? [] : [["RPUSH", key] + items]
        case .sortedSet(let members):
            out = members.isEmpty ? [] : [["ZADD", key] + members.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.flatMap { [String($0.value), $0.key] }]
        }
        if includeExpiry, let deadline = expiresAtMilliseconds, !out.isEmpty { out.append(["PEXPIREAT", key, String(deadline)]) }
        return out
    }
}
