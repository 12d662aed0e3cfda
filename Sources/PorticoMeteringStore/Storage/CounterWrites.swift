import PorticoCore

/// How a transaction changes counters (reference/service-management-api.md §5.5): per metric, application
/// keys for every period (minute keys expire after 180 s) and service keys for eternity, month, week, day and
/// hour; increments add, `#N` sets (`#0` deletes); response codes count in their class (`2XX`, `4XX`, `5XX`)
/// and, for 200, 403, 404, 500 and 503, under their own code.
public enum CounterWrites {
    static let trackedCodes: Set<Int> = [200, 403, 404, 500, 503]

    /// One counter a transaction touches, with the apisonator key names of every period it is counted in.
    struct Keys: Sendable {
        /// Application keys, in `ApisonatorKeys.applicationPeriods` order (the minute key last).
        var application: [String]
        /// Service keys, in `ApisonatorKeys.servicePeriods` order.
        var service: [String]
    }

    /// The period suffixes of the periods containing `t`, in `ApisonatorKeys.applicationPeriods` order.
    static func suffixes(at t: Timestamp) -> [String] { ApisonatorKeys.applicationPeriods.map { $0.keySuffix(containing: t) } }

    /// Indices into the application periods of the periods also written at service level.
    static let serviceSuffixIndices: [Int] = ApisonatorKeys.applicationPeriods.indices.filter {
        ApisonatorKeys.servicePeriods.contains(ApisonatorKeys.applicationPeriods[$0])
    }
    static let minuteIndex = ApisonatorKeys.applicationPeriods.firstIndex(of: .minute)!

    /// The keys of `counter` (`metric:<id>` or `response_code:<name>`) of one application and its service. The
    /// names are the same as ApisonatorKeys' (a test holds them equal), built from prefixes and suffixes.
    static func keys(serviceID sid: String, applicationID aid: String, counter: String, suffixes: [String]) -> Keys {
        let servicePrefix = "stats/{service:\(sid)}/"
        let application = ApisonatorKeys.encode(servicePrefix + "cinstance:\(aid)/" + counter + "/")
        let service = ApisonatorKeys.encode(servicePrefix + counter + "/")
        return Keys(application: suffixes.map { application + $0 }, service: serviceSuffixIndices.map { service + suffixes[$0] })
    }

    /// Calls `body` with the keys of every counter `write` changes and the change: the usage value per metric,
    /// then an increment by one per response-code name. Does nothing for a write without usage.
    static func forEachCounter(_ write: UsageWrite, keys: (_ counter: String) -> Keys, _ body: (Keys, UsageValue) -> Void) {
        guard !write.values.isEmpty else { return }
        for (metricID, value) in write.values { body(keys("metric:" + metricID), value) }
        if let code = write.responseCode {
            for name in responseCodeNames(code) { body(keys("response_code:" + name), .increment(1)) }
        }
    }

    /// The storage commands of `write`, for stores that take them one by one (Redis).
    public static func expand(_ write: UsageWrite) -> [StorageCommand] {
        let suffixes = suffixes(at: write.timestamp)
        return expand(write) { keys(serviceID: write.serviceID, applicationID: write.applicationID, counter: $0, suffixes: suffixes) }
    }

    /// `expand` with the keys of each counter (`metric:<id>`, `response_code:<name>`) from `keys`, e.g. a `CounterKeyCache`.
    static func expand(_ write: UsageWrite, keys: (_ counter: String) -> Keys) -> [StorageCommand] {
        var out: [StorageCommand] = []
        out.reserveCapacity(write.values.count * 14 + 4)
        forEachCounter(write, keys: keys) { keys, value in
            for (i, key) in keys.application.enumerated() {
                append(value, key, &out)
                if i == minuteIndex, value != .set(0) { out.append(.expire(key, seconds: ApisonatorKeys.minuteKeyTTLSeconds)) }
            }
            for key in keys.service { append(value, key, &out) }
        }
        if !write.values.isEmpty { out.append(.setAdd(ApisonatorKeys.serviceCinstances(write.serviceID), [write.applicationID])) }
        return out
    }

    /// `2XX` plus `200` for a 200; only the class for codes apisonator does not track individually.
    public static func responseCodeNames(_ code: Int) -> [String] {
        guard (100...999).contains(code) else { return [] }
        var names: [String] = []
        let group = code / 100
        if group == 2 || group == 4 || group == 5 { names.append("\(group)XX") }
        if trackedCodes.contains(code) { names.append(String(code)) }
        return names
    }

    private static func append(_ value: UsageValue, _ key: String, _ out: inout [StorageCommand]) {
        switch value {
        case .increment(let n): out.append(.incrementBy(key, n))
        case .set(0): out.append(.delete(key))
        case .set(let n): out.append(.set(key, String(n)))
        }
    }
}

/// The counter keys of the current minute, kept between transactions: building and encoding a dozen key names
/// per metric was the largest part of an embedded authrep. Keys change when the minute does, so the cache
/// holds one minute and starts over at the next; writes with a timestamp of another minute (a report of
/// older traffic) build their keys without the cache.
struct CounterKeyCache: Sendable {
    struct Counter: Hashable, Sendable {
        var serviceID: String
        var applicationID: String
        var counter: String
    }

    /// A bound on memory within one minute (an entry is twelve key names, about 1 KB); past it, keys are built
    /// without being kept, which is correct and only slower.
    static let capacity = 10_000
    private var minute: Int64 = .min
    private var suffixes: [String] = []
    private var keys: [Counter: CounterWrites.Keys] = [:]

    mutating func keys(serviceID: String, applicationID: String, counter: String, at t: Timestamp) -> CounterWrites.Keys {
        let minute = LimitPeriod.minute.start(containing: t).secondsSinceEpoch
        if minute > self.minute {
            self.minute = minute
            suffixes = CounterWrites.suffixes(at: t)
            keys.removeAll(keepingCapacity: true)
        } else if minute < self.minute {
            return CounterWrites.keys(serviceID: serviceID, applicationID: applicationID, counter: counter, suffixes: CounterWrites.suffixes(at: t))
        }
        let id = Counter(serviceID: serviceID, applicationID: applicationID, counter: counter)
        if let known = keys[id] { return known }
        let built = CounterWrites.keys(serviceID: serviceID, applicationID: applicationID, counter: counter, suffixes: suffixes)
        if keys.count < Self.capacity { keys[id] = built }
        return built
    }
}
