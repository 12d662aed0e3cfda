import PorticoCore

/// How a transaction changes counters (reference/service-management-api.md §5.5): per metric, application
/// keys for every period (minute keys expire after 180 s) and service keys for eternity, month, week, day and
/// hour; increments add, `#N` sets (`#0` deletes); response codes count in their class (`2XX`, `4XX`, `5XX`)
/// and, for 200, 403, 404, 500 and 503, under their own code.
public enum CounterWrites {
    static let trackedCodes: Set<Int> = [200, 403, 404, 500, 503]

    public static func expand(_ write: UsageWrite) -> [StorageCommand] {
        var out: [StorageCommand] = []
        out.reserveCapacity(write.values.count * 14 + 4)
        let sid = write.serviceID, aid = write.applicationID, t = write.timestamp
        // Key names are the same as ApisonatorKeys' (a test holds them equal), built from prefixes and period
        // suffixes computed once per transaction rather than once per key: this runs for every authrep.
        let suffixes = ApisonatorKeys.applicationPeriods.map { (period: $0, suffix: $0.keySuffix(containing: t)) }
        let serviceSuffixes = suffixes.filter { ApisonatorKeys.servicePeriods.contains($0.period) }
        let servicePrefix = "stats/{service:\(sid)}/"
        let applicationPrefix = servicePrefix + "cinstance:\(aid)/"
        for (metricID, value) in write.values {
            let appMetric = ApisonatorKeys.encode(applicationPrefix + "metric:\(metricID)/")
            for (period, suffix) in suffixes {
                let key = appMetric + suffix
                append(value, key, &out)
                if period == .minute, value != .set(0) { out.append(.expire(key, seconds: ApisonatorKeys.minuteKeyTTLSeconds)) }
            }
            let serviceMetric = ApisonatorKeys.encode(servicePrefix + "metric:\(metricID)/")
            for (_, suffix) in serviceSuffixes { append(value, serviceMetric + suffix, &out) }
        }
        if let code = write.responseCode, !write.values.isEmpty {
            for name in responseCodeNames(code) {
                let appCode = ApisonatorKeys.encode(applicationPrefix + "response_code:\(name)/")
                for (period, suffix) in suffixes {
                    let key = appCode + suffix
                    out.append(.incrementBy(key, 1))
                    if period == .minute { out.append(.expire(key, seconds: ApisonatorKeys.minuteKeyTTLSeconds)) }
                }
                let serviceCode = ApisonatorKeys.encode(servicePrefix + "response_code:\(name)/")
                for (_, suffix) in serviceSuffixes { out.append(.incrementBy(serviceCode + suffix, 1)) }
            }
        }
        if !write.values.isEmpty { out.append(.setAdd(ApisonatorKeys.serviceCinstances(sid), [aid])) }
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
