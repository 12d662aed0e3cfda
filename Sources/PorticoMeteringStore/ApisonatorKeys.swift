import PorticoCore

/// apisonator's Redis key layout (reference/service-management-api.md §8), so Portico metering can serve an
/// existing 3scale backend Redis unchanged. Every key passes through apisonator's encoder (spaces -> `+`).
public enum ApisonatorKeys {
    /// apisonator's key encoder: spaces become `+`. Most keys have none, so they are returned as they are.
    static func encode(_ s: String) -> String {
        guard s.utf8.contains(UInt8(ascii: " ")) else { return s }
        return String(decoding: s.utf8.map { $0 == UInt8(ascii: " ") ? UInt8(ascii: "+") : $0 }, as: UTF8.self)
    }

    // MARK: configuration (§8.1)
    public static func serviceProviderKey(_ sid: String) -> String { encode("service/id:\(sid)/provider_key") }
    public static func serviceBackendVersion(_ sid: String) -> String { encode("service/id:\(sid)/backend_version") }
    public static func serviceReferrerFiltersRequired(_ sid: String) -> String { encode("service/id:\(sid)/referrer_filters_required") }
    public static func serviceState(_ sid: String) -> String { encode("service/id:\(sid)/state") }
    public static func providerServiceIDs(_ providerKey: String) -> String { encode("service/provider_key:\(providerKey)/ids") }
    public static func providerDefaultServiceID(_ providerKey: String) -> String { encode("service/provider_key:\(providerKey)/id") }
    public static let servicesSet = "services_set"
    public static let providerKeysSet = "provider_keys_set"
    public static func serviceToken(_ token: String, serviceID sid: String) -> String { encode("service_token/token:\(token)/service_id:\(sid)") }

    public static func application(_ sid: String, _ aid: String, _ attribute: String) -> String {
        encode("application/service_id:\(sid)/id:\(aid)/\(attribute)")
    }
    public static func applicationKeys(_ sid: String, _ aid: String) -> String { application(sid, aid, "keys") }
    public static func applicationReferrerFilters(_ sid: String, _ aid: String) -> String { application(sid, aid, "referrer_filters") }
    public static func userKey(_ sid: String, _ userKey: String) -> String { encode("application/service_id:\(sid)/key:\(userKey)/id") }
    public static func serviceApplications(_ sid: String) -> String { encode("service_id:\(sid)/applications") }

    public static func metric(_ sid: String, _ mid: String, _ attribute: String) -> String { encode("metric/service_id:\(sid)/id:\(mid)/\(attribute)") }
    public static func metricID(_ sid: String, name: String) -> String { encode("metric/service_id:\(sid)/name:\(name)/id") }
    public static func metricIDs(_ sid: String) -> String { encode("metrics/service_id:\(sid)/ids") }

    public static func usageLimit(_ sid: String, plan: String, metric: String, _ period: LimitPeriod) -> String {
        encode("usage_limit/service_id:\(sid)/plan_id:\(plan)/metric_id:\(metric)/\(period.rawValue)")
    }
    public static func alertLevels(_ sid: String) -> String { encode("alerts/service_id:\(sid)/allowed_set") }

    // MARK: counters (§8.2)
    public static func serviceUsage(_ sid: String, metric: String, _ period: LimitPeriod, at t: Timestamp) -> String {
        encode("stats/{service:\(sid)}/metric:\(metric)/\(period.keySuffix(containing: t))")
    }
    public static func applicationUsage(_ sid: String, app: String, metric: String, _ period: LimitPeriod, at t: Timestamp) -> String {
        encode("stats/{service:\(sid)}/cinstance:\(app)/metric:\(metric)/\(period.keySuffix(containing: t))")
    }
    public static func serviceResponseCode(_ sid: String, code: String, _ period: LimitPeriod, at t: Timestamp) -> String {
        encode("stats/{service:\(sid)}/response_code:\(code)/\(period.keySuffix(containing: t))")
    }
    public static func applicationResponseCode(_ sid: String, app: String, code: String, _ period: LimitPeriod, at t: Timestamp) -> String {
        encode("stats/{service:\(sid)}/cinstance:\(app)/response_code:\(code)/\(period.keySuffix(containing: t))")
    }
    public static func serviceCinstances(_ sid: String) -> String { encode("stats/{service:\(sid)}/cinstances") }
    /// Incremented by every transaction of the application on that UTC day; the first increment is the day's
    /// first traffic. Expires after `dailyTrafficTTLSeconds`.
    public static func dailyTraffic(_ sid: String, app: String, at t: Timestamp) -> String {
        let date = t.iso8601.prefix(10).filter { $0 != "-" }
        return encode("daily_traffic/service:\(sid)/cinstance:\(app)/\(date)")
    }
    public static let dailyTrafficTTLSeconds: Int64 = 172_800

    /// Periods written at application level (minute keys expire after 180 s) and at service level.
    public static let applicationPeriods: [LimitPeriod] = [.eternity, .year, .month, .week, .day, .hour, .minute]
    public static let servicePeriods: [LimitPeriod] = [.eternity, .month, .week, .day, .hour]
    public static let minuteKeyTTLSeconds: Int64 = 180

    // MARK: queues (§8.3)
    public static let reportQueue = "resque:queue:priority"
    public static let notifyQueue = "resque:queue:main"
    public static let failedJobs = "resque:failed"
    public static func integrationErrors(_ sid: String) -> String { encode("errors/service_id:\(sid)") }

    /// Services whose statistics the cron must delete (`DELETE /internal/services/{id}/stats`).
    public static let servicesMarkedForStatsDeletion = "set_with_services_marked_for_deletion"

    /// The prefix of every statistics key of a service, application and response-code counters included.
    public static func serviceStatsPrefix(_ sid: String) -> String { "stats/{service:\(encode(sid))}/" }

    // MARK: events and alerts (§8.7)
    public static let eventsID = "events/id"
    public static let eventsQueue = "events/queue"
    /// Set (60 s) when porta is pinged about pending events, so it is pinged at most once a minute.
    public static let eventsPing = "events/ping"
    public static let eventsPingTTLSeconds: Int64 = 60
    public static let alertsCurrentID = "alerts/current_id"
    public static func alertNotified(_ sid: String, app: String, level: Int) -> String {
        encode("alerts/service_id:\(sid)/app_id:\(app)/\(level)/already_notified")
    }
}
