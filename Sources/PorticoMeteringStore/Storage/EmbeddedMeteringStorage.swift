import PorticoCore
import PorticoRedis
import Synchronization

/// The embedded metering store: apisonator's data model (strings, sets, hashes, lists with expiry) in process
/// memory, every write applied under one lock (so check-and-count is atomic) and recorded in a write-ahead log
/// that `EmbeddedPersistence` flushes to disk every second.
public final class EmbeddedMeteringStorage: MeteringStorage, Sendable {
    enum Entry: Sendable {
        case string(String)
        case integer(Int64)
        case set(Set<String>)
        case hash([String: String])
        case list([String])
        /// member → score
        case sortedSet([String: Int64])
    }

    /// A key's value and its expiry, kept together so a write finds both with one hash lookup.
    struct Stored: Sendable {
        var value: Entry
        /// Absolute deadline in milliseconds since the epoch; nil never expires.
        var deadline: Int64?

        func isLive(_ now: Int64) -> Bool { deadline.map { $0 > now } ?? true }
    }

    struct State: Sendable {
        var entries: [String: Stored] = [:]
        /// Log records written since the last flush.
        var pendingLog: [UInt8] = []
        var logging = true
        var counterKeys = CounterKeyCache()
    }

    let state = Mutex(State())
    let clockMilliseconds: @Sendable () -> Int64

    public init(clockMilliseconds: @escaping @Sendable () -> Int64) {
        self.clockMilliseconds = clockMilliseconds
    }

    // MARK: reads

    public func get(_ keys: [String]) async throws -> [String?] {
        let now = clockMilliseconds()
        return state.withLock { s in keys.map { Self.string(s.live($0, now: now)) } }
    }

    public func exists(_ key: String) async throws -> Bool {
        let now = clockMilliseconds()
        return state.withLock { $0.live(key, now: now) != nil }
    }

    public func members(_ key: String) async throws -> [String] {
        let now = clockMilliseconds()
        return state.withLock { s in
            if case .set(let m)? = s.live(key, now: now) { return Array(m) }
            return []
        }
    }

    public func listRange(_ key: String, start: Int, stop: Int) async throws -> [String] {
        let now = clockMilliseconds()
        return state.withLock { s in
            guard case .list(let items)? = s.live(key, now: now), !items.isEmpty else { return [] }
            let lower = max(start < 0 ? items.count + start : start, 0)
            let upper = min(stop < 0 ? items.count + stop : stop, items.count - 1)
            guard lower <= upper else { return [] }
            return Array(items[lower...upper])
        }
    }

    public func listLength(_ key: String) async throws -> Int {
        let now = clockMilliseconds()
        return state.withLock { s in
            if case .list(let items)? = s.live(key, now: now) { return items.count }
            return 0
        }
    }

    public func sortedSetMembers(_ key: String) async throws -> [(member: String, score: Int64)] {
        let now = clockMilliseconds()
        return state.withLock { s in
            guard case .sortedSet(let members)? = s.live(key, now: now) else { return [] }
            return members.map { (member: $0.key, score: $0.value) }.sorted { ($0.score, $0.member) < ($1.score, $1.member) }
        }
    }

    public func keys(prefix: String) async throws -> [String] {
        let now = clockMilliseconds()
        return state.withLock { s in s.entries.keys.filter { $0.hasPrefix(prefix) && s.live($0, now: now) != nil } }
    }

    // MARK: writes

    public func apply(_ commands: [StorageCommand]) async throws {
        let now = clockMilliseconds()
        state.withLock { s in
            for command in commands { s.execute(command, now: now) }
        }
    }

    public func checkAndApply(_ guards: [CounterGuard], _ commands: [StorageCommand]) async throws -> CounterCheck {
        let now = clockMilliseconds()
        return state.withLock { s in
            var values: [Int64] = []
            values.reserveCapacity(guards.count)
            var admitted = true
            for g in guards {
                let v: Int64
                if let member = g.member {
                    if case .set(let m)? = s.live(g.key, now: now), m.contains(member) { v = 1 } else { v = 0 }
                } else {
                    v = Self.integer(s.live(g.key, now: now))
                }
                values.append(v)
                if !g.admits(v) { admitted = false }
            }
            if admitted {
                for command in commands { s.execute(command, now: now) }
            }
            return CounterCheck(values: values, applied: admitted)
        }
    }

    // MARK: persistence hooks

    /// Takes the log records written since the last call.
    func takePendingLog() -> [UInt8] {
        state.withLock { s in
            let out = s.pendingLog
            s.pendingLog = []
            s.pendingLog.reserveCapacity(out.count)
            return out
        }
    }

    /// Puts back records a failed flush could not write, ahead of newer ones.
    func restorePendingLog(_ bytes: [UInt8]) {
        state.withLock { s in s.pendingLog = bytes + s.pendingLog }
    }

    /// A log that recreates the whole current state, and drops the pending records it makes redundant.
    func snapshot() -> [UInt8] {
        let now = clockMilliseconds()
        return state.withLock { s in
            s.pendingLog = []
            var out: [UInt8] = []
            for entry in s.liveEntries(now: now) {
                for command in entry.commands() { RESPEncoder.encodeCommand(command, into: &out) }
            }
            return out
        }
    }

    /// Every live key, ordered by key.
    public func entries() -> [MeteringEntry] {
        let now = clockMilliseconds()
        return state.withLock { $0.liveEntries(now: now) }.sorted { $0.key < $1.key }
    }

    /// Replaces the whole state by `entries`, without logging: the caller persists it with `compact()`.
    public func replaceAll(with entries: [MeteringEntry]) {
        state.withLock { s in
            s.entries = [:]
            s.pendingLog = []
            for e in entries {
                let value: Entry
                switch e.value {
                case .string(let v): value = .string(v)
                case .set(let m): value = .set(Set(m))
                case .hash(let h): value = .hash(h)
                case .list(let l): value = .list(l)
                case .sortedSet(let z): value = .sortedSet(z)
                }
                s.entries[e.key] = Stored(value: value, deadline: e.expiresAtMilliseconds)
            }
        }
    }

    /// Applies recovered log records without logging them again.
    func replay(_ record: [String]) throws(MeteringStorageError) {
        let now = clockMilliseconds()
        try state.withLock { (s: inout State) throws(MeteringStorageError) in try s.replay(record, now: now) }
    }

    /// Drops expired keys so they neither use memory nor reach the next snapshot.
    func removeExpired() {
        let now = clockMilliseconds()
        state.withLock { $0.removeExpired(now: now) }
    }

    // MARK: value conversion

    static func string(_ entry: Entry?) -> String? {
        switch entry {
        case .string(let v)?: return v
        case .integer(let v)?: return String(v)
        default: return nil
        }
    }

    static func integer(_ entry: Entry?) -> Int64 {
        switch entry {
        case .integer(let v)?: return v
        case .string(let v)?: return Int64(v) ?? 0
        default: return 0
        }
    }
}

extension EmbeddedMeteringStorage.State {
    typealias Entry = EmbeddedMeteringStorage.Entry
    typealias Stored = EmbeddedMeteringStorage.Stored

    /// Keys not yet expired, as `MeteringEntry` values (unordered).
    func liveEntries(now: Int64) -> [MeteringEntry] {
        var out: [MeteringEntry] = []
        out.reserveCapacity(entries.count)
        for (key, stored) in entries where stored.isLive(now) {
            let value: MeteringEntry.Value
            switch stored.value {
            case .string(let v): value = .string(v)
            case .integer(let v): value = .string(String(v))
            case .set(let m): value = .set(m.sorted())
            case .hash(let h): value = .hash(h)
            case .list(let l): value = .list(l)
            case .sortedSet(let z): value = .sortedSet(z)
            }
            out.append(MeteringEntry(key: key, value: value, expiresAtMilliseconds: stored.deadline))
        }
        return out
    }

    /// The entry if present and not expired; expired entries are removed lazily on write and by the flusher.
    func live(_ key: String, now: Int64) -> Entry? {
        guard let stored = entries[key], stored.isLive(now) else { return nil }
        return stored.value
    }

    mutating func removeExpired(now: Int64) {
        let expired = entries.compactMap { $0.value.isLive(now) ? nil : $0.key }
        for key in expired { entries[key] = nil }
    }

    /// Runs `body` on the key's live value in place (one hash lookup; collections are not copied), an expired
    /// or absent key reading as `empty` without expiry. `body` returns false to delete the key.
    mutating func update(_ key: String, now: Int64, empty: Entry, _ body: (inout Entry) -> Bool) {
        var keep = true
        withStored(key, empty: empty) { stored in
            if !stored.isLive(now) { stored = Stored(value: empty, deadline: nil) }
            keep = body(&stored.value)
        }
        if !keep { entries[key] = nil }
    }

    private mutating func withStored(_ key: String, empty: Entry, _ body: (inout Stored) -> Void) {
        body(&entries[key, default: Stored(value: empty, deadline: nil)])
    }

    mutating func execute(_ command: StorageCommand, now: Int64) {
        if logging { LogRecord.encode(command, nowMilliseconds: now, into: &pendingLog) }
        switch command {
        case .usage(let write):
            applyUsage(write, now: now)
        case .set(let key, let value):
            entries[key] = Stored(value: .string(value), deadline: nil)
        case .setExpiring(let key, let value, let seconds):
            entries[key] = Stored(value: .string(value), deadline: now + seconds * 1000)
        case .delete(let key):
            entries[key] = nil
        case .incrementBy(let key, let n):
            update(key, now: now, empty: .integer(0)) { value in
                value = .integer(EmbeddedMeteringStorage.integer(value) &+ n)
                return true
            }
        case .expire(let key, let seconds):
            expireAt(key, now + seconds * 1000)
        case .setAdd(let key, let members):
            update(key, now: now, empty: .set([])) { value in
                guard case .set(var set) = value else {
                    value = .set(Set(members))
                    return true
                }
                value = .integer(0)  // drops the entry's reference so the set is mutated without a copy
                set.formUnion(members)
                value = .set(set)
                return true
            }
        case .setRemove(let key, let members):
            guard case .set? = live(key, now: now) else { return }
            update(key, now: now, empty: .set([])) { value in
                guard case .set(var set) = value else { return true }
                value = .integer(0)
                set.subtract(members)
                value = .set(set)
                return !set.isEmpty
            }
        case .hashSet(let key, let field, let v):
            update(key, now: now, empty: .hash([:])) { value in
                guard case .hash(var fields) = value else {
                    value = .hash([field: v])
                    return true
                }
                value = .integer(0)
                fields[field] = v
                value = .hash(fields)
                return true
            }
        case .listPushTrimmed(let key, let item, let keep):
            update(key, now: now, empty: .list([])) { value in
                var items: [String] = []
                if case .list(let l) = value { items = l }
                value = .integer(0)
                items.insert(item, at: 0)
                if items.count > keep { items.removeLast(items.count - keep) }
                value = .list(items)
                return true
            }
        case .sortedSetAdd(let key, let score, let member):
            update(key, now: now, empty: .sortedSet([:])) { value in
                var members: [String: Int64] = [:]
                if case .sortedSet(let m) = value { members = m }
                value = .integer(0)
                members[member] = score
                value = .sortedSet(members)
                return true
            }
        case .sortedSetRemoveByScore(let key, let min, let max):
            guard case .sortedSet? = live(key, now: now) else { return }
            update(key, now: now, empty: .sortedSet([:])) { value in
                guard case .sortedSet(var members) = value else { return true }
                value = .integer(0)
                members = members.filter { $0.value < min || $0.value > max }
                value = .sortedSet(members)
                return !members.isEmpty
            }
        }
    }

    /// A transaction's counters (`CounterWrites`), logged as the one record that was already written for it.
    mutating func applyUsage(_ write: UsageWrite, now: Int64) {
        guard !write.values.isEmpty else { return }
        let wasLogging = logging
        logging = false
        defer { logging = wasLogging }
        // Minute keys expire relative to the transaction's time, so a replayed record gets the same deadline.
        let minuteDeadline = (write.timestamp.secondsSinceEpoch + ApisonatorKeys.minuteKeyTTLSeconds) * 1000
        CounterWrites.forEachCounter(write, keys: {
            counterKeys.keys(serviceID: write.serviceID, applicationID: write.applicationID, counter: $0, at: write.timestamp)
        }) { keys, value in
            for (i, key) in keys.application.enumerated() {
                count(value, key, now: now)
                if i == CounterWrites.minuteIndex, value != .set(0) { expireAt(key, minuteDeadline) }
            }
            for key in keys.service { count(value, key, now: now) }
        }
        execute(.setAdd(ApisonatorKeys.serviceCinstances(write.serviceID), [write.applicationID]), now: now)
    }

    private mutating func count(_ value: UsageValue, _ key: String, now: Int64) {
        switch value {
        case .increment(let n): execute(.incrementBy(key, n), now: now)
        case .set(0): execute(.delete(key), now: now)
        case .set(let n): execute(.set(key, String(n)), now: now)
        }
    }

    mutating func expireAt(_ key: String, _ deadline: Int64) {
        guard let index = entries.index(forKey: key) else { return }
        entries.values[index].deadline = deadline
    }

    /// Applies one recovered log record (see `LogRecord`) without logging it again.
    mutating func replay(_ parts: [String], now: Int64) throws(MeteringStorageError) {
        guard let name = parts.first else { throw MeteringStorageError("empty log record") }
        func require(_ n: Int) throws(MeteringStorageError) {
            guard parts.count >= n else { throw MeteringStorageError("log record \(name) has \(parts.count - 1) arguments") }
        }
        func integer(_ s: String) throws(MeteringStorageError) -> Int64 {
            guard let v = Int64(s) else { throw MeteringStorageError("log record \(name) has a non-integer argument") }
            return v
        }
        logging = false
        defer { logging = true }
        switch name {
        case "SETPXAT":
            try require(4)
            entries[parts[1]] = Stored(value: .string(parts[2]), deadline: try integer(parts[3]))
        case "PEXPIREAT":
            try require(3)
            expireAt(parts[1], try integer(parts[2]))
        case "HSET", "ZADD":
            // Snapshots write a whole hash or sorted set as one command with several pairs, as Redis accepts.
            guard parts.count % 2 == 0 else { throw MeteringStorageError("log record \(name) has an odd number of arguments") }
            for i in stride(from: 2, to: parts.count, by: 2) {
                execute(try LogRecord.decode([name, parts[1], parts[i], parts[i + 1]]), now: now)
            }
        case "RPUSH":
            try require(2)
            var items: [String] = []
            if case .list(let l)? = entries[parts[1]]?.value { items = l }
            items.append(contentsOf: parts.dropFirst(2))
            entries[parts[1]] = Stored(value: .list(items), deadline: entries[parts[1]]?.deadline)
        default:
            execute(try LogRecord.decode(parts), now: now)
        }
    }
}
