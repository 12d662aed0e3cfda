import PorticoCore
import PorticoMeteringStore

/// One authorize/authrep call, in apisonator's processing order (reference/service-management-api.md §2.1):
/// the first failure wins; exceptions are `MeteringFailure`s, validator rejections are 409 `<status>` replies.
struct Authorizer: Sendable {
    let configuration: MeteringConfiguration
    let counters: any MeteringStorage
    let now: Timestamp
    /// first_traffic / first_daily_traffic events of counted transactions.
    var traffic: TrafficEvents? = nil
    /// Master-account usage of this call (`CONFIG_MASTER_SERVICE_ID`); nil when not configured.
    var master: MasterUsage? = nil
    var alertsHook: EventsHookPinger? = nil

    /// Strings are stripped and empty ones dropped; anything but a string (a hash) counts as absent.
    static func normalized(_ params: RackParameters, _ name: String) -> String? {
        guard let s = params.string(name)?.trimmingWhitespace, !s.isEmpty else { return nil }
        return s
    }

    /// `provider_key` wins; otherwise the (service_token, service_id) pair names the provider.
    func resolveProviderKey(_ params: RackParameters) async throws -> String {
        if let key = Self.normalized(params, "provider_key") { return key }
        let token = Self.normalized(params, "service_token")
        let sid = Self.normalized(params, "service_id")
        if let token, let sid, try await configuration.serviceTokenIsValid(token, serviceID: sid),
           let service = try await configuration.service(id: sid) {
            return service.providerKey
        }
        guard let token else { throw MeteringFailure.providerKeyOrTokenRequired }
        guard let sid else { throw MeteringFailure.serviceIDMissing }
        throw MeteringFailure.serviceTokenInvalid(token, sid)
    }

    /// `loadService`'s answer when the configuration cache holds it and it is a service (nil otherwise: the
    /// asynchronous path reads what is missing and names what is wrong).
    func cachedService(_ params: RackParameters, providerKey: String) -> MeteredService? {
        let service: MeteredService?
        if let sid = Self.normalized(params, "service_id") {
            guard !sid.contains("-"), let cached = configuration.cachedService(id: sid) else { return nil }
            service = cached
        } else {
            guard let id = configuration.cachedDefaultServiceID(providerKey: providerKey) ?? nil, let cached = configuration.cachedService(id: id) else { return nil }
            service = cached
        }
        guard let service, service.providerKey == providerKey else { return nil }
        return service
    }

    func loadService(_ params: RackParameters, providerKey: String) async throws -> MeteredService {
        guard let sid = Self.normalized(params, "service_id") else {
            guard let id = try await configuration.defaultServiceID(providerKey: providerKey), let service = try await configuration.service(id: id) else {
                throw MeteringFailure.providerKeyInvalidOrServiceMissing(providerKey)
            }
            return service
        }
        // Legacy "providerprefix-id" form: the part after the last dash first, then the whole id.
        var service: MeteredService?
        if let dash = sid.lastIndex(of: "-") { service = try await configuration.service(id: String(sid[sid.index(after: dash)...])) }
        if service == nil { service = try await configuration.service(id: sid) }
        guard let service else { throw MeteringFailure.serviceIDInvalid(sid) }
        guard service.providerKey == providerKey else {
            if try await configuration.defaultServiceID(providerKey: providerKey) == nil { throw MeteringFailure.providerKeyInvalid(providerKey) }
            throw MeteringFailure.serviceIDInvalid(sid)
        }
        return service
    }

    func run(_ params: RackParameters, endpoint: ServiceManagementAPI.Endpoint, extensions: Extensions) async throws -> MeteringResponse {
        if params.containsInvalidUTF8 { throw MeteringFailure.notValidData }
        let providerKey: String
        if let key = Self.normalized(params, "provider_key") { providerKey = key } else { providerKey = try await resolveProviderKey(params) }
        guard let master else { return try await run(params, providerKey: providerKey, endpoint: endpoint, extensions: extensions).response }
        // Master metering (§8.5): an authorize counts before validation; an authrep counts when it got as far as
        // a decision or failed only on the application, plus a transaction when it counted usage.
        if !endpoint.recording { master.note(providerKey: providerKey, authorizations: 1, transactions: 0, at: now) }
        do {
            let outcome = try await run(params, providerKey: providerKey, endpoint: endpoint, extensions: extensions)
            if endpoint.recording { master.note(providerKey: providerKey, authorizations: 1, transactions: outcome.counted ? 1 : 0, at: now) }
            return outcome.response
        } catch let failure as MeteringFailure where endpoint.recording && failure.code == "application_not_found" {
            master.note(providerKey: providerKey, authorizations: 1, transactions: 0, at: now)
            throw failure
        }
    }

    /// The call after its provider key is known; `counted` tells whether usage was recorded.
    private func run(_ params: RackParameters, providerKey: String, endpoint: ServiceManagementAPI.Endpoint,
                     extensions: Extensions) async throws -> (response: MeteringResponse, counted: Bool) {
        if params["user_id"] != nil { throw MeteringFailure.endUsers }
        if let usage = params["usage"], !usage.isHash { throw MeteringFailure.usageNotAHash }
        let service: MeteredService
        if let cached = cachedService(params, providerKey: providerKey) { service = cached } else { service = try await loadService(params, providerKey: providerKey) }
        let appIDParam = Self.normalized(params, "app_id")
        let userKey = Self.normalized(params, "user_key")
        if endpoint.oauth, appIDParam == nil { throw MeteringFailure.applicationNotFound(nil) }
        if appIDParam != nil, userKey != nil { throw MeteringFailure.authenticationError }
        let appID: String?
        if service.backendVersion == "1", !endpoint.oauth {
            var id = userKey.flatMap { configuration.cachedApplicationID(serviceID: service.id, userKey: $0) } ?? nil
            if id == nil, let userKey { id = try await configuration.applicationID(serviceID: service.id, userKey: userKey) }
            guard let id else {
                throw MeteringFailure.userKeyInvalid(userKey)
            }
            appID = id
        } else {
            appID = appIDParam
        }
        // Reads answered from the configuration cache first, without suspending (see `MeteringConfiguration`).
        var app = appID.flatMap { configuration.cachedApplication(serviceID: service.id, id: $0) } ?? nil
        if app == nil, let appID { app = try await configuration.application(serviceID: service.id, id: appID) }
        guard let app else { throw MeteringFailure.applicationNotFound(appID) }
        let appKey = params.string("app_key")?.trimmingWhitespace
        let keys: [String], hierarchy: MetricHierarchy, limits: [PlanLimit]
        if let hit = configuration.cachedApplicationKeys(serviceID: service.id, applicationID: app.id) {
            keys = hit
        } else {
            keys = try await configuration.applicationKeys(serviceID: service.id, applicationID: app.id)
        }
        if let hit = configuration.cachedMetrics(serviceID: service.id) { hierarchy = hit } else { hierarchy = try await configuration.metrics(serviceID: service.id) }
        if let hit = configuration.cachedLimits(serviceID: service.id, planID: app.planID) {
            limits = hit
        } else {
            limits = try await configuration.limits(serviceID: service.id, planID: app.planID, hierarchy: hierarchy)
        }

        var status = ServiceManagementXML.Status(authorized: false, reason: nil, plan: app.planName, reports: [])
        if endpoint.oauth {
            let redirectElement = params.string("redirect_url") == nil && params.string("redirect_uri") != nil ? "redirect_uri" : "redirect_url"
            status.application = .init(id: app.id, key: keys.first, redirectURL: app.redirectURL, redirectElementName: redirectElement)
        }
        if extensions.listAppKeys { status.appKeys = (app.id, service.id, keys) }

        // The referrer filters are read only when the chain gets to them, from the cache when it holds them.
        let cachedFilters = service.referrerFiltersRequired ? configuration.cachedReferrerFilters(serviceID: service.id, applicationID: app.id) : []
        var validation = validate(params, endpoint: endpoint, service: service, app: app, appKey: appKey, keys: keys, referrerFilters: cachedFilters)
        if case .needsReferrerFilters = validation {
            let filters = try await configuration.referrerFilters(serviceID: service.id, applicationID: app.id)
            validation = validate(params, endpoint: endpoint, service: service, app: app, appKey: appKey, keys: keys, referrerFilters: filters)
        }
        if case .rejected(let rejection) = validation {
            return (reply(status, rejection: rejection, outcome: nil, hierarchy: hierarchy, usage: nil, extensions: extensions), false)
        }

        // Limits: usage names and values are validated here (404 metric_invalid, 403 usage_value_invalid).
        var usage: [String: UsageValue]?
        var recorded: [(metricID: String, value: UsageValue)] = []
        if let entries = params["usage"]?.entries {
            let pairs = entries.map { ($0.0, $0.1.string ?? "") }
            do { usage = try LimitEvaluation.process(pairs, hierarchy: hierarchy, flat: extensions.flatUsage) } catch { throw MeteringFailure(error) }
            // A value of exactly "0" is checked but not reported, as apisonator drops it before queueing.
            let reportedPairs = pairs.filter { $0.1 != "0" }
            if endpoint.recording, !reportedPairs.isEmpty {
                let reportedUsage = reportedPairs.count == pairs.count ? usage ?? [:]
                    : (try? LimitEvaluation.process(reportedPairs, hierarchy: hierarchy, flat: extensions.flatUsage)) ?? [:]
                recorded = hierarchy.metrics.compactMap { m in reportedUsage[m.id].map { (m.id, $0) } }
            }
        }
        let keysByLimit = limits.map { ApisonatorKeys.applicationUsage(service.id, app: app.id, metric: $0.metricID, $0.period, at: now) }
        var stored: [Int64]
        var authorized: Bool
        var counted = false
        if endpoint.recording {
            var guards = zip(limits, keysByLimit).map { limit, key -> CounterGuard in
                guard let usage else { return CounterGuard(key: key, maxValue: limit.maxValue, change: nil) }
                guard let change = usage[limit.metricID] else { return CounterGuard(key: key, maxValue: nil, change: nil) }
                return CounterGuard(key: key, maxValue: limit.maxValue, change: change)
            }
            var commands: [StorageCommand] = []
            var trafficGuards = 0
            if !recorded.isEmpty {
                let code = params["log"]?["code"]?.string.flatMap { Int($0.trimmingWhitespace) }
                commands.append(.usage(UsageWrite(serviceID: service.id, applicationID: app.id, timestamp: now, values: recorded, responseCode: code)))
                if let traffic {
                    let additions = traffic.additions(serviceID: service.id, applicationID: app.id, at: now)
                    trafficGuards = additions.guards.count
                    guards += additions.guards
                    commands += additions.writes
                }
            }
            let check = try await counters.checkAndApply(guards, commands)
            stored = Array(check.values.prefix(limits.count))
            authorized = check.applied
            counted = check.applied && !commands.isEmpty
            if counted {
                // Events and alerts that cannot be recorded must not fail the call that counted.
                if trafficGuards > 0 {
                    try? await traffic?.applied(serviceID: service.id, applicationID: app.id, at: now, before: check.values[limits.count...])
                }
                // A service known to want no alerts is not asked again.
                if configuration.cachedAlertLevels(serviceID: service.id)?.isEmpty != true {
                    _ = try? await UtilizationAlerts(configuration: configuration, hook: alertsHook).check(serviceID: service.id, applicationID: app.id, now: now)
                }
            }
        } else {
            stored = keysByLimit.isEmpty ? [] : try await counters.get(keysByLimit).map { $0.flatMap { Int64($0) } ?? 0 }
            authorized = true
        }
        var values: [StoredCounter: Int64] = [:]
        for (i, limit) in limits.enumerated() { values[StoredCounter(metricID: limit.metricID, period: limit.period)] = stored[i] }
        let outcome = LimitEvaluation.evaluate(limits: limits, hierarchy: hierarchy, stored: { values[StoredCounter(metricID: $0, period: $1)] ?? 0 },
                                               usage: usage, recording: endpoint.recording && authorized, now: now)
        authorized = authorized && outcome.authorized
        let rejection = authorized ? nil : Rejection(code: "limits_exceeded", reason: "usage limits are exceeded")
        return (reply(status, rejection: rejection, outcome: outcome, hierarchy: hierarchy, usage: usage, extensions: extensions), counted)
    }

    /// A limit's counter as read for this call (a pair rather than a joined string: nothing to allocate per lookup).
    struct StoredCounter: Hashable {
        let metricID: String
        let period: LimitPeriod
    }

    struct Rejection: Sendable {
        var code: String
        var reason: String
        var redirectElement: String?
    }

    enum Validation {
        case passed
        case rejected(Rejection)
        /// The chain got to the referrer check without the application's filters: read them and validate again.
        case needsReferrerFilters
    }

    /// The validators before Limits, in the chain of the endpoint and service mode (§2.3). `referrerFilters` is nil
    /// when they have not been read yet.
    func validate(_ params: RackParameters, endpoint: ServiceManagementAPI.Endpoint, service: MeteredService, app: MeteredApplication,
                  appKey: String?, keys: [String], referrerFilters: [String]?) -> Validation {
        func keyRejection(_ key: String?) -> Rejection {
            guard let key, !key.isEmpty else { return Rejection(code: "application_key_invalid", reason: "application key is missing") }
            return Rejection(code: "application_key_invalid", reason: "application key \"\(key)\" is invalid")
        }
        if endpoint.oauth, service.backendVersion != "oauth" {
            return .rejected(Rejection(code: "oauth_not_enabled", reason: "oauth is not enabled"))
        }
        if endpoint.oauth || service.backendVersion == "oauth" {
            // OAuthKey: an absent key passes; a present one must be one of the app's keys, even an empty one.
            if let appKey, appKey.isEmpty || !keys.contains(where: { constantTimeEquals($0, appKey) }) { return .rejected(keyRejection(appKey)) }
        } else if service.backendVersion != "1", !keys.isEmpty {
            guard let appKey, keys.contains(where: { constantTimeEquals($0, appKey) }) else { return .rejected(keyRejection(appKey)) }
        }
        if endpoint.oauth {
            let (given, field): (String?, String) = params.string("redirect_url") != nil
                ? (params.string("redirect_url"), "redirect_url") : (params.string("redirect_uri"), "redirect_uri")
            if let given, !given.isEmpty, given != app.redirectURL {
                return .rejected(Rejection(code: "\(field)_invalid", reason: "\(field) \"\(given)\" is invalid"))
            }
        }
        if service.referrerFiltersRequired {
            guard let filters = referrerFilters else { return .needsReferrerFilters }
            let referrer = params.string("referrer")
            if !filters.isEmpty, referrer != "*" {
                guard let referrer, !referrer.isEmpty else { return .rejected(Rejection(code: "referrer_not_allowed", reason: "referrer is missing")) }
                if !filters.contains(where: { ReferrerFilter.matches(filter: $0, referrer: referrer) }) {
                    return .rejected(Rejection(code: "referrer_not_allowed", reason: "referrer \"\(referrer)\" is not allowed"))
                }
            }
        }
        if app.state != "active" { return .rejected(Rejection(code: "application_not_active", reason: "application is not active")) }
        if !service.isActive { return .rejected(Rejection(code: "service_not_active", reason: "service is not active")) }
        return .passed
    }

    func reply(_ base: ServiceManagementXML.Status, rejection: Rejection?, outcome: LimitEvaluation.Outcome?, hierarchy: MetricHierarchy,
               usage: [String: UsageValue]?, extensions: Extensions) -> MeteringResponse {
        var status = base
        status.authorized = rejection == nil
        status.reason = rejection?.reason
        if let outcome {
            status.reports = outcome.reports.map {
                ServiceManagementXML.UsageReport(metric: $0.metricName, period: $0.period, start: $0.periodStart, end: $0.periodEnd,
                                                 maxValue: $0.maxValue, currentValue: $0.shownValue, exceeded: $0.exceeded)
            }
            if extensions.hierarchy {
                status.hierarchy = outcome.reports.map { r in (r.metricName, hierarchy.children(of: r.metricID).map(\.name)) }
            }
        }
        var response = MeteringResponse.xml(rejection == nil ? 200 : 409, bytes: extensions.noBody ? [] : status.renderBytes(), noBody: extensions.noBody)
        if let rejection, extensions.rejectionReasonHeader { response.headers.append(("3scale-rejection-reason", rejection.code)) }
        if extensions.limitHeaders, let outcome, rejection == nil || rejection?.code == "limits_exceeded" {
            let h = LimitEvaluation.limitHeaders(outcome, hierarchy: hierarchy, usage: usage, now: now)
            response.headers.append(("3scale-limit-remaining", String(h.remaining)))
            response.headers.append(("3scale-limit-reset", String(h.reset)))
            if let max = h.maxValue { response.headers.append(("3scale-limit-max-value", String(max))) }
        }
        return response
    }
}

/// Referrer filters: the filter is literal text where `*` matches any sequence, matched against the whole
/// referrer (apisonator's default, anchored matching).
enum ReferrerFilter {
    static func matches(filter: String, referrer: String) -> Bool {
        let f = Array(filter.utf8), r = Array(referrer.utf8)
        // Iterative wildcard matching with backtracking to the last star.
        var fi = 0, ri = 0, star = -1, mark = 0
        while ri < r.count {
            if fi < f.count, f[fi] == UInt8(ascii: "*") {
                star = fi
                mark = ri
                fi += 1
            } else if fi < f.count, f[fi] == r[ri] {
                fi += 1
                ri += 1
            } else if star >= 0 {
                fi = star + 1
                mark += 1
                ri = mark
            } else {
                return false
            }
        }
        while fi < f.count, f[fi] == UInt8(ascii: "*") { fi += 1 }
        return fi == f.count
    }
}
