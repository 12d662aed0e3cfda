import PorticoCore
import PorticoMeteringStore

/// apisonator's event queue (reference/service-management-api.md §8.7): events scored by id in
/// `events/queue`, read and acknowledged by porta through `/internal/events`.
public struct MeteringEvents: Sendable {
    let storage: any MeteringStorage
    /// Told about every queued event (porta's `CONFIG_EVENTS_HOOK`); nil when no hook is configured.
    let hook: EventsHookPinger?

    public init(storage: any MeteringStorage, hook: EventsHookPinger? = nil) {
        self.storage = storage
        self.hook = hook
    }

    /// Takes the next value of a counter key atomically (INCR's reply).
    static func nextID(_ key: String, storage: any MeteringStorage) async throws -> Int64 {
        let check = try await storage.checkAndApply([CounterGuard(key: key, maxValue: nil, change: .increment(1))], [.incrementBy(key, 1)])
        return (check.values.first ?? 0) + 1
    }

    @discardableResult
    public func record(type: String, object: JSONObject, at now: Timestamp) async throws -> Int64 {
        let id = try await Self.nextID(ApisonatorKeys.eventsID, storage: storage)
        let event: JSONValue = .object(["id": .int(id), "type": .string(type), "timestamp": .string(IntegrationErrorLog.format(now)),
                                        "object": .object(object)])
        try await storage.apply([.sortedSetAdd(ApisonatorKeys.eventsQueue, score: id, member: event.serializedString)])
        await hook?.eventQueued()
        return id
    }

    /// Pending events, oldest first; members that are not JSON events are skipped.
    public func list() async throws -> [JSONValue] {
        try await storage.sortedSetMembers(ApisonatorKeys.eventsQueue).compactMap { entry in
            guard var object = (try? JSONParser.parse(entry.member))?.objectValue else { return nil }
            if object["id"] == nil { object["id"] = .int(entry.score) }
            return .object(object)
        }
    }

    /// Deletes the events with ids up to `upTo` (inclusive), or only `id`; returns how many there were.
    public func delete(id: Int64? = nil, upTo: Int64? = nil) async throws -> Int {
        let (low, high) = id.map { ($0, $0) } ?? (Int64.min, upTo ?? Int64.min)
        let count = try await storage.sortedSetMembers(ApisonatorKeys.eventsQueue).filter { $0.score >= low && $0.score <= high }.count
        if count > 0 { try await storage.apply([.sortedSetRemoveByScore(ApisonatorKeys.eventsQueue, min: low, max: high)]) }
        return count
    }
}

/// Utilization alerts (§8.7): after an application's usage changes, its utilization — the highest
/// current/max over its plan's limits — is binned to 3scale's levels (50, 80, 90, 100, 120, 150, 200, 300 %).
/// When the service has that level enabled (`/internal/services/{id}/alert_limits`) and the application was
/// not alerted at that level in the last 24 hours, an `alert` event is queued for porta.
public struct UtilizationAlerts: Sendable {
    let configuration: MeteringConfiguration
    let events: MeteringEvents
    static let levels = [0, 50, 80, 90, 100, 120, 150, 200, 300]
    static let dedupSeconds: Int64 = 86_400

    public init(configuration: MeteringConfiguration, hook: EventsHookPinger? = nil) {
        self.configuration = configuration
        self.events = MeteringEvents(storage: configuration.storage, hook: hook)
    }

    /// The highest level not above `percent`.
    static func level(forPercent percent: Double) -> Int {
        levels.last { Double($0) <= percent } ?? 0
    }

    /// Checks one application; cheap (one cached read) when the service has no alert levels enabled.
    /// Returns the alert level raised, if any.
    @discardableResult
    public func check(serviceID sid: String, applicationID aid: String, now: Timestamp) async throws -> Int? {
        let enabled = try await configuration.alertLevels(serviceID: sid)
        guard !enabled.isEmpty, let app = try await configuration.application(serviceID: sid, id: aid) else { return nil }
        let hierarchy = try await configuration.metrics(serviceID: sid)
        let limits = try await configuration.limits(serviceID: sid, planID: app.planID, hierarchy: hierarchy).filter { $0.maxValue > 0 }
        guard !limits.isEmpty else { return nil }
        let values = try await configuration.storage.get(limits.map {
            ApisonatorKeys.applicationUsage(sid, app: aid, metric: $0.metricID, $0.period, at: now)
        }).map { $0.flatMap { Int64($0) } ?? 0 }
        var worst: (ratio: Double, limit: PlanLimit, value: Int64)?
        for (limit, value) in zip(limits, values) {
            let ratio = Double(value) / Double(limit.maxValue)
            if worst == nil || ratio > worst!.ratio { worst = (ratio, limit, value) }
        }
        guard let worst else { return nil }
        let level = Self.level(forPercent: worst.ratio * 100)
        guard level > 0, enabled.contains(level) else { return nil }
        // One alert per application and level per 24 hours, decided atomically across processes.
        let marker = ApisonatorKeys.alertNotified(sid, app: aid, level: level)
        let claimed = try await configuration.storage.checkAndApply([CounterGuard(key: marker, maxValue: 0, change: nil)],
                                                                    [.setExpiring(marker, "1", seconds: Self.dedupSeconds)])
        guard claimed.applied else { return nil }
        let alertID = try await MeteringEvents.nextID(ApisonatorKeys.alertsCurrentID, storage: configuration.storage)
        let metricName = hierarchy.metric(id: worst.limit.metricID)?.name ?? worst.limit.metricID
        try await events.record(type: "alert", object: [
            "id": .int(alertID), "utilization": .int(Int64(level)), "max_utilization": .double(worst.ratio),
            "application_id": .string(aid), "service_id": .string(sid), "timestamp": .string(IntegrationErrorLog.format(now)),
            "limit": .string("\(metricName) per \(worst.limit.period.rawValue): \(worst.value)/\(worst.limit.maxValue)"),
        ], at: now)
        return level
    }
}
