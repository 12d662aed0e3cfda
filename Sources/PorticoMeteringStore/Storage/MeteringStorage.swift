import PorticoCore

/// One write to metering storage. The primitive cases are the Redis commands apisonator uses; `usage` is the
/// compound write of one authrep or report transaction, expanded by `CounterWrites` into counter commands (the
/// embedded store logs it as one record instead of twenty-odd increments).
public enum StorageCommand: Sendable, Equatable {
    case set(String, String)
    /// SET with a time to live in seconds.
    case setExpiring(String, String, seconds: Int64)
    case delete(String)
    case incrementBy(String, Int64)
    case expire(String, seconds: Int64)
    case setAdd(String, [String])
    case setRemove(String, [String])
    case hashSet(String, field: String, value: String)
    /// LPUSH then LTRIM to the newest `keep` entries.
    case listPushTrimmed(String, String, keep: Int)
    /// ZADD of one member (the events queue, scored by event id).
    case sortedSetAdd(String, score: Int64, member: String)
    /// ZREMRANGEBYSCORE with inclusive bounds.
    case sortedSetRemoveByScore(String, min: Int64, max: Int64)
    case usage(UsageWrite)
}

/// The counters one transaction changes: per metric (after hierarchy propagation) an increment or a set, at
/// application and service level, plus the response-code counters of `log[code]`.
public struct UsageWrite: Sendable, Equatable {
    public var serviceID: String
    public var applicationID: String
    public var timestamp: Timestamp
    public var values: [(metricID: String, value: UsageValue)]
    public var responseCode: Int?

    public init(serviceID: String, applicationID: String, timestamp: Timestamp, values: [(metricID: String, value: UsageValue)], responseCode: Int?) {
        self.serviceID = serviceID
        self.applicationID = applicationID
        self.timestamp = timestamp
        self.values = values
        self.responseCode = responseCode
    }

    public static func == (a: UsageWrite, b: UsageWrite) -> Bool {
        a.serviceID == b.serviceID && a.applicationID == b.applicationID && a.timestamp == b.timestamp && a.responseCode == b.responseCode
            && a.values.count == b.values.count && zip(a.values, b.values).allSatisfy { $0.metricID == $1.metricID && $0.value == $1.value }
    }
}

/// A counter read inside an atomic check-and-count, with the limit it must respect.
public struct CounterGuard: Sendable, Equatable {
    public var key: String
    /// nil: only read the counter.
    public var maxValue: Int64?
    /// The change this request makes; nil checks the stored value itself (a usage-less authorization).
    public var change: UsageValue?
    /// Set: the guard reads whether this member is in the set at `key` (1 or 0, SISMEMBER) instead of a counter.
    public var member: String?

    public init(key: String, maxValue: Int64?, change: UsageValue?) {
        self.key = key
        self.maxValue = maxValue
        self.change = change
        self.member = nil
    }

    /// Reads, before the writes, whether `member` is in the set at `key`; never blocks the writes.
    public static func membership(_ key: String, _ member: String) -> CounterGuard {
        var g = CounterGuard(key: key, maxValue: nil, change: nil)
        g.member = member
        return g
    }

    public func admits(_ stored: Int64) -> Bool {
        guard let maxValue else { return true }
        return (change?.applied(to: stored) ?? stored) <= maxValue
    }
}

public struct CounterCheck: Sendable, Equatable {
    /// The counters of the guards, as they were before the writes.
    public var values: [Int64]
    /// Whether every guard admitted its change, and so the writes were applied.
    public var applied: Bool
    public init(values: [Int64], applied: Bool) {
        self.values = values
        self.applied = applied
    }
}

/// Why metering storage could not serve a call; the Service Management API answers it with a 503 error document.
public struct MeteringStorageError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Metering's storage: the embedded store or Redis, both with apisonator's key layout
/// (reference/service-management-api.md §8).
public protocol MeteringStorage: Sendable {
    /// MGET: values of string keys, nil where absent.
    func get(_ keys: [String]) async throws -> [String?]
    func exists(_ key: String) async throws -> Bool
    func members(_ key: String) async throws -> [String]
    /// LRANGE with inclusive bounds; negative indexes count from the end.
    func listRange(_ key: String, start: Int, stop: Int) async throws -> [String]
    func listLength(_ key: String) async throws -> Int
    /// Every member of a sorted set with its score, lowest score first.
    func sortedSetMembers(_ key: String) async throws -> [(member: String, score: Int64)]
    /// Applies the writes in order; the embedded store applies them atomically.
    func apply(_ commands: [StorageCommand]) async throws
    /// Reads every guarded counter and, only if every guard admits its change, applies `commands` — all as
    /// one atomic step, so concurrent calls can never together overshoot a limit.
    func checkAndApply(_ guards: [CounterGuard], _ commands: [StorageCommand]) async throws -> CounterCheck
    /// Keys that start with `prefix` (statistics deletion of removed services; not for request paths).
    func keys(prefix: String) async throws -> [String]
}
