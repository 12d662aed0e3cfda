import PorticoCore
import Synchronization

/// A product as metering knows it (apisonator's "service").
public struct MeteredService: Sendable, Equatable {
    public var id: String
    public var providerKey: String
    /// `1` (user_key), `2` (app_id/app_key) or `oauth`.
    public var backendVersion: String
    public var referrerFiltersRequired: Bool
    /// `active` or `suspended`.
    public var state: String

    public init(id: String, providerKey: String, backendVersion: String, referrerFiltersRequired: Bool, state: String) {
        self.id = id
        self.providerKey = providerKey
        self.backendVersion = backendVersion
        self.referrerFiltersRequired = referrerFiltersRequired
        self.state = state
    }

    public var isActive: Bool { state == "active" }
}

/// An application as metering knows it.
public struct MeteredApplication: Sendable, Equatable {
    public var serviceID: String
    public var id: String
    public var state: String
    public var planID: String
    public var planName: String
    public var redirectURL: String?

    public init(serviceID: String, id: String, state: String, planID: String, planName: String, redirectURL: String?) {
        self.serviceID = serviceID
        self.id = id
        self.state = state
        self.planID = planID
        self.planName = planName
        self.redirectURL = redirectURL
    }
}

/// Metering's configuration in apisonator's key layout: the reads the Service Management API needs (cached,
/// and invalidated by every write made through this object) and the writes of the internal API and of admin's
/// sync.
///
/// Cache staleness: the embedded store has one writer, this object, so its cache is never stale. On Redis,
/// other writers (another replica's internal API, an existing porta) are seen after at most `cacheTTL`.
public final class MeteringConfiguration: Sendable {
    public let storage: any MeteringStorage
    let cacheTTLMilliseconds: Int64?
    let clockMilliseconds: @Sendable () -> Int64
    let cache = Mutex(ConfigurationCache())

    public init(storage: any MeteringStorage, cacheTTLMilliseconds: Int64?, clockMilliseconds: @escaping @Sendable () -> Int64) {
        self.storage = storage
        self.cacheTTLMilliseconds = cacheTTLMilliseconds
        self.clockMilliseconds = clockMilliseconds
    }

    // MARK: reads

    public func service(id: String) async throws -> MeteredService? {
        try await cached(Self.serviceSlot(id)) { () async throws -> MeteredService? in
            let values = try await storage.get([
                ApisonatorKeys.serviceProviderKey(id), ApisonatorKeys.serviceBackendVersion(id),
                ApisonatorKeys.serviceReferrerFiltersRequired(id), ApisonatorKeys.serviceState(id),
            ])
            return values[0].map {
                MeteredService(id: id, providerKey: $0, backendVersion: values[1] ?? "2", referrerFiltersRequired: values[2] == "1" || values[2] == "true",
                               state: (values[3] ?? "active") == "active" ? "active" : "suspended")
            }
        }
    }

    public func defaultServiceID(providerKey: String) async throws -> String? {
        try await cached(Self.defaultServiceSlot(providerKey)) { () async throws -> String? in
            try await storage.get([ApisonatorKeys.providerDefaultServiceID(providerKey)])[0]
        }
    }

    public func serviceIDs(providerKey: String) async throws -> [String] {
        try await storage.members(ApisonatorKeys.providerServiceIDs(providerKey))
    }

    public func serviceTokenIsValid(_ token: String, serviceID: String) async throws -> Bool {
        try await cached(Self.serviceTokenSlot(token, serviceID)) {
            try await storage.exists(ApisonatorKeys.serviceToken(token, serviceID: serviceID))
        }
    }

    public func application(serviceID sid: String, id aid: String) async throws -> MeteredApplication? {
        try await cached(Self.applicationSlot(sid, aid)) { () async throws -> MeteredApplication? in
            let v = try await storage.get(["state", "plan_id", "plan_name", "redirect_url"].map { ApisonatorKeys.application(sid, aid, $0) })
            return v[0].map { MeteredApplication(serviceID: sid, id: aid, state: $0, planID: v[1] ?? "", planName: v[2] ?? "", redirectURL: v[3]) }
        }
    }

    public func applicationKeys(serviceID sid: String, applicationID aid: String) async throws -> [String] {
        try await cached(Self.applicationKeysSlot(sid, aid)) { try await storage.members(ApisonatorKeys.applicationKeys(sid, aid)).sorted() }
    }

    public func referrerFilters(serviceID sid: String, applicationID aid: String) async throws -> [String] {
        try await cached(Self.referrerFiltersSlot(sid, aid)) {
            try await storage.members(ApisonatorKeys.applicationReferrerFilters(sid, aid)).sorted()
        }
    }

    public func applicationID(serviceID sid: String, userKey: String) async throws -> String? {
        try await cached(Self.userKeySlot(sid, userKey)) { () async throws -> String? in
            try await storage.get([ApisonatorKeys.userKey(sid, userKey)])[0]
        }
    }

    public func metrics(serviceID sid: String) async throws -> MetricHierarchy {
        try await cached(Self.metricsSlot(sid)) {
            let ids = try await storage.members(ApisonatorKeys.metricIDs(sid)).sorted { ($0.count, $0) < ($1.count, $1) }
            var keys: [String] = []
            for id in ids {
                keys.append(ApisonatorKeys.metric(sid, id, "name"))
                keys.append(ApisonatorKeys.metric(sid, id, "parent_id"))
            }
            let values = keys.isEmpty ? [] : try await storage.get(keys)
            var metrics: [MeteredMetric] = []
            for (i, id) in ids.enumerated() {
                guard let name = values[2 * i] else { continue }
                metrics.append(MeteredMetric(id: id, name: name, parentID: values[2 * i + 1]))
            }
            return MetricHierarchy(metrics)
        }
    }

    /// The plan's limits on the service's metrics.
    public func limits(serviceID sid: String, planID: String, hierarchy: MetricHierarchy) async throws -> [PlanLimit] {
        try await cached(Self.limitsSlot(sid, planID)) {
            var candidates: [(String, LimitPeriod)] = []
            for metric in hierarchy.metrics {
                for period in LimitPeriod.longestFirst { candidates.append((metric.id, period)) }
            }
            let values = candidates.isEmpty ? [] : try await storage.get(candidates.map {
                ApisonatorKeys.usageLimit(sid, plan: planID, metric: $0.0, $0.1)
            })
            var limits: [PlanLimit] = []
            for (i, (metric, period)) in candidates.enumerated() {
                if let raw = values[i], let max = Int64(raw) { limits.append(PlanLimit(metricID: metric, period: period, maxValue: max)) }
            }
            return limits
        }
    }

    /// Cached: every authrep and report checks it to decide whether utilization alerts are wanted.
    public func alertLevels(serviceID sid: String) async throws -> [Int] {
        try await cached(Self.alertLevelsSlot(sid)) { try await storage.members(ApisonatorKeys.alertLevels(sid)).compactMap { Int($0) }.sorted() }
    }

    // MARK: reads from the cache alone

    // What the reads above would return when the cache holds it, without suspending. The authorization path asks
    // these first: every call of an `async` function starts with a check of the task's executor under a lock
    // (~5 % of an authrep's CPU time over its twenty-odd calls), and nearly all of its reads are cache hits.

    public func cachedService(id: String) -> MeteredService?? { peek(Self.serviceSlot(id)) }
    public func cachedDefaultServiceID(providerKey: String) -> String?? { peek(Self.defaultServiceSlot(providerKey)) }
    public func cachedApplicationID(serviceID sid: String, userKey: String) -> String?? { peek(Self.userKeySlot(sid, userKey)) }
    public func cachedApplication(serviceID sid: String, id aid: String) -> MeteredApplication?? { peek(Self.applicationSlot(sid, aid)) }
    public func cachedApplicationKeys(serviceID sid: String, applicationID aid: String) -> [String]? { peek(Self.applicationKeysSlot(sid, aid)) }
    public func cachedMetrics(serviceID sid: String) -> MetricHierarchy? { peek(Self.metricsSlot(sid)) }
    public func cachedLimits(serviceID sid: String, planID: String) -> [PlanLimit]? { peek(Self.limitsSlot(sid, planID)) }
    public func cachedAlertLevels(serviceID sid: String) -> [Int]? { peek(Self.alertLevelsSlot(sid)) }
    public func cachedReferrerFilters(serviceID sid: String, applicationID aid: String) -> [String]? { peek(Self.referrerFiltersSlot(sid, aid)) }

    /// Where each read is cached: its key, the service whose changes invalidate it, and the kind of its value.
    struct Slot<T: Sendable> {
        let key: ConfigurationCache.Key
        let bucket: String
        let kind: CachedKind<T>
    }

    static func serviceSlot(_ id: String) -> Slot<MeteredService?> { Slot(key: .init(.service, id), bucket: id, kind: .service) }
    static func serviceTokenSlot(_ token: String, _ sid: String) -> Slot<Bool> { Slot(key: .init(.serviceToken, token), bucket: sid, kind: .flag) }
    static func defaultServiceSlot(_ providerKey: String) -> Slot<String?> { Slot(key: .init(.defaultService, providerKey), bucket: "", kind: .text) }
    static func userKeySlot(_ sid: String, _ userKey: String) -> Slot<String?> { Slot(key: .init(.userKey, userKey), bucket: sid, kind: .text) }
    static func applicationSlot(_ sid: String, _ aid: String) -> Slot<MeteredApplication?> { Slot(key: .init(.application, aid), bucket: sid, kind: .application) }
    static func applicationKeysSlot(_ sid: String, _ aid: String) -> Slot<[String]> { Slot(key: .init(.applicationKeys, aid), bucket: sid, kind: .list) }
    static func metricsSlot(_ sid: String) -> Slot<MetricHierarchy> { Slot(key: .init(.metrics, ""), bucket: sid, kind: .metrics) }
    static func referrerFiltersSlot(_ sid: String, _ aid: String) -> Slot<[String]> { Slot(key: .init(.referrerFilters, aid), bucket: sid, kind: .list) }
    static func alertLevelsSlot(_ sid: String) -> Slot<[Int]> { Slot(key: .init(.alertLevels, ""), bucket: sid, kind: .levels) }
    static func limitsSlot(_ sid: String, _ planID: String) -> Slot<[PlanLimit]> { Slot(key: .init(.limits, planID), bucket: sid, kind: .limits) }

    // MARK: writes (the internal API's operations)

    /// Saves a service; the provider's first service becomes its default unless `makeDefault` says otherwise.
    public func saveService(_ service: MeteredService, makeDefault: Bool?) async throws {
        let sid = service.id
        var commands: [StorageCommand] = []
        if let previous = try await self.service(id: sid), previous.providerKey != service.providerKey {
            commands.append(.setRemove(ApisonatorKeys.providerServiceIDs(previous.providerKey), [sid]))
        }
        commands += [
            .set(ApisonatorKeys.serviceProviderKey(sid), service.providerKey),
            .set(ApisonatorKeys.serviceBackendVersion(sid), service.backendVersion),
            .set(ApisonatorKeys.serviceReferrerFiltersRequired(sid), service.referrerFiltersRequired ? "1" : "0"),
            .set(ApisonatorKeys.serviceState(sid), service.isActive ? "active" : "suspended"),
            .setAdd(ApisonatorKeys.providerServiceIDs(service.providerKey), [sid]),
            .setAdd(ApisonatorKeys.servicesSet, [sid]),
            .setAdd(ApisonatorKeys.providerKeysSet, [service.providerKey]),
        ]
        let currentDefault = try await storage.get([ApisonatorKeys.providerDefaultServiceID(service.providerKey)])[0]
        if makeDefault == true || (makeDefault == nil && currentDefault == nil) {
            commands.append(.set(ApisonatorKeys.providerDefaultServiceID(service.providerKey), sid))
        }
        try await storage.apply(commands)
        invalidate(serviceID: sid, providerKey: service.providerKey)
    }

    public enum DeleteServiceOutcome: Sendable, Equatable { case deleted, notFound, isDefaultWithOthers }

    /// Removes a service's attributes and memberships (not its applications, metrics or counters, as
    /// apisonator does). A default service with siblings is refused unless `reassignDefault`, which makes
    /// another of the provider's services the default first.
    public func deleteService(id sid: String, reassignDefault: Bool) async throws -> DeleteServiceOutcome {
        guard let service = try await service(id: sid) else { return .notFound }
        let pk = service.providerKey
        let siblings = try await serviceIDs(providerKey: pk).filter { $0 != sid }.sorted { ($0.count, $0) < ($1.count, $1) }
        var commands: [StorageCommand] = []
        if try await defaultServiceID(providerKey: pk) == sid {
            if let next = siblings.first {
                guard reassignDefault else { return .isDefaultWithOthers }
                commands.append(.set(ApisonatorKeys.providerDefaultServiceID(pk), next))
            } else {
                commands.append(.delete(ApisonatorKeys.providerDefaultServiceID(pk)))
            }
        }
        commands += [
            .delete(ApisonatorKeys.serviceProviderKey(sid)), .delete(ApisonatorKeys.serviceBackendVersion(sid)),
            .delete(ApisonatorKeys.serviceReferrerFiltersRequired(sid)), .delete(ApisonatorKeys.serviceState(sid)),
            .setRemove(ApisonatorKeys.providerServiceIDs(pk), [sid]), .setRemove(ApisonatorKeys.servicesSet, [sid]),
            .delete(ApisonatorKeys.integrationErrors(sid)),
        ]
        if siblings.isEmpty { commands.append(.setRemove(ApisonatorKeys.providerKeysSet, [pk])) }
        try await storage.apply(commands)
        invalidate(serviceID: sid, providerKey: pk)
        return .deleted
    }

    public enum ChangeProviderKeyOutcome: Sendable, Equatable { case changed, invalidKeys, newKeyExists, oldKeyMissing }

    public func changeProviderKey(from old: String, to new: String) async throws -> ChangeProviderKeyOutcome {
        guard !old.isEmpty, !new.isEmpty, old != new else { return .invalidKeys }
        guard try await serviceIDs(providerKey: new).isEmpty else { return .newKeyExists }
        let ids = try await serviceIDs(providerKey: old)
        guard !ids.isEmpty else { return .oldKeyMissing }
        var commands: [StorageCommand] = ids.map { .set(ApisonatorKeys.serviceProviderKey($0), new) }
        commands.append(.setAdd(ApisonatorKeys.providerServiceIDs(new), ids))
        commands.append(.delete(ApisonatorKeys.providerServiceIDs(old)))
        if let d = try await defaultServiceID(providerKey: old) {
            commands.append(.set(ApisonatorKeys.providerDefaultServiceID(new), d))
            commands.append(.delete(ApisonatorKeys.providerDefaultServiceID(old)))
        }
        commands.append(.setRemove(ApisonatorKeys.providerKeysSet, [old]))
        commands.append(.setAdd(ApisonatorKeys.providerKeysSet, [new]))
        try await storage.apply(commands)
        for id in ids { invalidate(serviceID: id, providerKey: old) }
        invalidate(serviceID: nil, providerKey: new)
        return .changed
    }

    public func saveServiceToken(_ token: String, serviceID sid: String) async throws {
        try await storage.apply([.hashSet(ApisonatorKeys.serviceToken(token, serviceID: sid), field: "permissions", value: "")])
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func deleteServiceToken(_ token: String, serviceID sid: String) async throws -> Bool {
        let key = ApisonatorKeys.serviceToken(token, serviceID: sid)
        let existed = try await storage.exists(key)
        try await storage.apply([.delete(key)])
        invalidate(serviceID: sid, providerKey: nil)
        return existed
    }

    public func saveApplication(_ app: MeteredApplication) async throws {
        let sid = app.serviceID, aid = app.id
        try await storage.apply([
            .set(ApisonatorKeys.application(sid, aid, "state"), app.state),
            .set(ApisonatorKeys.application(sid, aid, "plan_id"), app.planID),
            .set(ApisonatorKeys.application(sid, aid, "plan_name"), app.planName),
            app.redirectURL.map { .set(ApisonatorKeys.application(sid, aid, "redirect_url"), $0) }
                ?? .delete(ApisonatorKeys.application(sid, aid, "redirect_url")),
            .setAdd(ApisonatorKeys.serviceApplications(sid), [aid]),
        ])
        invalidate(serviceID: sid, providerKey: nil)
    }

    /// Removes the application's attributes and membership; like apisonator, keys, referrer filters and the
    /// user_key mapping stay unless removed explicitly.
    public func deleteApplication(serviceID sid: String, id aid: String) async throws -> Bool {
        guard try await application(serviceID: sid, id: aid) != nil else { return false }
        try await storage.apply(["state", "plan_id", "plan_name", "redirect_url"].map { .delete(ApisonatorKeys.application(sid, aid, $0)) }
            + [.setRemove(ApisonatorKeys.serviceApplications(sid), [aid])])
        invalidate(serviceID: sid, providerKey: nil)
        return true
    }

    public func setUserKey(serviceID sid: String, userKey: String, applicationID aid: String) async throws {
        try await storage.apply([.set(ApisonatorKeys.userKey(sid, userKey), aid)])
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func deleteUserKey(serviceID sid: String, userKey: String) async throws {
        try await storage.apply([.delete(ApisonatorKeys.userKey(sid, userKey))])
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func addApplicationKeys(serviceID sid: String, applicationID aid: String, _ values: [String]) async throws {
        try await changeSet(ApisonatorKeys.applicationKeys(sid, aid), adding: values, removing: [], serviceID: sid)
    }

    public func removeApplicationKeys(serviceID sid: String, applicationID aid: String, _ values: [String]) async throws {
        try await changeSet(ApisonatorKeys.applicationKeys(sid, aid), adding: [], removing: values, serviceID: sid)
    }

    /// Makes the application's keys exactly `keys`.
    public func replaceApplicationKeys(serviceID sid: String, applicationID aid: String, _ keys: [String]) async throws {
        let current = try await applicationKeys(serviceID: sid, applicationID: aid)
        try await changeSet(ApisonatorKeys.applicationKeys(sid, aid), adding: keys.filter { !current.contains($0) },
                            removing: current.filter { !keys.contains($0) }, serviceID: sid)
    }

    public func addReferrerFilters(serviceID sid: String, applicationID aid: String, _ values: [String]) async throws {
        try await changeSet(ApisonatorKeys.applicationReferrerFilters(sid, aid), adding: values, removing: [], serviceID: sid)
    }

    public func removeReferrerFilters(serviceID sid: String, applicationID aid: String, _ values: [String]) async throws {
        try await changeSet(ApisonatorKeys.applicationReferrerFilters(sid, aid), adding: [], removing: values, serviceID: sid)
    }

    /// Makes the application's referrer filters exactly `filters`.
    public func replaceReferrerFilters(serviceID sid: String, applicationID aid: String, _ filters: [String]) async throws {
        let current = try await referrerFilters(serviceID: sid, applicationID: aid)
        try await changeSet(ApisonatorKeys.applicationReferrerFilters(sid, aid), adding: filters.filter { !current.contains($0) },
                            removing: current.filter { !filters.contains($0) }, serviceID: sid)
    }

    private func changeSet(_ key: String, adding: [String], removing: [String], serviceID sid: String) async throws {
        var commands: [StorageCommand] = []
        if !removing.isEmpty { commands.append(.setRemove(key, removing)) }
        if !adding.isEmpty { commands.append(.setAdd(key, adding)) }
        guard !commands.isEmpty else { return }
        try await storage.apply(commands)
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func metric(serviceID sid: String, id: String) async throws -> MeteredMetric? {
        let v = try await storage.get([ApisonatorKeys.metric(sid, id, "name"), ApisonatorKeys.metric(sid, id, "parent_id")])
        return v[0].map { MeteredMetric(id: id, name: $0, parentID: v[1]) }
    }

    /// Creates or updates a metric; a rename frees the old name.
    public func saveMetric(serviceID sid: String, _ metric: MeteredMetric) async throws {
        var commands: [StorageCommand] = []
        if let old = try await self.metric(serviceID: sid, id: metric.id), old.name != metric.name {
            commands.append(.delete(ApisonatorKeys.metricID(sid, name: old.name)))
        }
        commands += [
            .set(ApisonatorKeys.metric(sid, metric.id, "name"), metric.name),
            metric.parentID.map { .set(ApisonatorKeys.metric(sid, metric.id, "parent_id"), $0) } ?? .delete(ApisonatorKeys.metric(sid, metric.id, "parent_id")),
            .set(ApisonatorKeys.metricID(sid, name: metric.name), metric.id),
            .setAdd(ApisonatorKeys.metricIDs(sid), [metric.id]),
        ]
        try await storage.apply(commands)
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func deleteMetric(serviceID sid: String, id: String) async throws -> Bool {
        guard let old = try await metric(serviceID: sid, id: id) else { return false }
        try await storage.apply([
            .delete(ApisonatorKeys.metric(sid, id, "name")), .delete(ApisonatorKeys.metric(sid, id, "parent_id")),
            .delete(ApisonatorKeys.metricID(sid, name: old.name)), .setRemove(ApisonatorKeys.metricIDs(sid), [id]),
        ])
        invalidate(serviceID: sid, providerKey: nil)
        return true
    }

    public func usageLimit(serviceID sid: String, planID: String, metricID: String, period: LimitPeriod) async throws -> Int64? {
        try await storage.get([ApisonatorKeys.usageLimit(sid, plan: planID, metric: metricID, period)])[0].flatMap { Int64($0) }
    }

    public func saveUsageLimit(serviceID sid: String, planID: String, metricID: String, period: LimitPeriod, value: Int64) async throws {
        try await storage.apply([.set(ApisonatorKeys.usageLimit(sid, plan: planID, metric: metricID, period), String(value))])
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func deleteUsageLimit(serviceID sid: String, planID: String, metricID: String, period: LimitPeriod) async throws {
        try await storage.apply([.delete(ApisonatorKeys.usageLimit(sid, plan: planID, metric: metricID, period))])
        invalidate(serviceID: sid, providerKey: nil)
    }

    public static let alertLevelsAllowed: Set<Int> = [0, 50, 80, 90, 100, 120, 150, 200, 300]

    public func addAlertLevel(serviceID sid: String, _ level: Int) async throws {
        try await storage.apply([.setAdd(ApisonatorKeys.alertLevels(sid), [String(level)])])
        invalidate(serviceID: sid, providerKey: nil)
    }

    public func removeAlertLevel(serviceID sid: String, _ level: Int) async throws -> Bool {
        guard try await alertLevels(serviceID: sid).contains(level) else { return false }
        try await storage.apply([.setRemove(ApisonatorKeys.alertLevels(sid), [String(level)])])
        invalidate(serviceID: sid, providerKey: nil)
        return true
    }

    // MARK: cache

    /// The cached value, or `load()`'s, cached unless a write to the service happened while it loaded.
    /// A hit costs one lock and two hash lookups; the clock is read only for entries that expire.
    private func cached<T: Sendable>(_ slot: Slot<T>, _ load: () async throws -> T) async throws -> T {
        let (hit, generation) = lookup(slot.key, bucket: slot.bucket, as: slot.kind)
        if let hit { return hit }
        let value = try await load()
        store(slot.key, slot.kind.wrap(value), bucket: slot.bucket, generation: generation)
        return value
    }

    private func peek<T: Sendable>(_ slot: Slot<T>) -> T? { lookup(slot.key, bucket: slot.bucket, as: slot.kind).hit }

    /// The entry under `key` unless it expired (then it is dropped), else the bucket's generation for storing a load.
    private func lookup<T: Sendable>(_ key: ConfigurationCache.Key, bucket: String, as kind: CachedKind<T>) -> (hit: T?, generation: UInt64) {
        let clock = clockMilliseconds
        return cache.withLock { c -> (T?, UInt64) in
            if let entry = c.buckets[bucket]?[key] {
                guard let expires = entry.expires, expires <= clock() else { return (kind.unwrap(entry.value), 0) }
                c.buckets[bucket]?[key] = nil
                c.count -= 1
            }
            return (nil, c.generations[bucket, default: 0])
        }
    }

    private func store(_ key: ConfigurationCache.Key, _ value: CachedValue, bucket: String, generation: UInt64) {
        let expires = cacheTTLMilliseconds.map { clockMilliseconds() + $0 }
        cache.withLock { c in
            guard c.generations[bucket, default: 0] == generation else { return }
            if c.count >= ConfigurationCache.capacity {
                c.buckets.removeAll(keepingCapacity: true)
                c.count = 0
            }
            c.buckets[bucket, default: [:]][key] = .init(value: value, expires: expires)
            c.count += 1
        }
    }

    /// Forgets everything cached about a service (and a provider key's default service).
    public func invalidate(serviceID: String?, providerKey: String?) {
        cache.withLock { c in
            if let serviceID {
                c.generations[serviceID, default: 0] &+= 1
                if let bucket = c.buckets.removeValue(forKey: serviceID) { c.count -= bucket.count }
            }
            if let providerKey {
                c.generations["", default: 0] &+= 1
                if c.buckets[""]?.removeValue(forKey: .init(.defaultService, providerKey)) != nil { c.count -= 1 }
            }
        }
    }

    public func invalidateAll() {
        cache.withLock { c in
            for key in c.buckets.keys { c.generations[key, default: 0] &+= 1 }
            c.buckets.removeAll()
            c.count = 0
        }
    }
}

struct ConfigurationCache: Sendable {
    struct Entry: Sendable {
        var value: CachedValue
        var expires: Int64?
    }
    /// A bound on memory: when full, the cache starts over (configuration reads are cheap to repeat).
    static let capacity = 200_000
    /// What an entry holds and for which id (application, user key, plan, token; "" for service-wide facts): a
    /// small value rather than a concatenated string, so a lookup allocates nothing.
    struct Key: Hashable, Sendable {
        enum Kind: UInt8 { case service, defaultService, serviceToken, application, applicationKeys, referrerFilters, userKey, metrics, limits, alertLevels }
        let kind: Kind
        let id: String
        init(_ kind: Kind, _ id: String) {
            self.kind = kind
            self.id = id
        }
    }
    /// Entries by the service they describe ("" for provider-level entries), so a write drops one bucket.
    var buckets: [String: [Key: Entry]] = [:]
    var count = 0
    /// Bumped by every invalidation, so a load that raced with a write is not cached.
    var generations: [String: UInt64] = [:]
}

/// A cached configuration read. A closed set of cases rather than `any Sendable`, because casting back from an
/// existential was a measurable part of every authrep (eight cache reads each).
enum CachedValue: Sendable {
    case service(MeteredService?)
    case text(String?)
    case flag(Bool)
    case application(MeteredApplication?)
    case list([String])
    case metrics(MetricHierarchy)
    case limits([PlanLimit])
    case levels([Int])
}

/// How one kind of read is kept in a `CachedValue`.
struct CachedKind<T: Sendable> {
    let wrap: (T) -> CachedValue
    /// nil when the entry holds another kind (a key reused for another read), which then counts as a miss.
    let unwrap: (CachedValue) -> T?
}

extension CachedKind where T == MeteredService? {
    static var service: Self { Self(wrap: CachedValue.service) { if case .service(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == String? {
    static var text: Self { Self(wrap: CachedValue.text) { if case .text(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == Bool {
    static var flag: Self { Self(wrap: CachedValue.flag) { if case .flag(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == MeteredApplication? {
    static var application: Self { Self(wrap: CachedValue.application) { if case .application(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == [String] {
    static var list: Self { Self(wrap: CachedValue.list) { if case .list(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == MetricHierarchy {
    static var metrics: Self { Self(wrap: CachedValue.metrics) { if case .metrics(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == [PlanLimit] {
    static var limits: Self { Self(wrap: CachedValue.limits) { if case .limits(let v) = $0 { v } else { nil } } }
}

extension CachedKind where T == [Int] {
    static var levels: Self { Self(wrap: CachedValue.levels) { if case .levels(let v) = $0 { v } else { nil } } }
}
