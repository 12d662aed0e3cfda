import Logging
import PorticoCore
import PorticoMeteringStore
import Synchronization

/// Porta's events hook (apisonator's `CONFIG_EVENTS_HOOK`): told that events wait in the queue, porta reads
/// them through `GET /internal/events/` and deletes what it has processed.
public protocol EventsHook: Sendable {
    /// POSTs the form `secret=<CONFIG_EVENTS_HOOK_SHARED_SECRET>` to the hook.
    func ping() async throws
}

/// Pings the hook at most once a minute across every metering process sharing the store: the ping is claimed
/// by setting `events/ping` (60 s) only when it is absent, as apisonator does.
public struct EventsHookPinger: Sendable {
    let storage: any MeteringStorage
    let hook: any EventsHook
    let logger: Logger

    public init(storage: any MeteringStorage, hook: any EventsHook, logger: Logger) {
        self.storage = storage
        self.hook = hook
        self.logger = logger
    }

    /// Called after an event is queued. The HTTP call runs in its own task, so no API call waits for porta.
    func eventQueued() async {
        do {
            let claim = try await storage.checkAndApply([CounterGuard(key: ApisonatorKeys.eventsPing, maxValue: 0, change: nil)],
                                                        [.setExpiring(ApisonatorKeys.eventsPing, "1", seconds: ApisonatorKeys.eventsPingTTLSeconds)])
            guard claim.applied else { return }
        } catch {
            logger.warning("metering.events_hook.claim_failed", metadata: ["error": .string("\(error)")])
            return
        }
        let hook = self.hook, logger = self.logger
        Task {
            do { try await hook.ping() } catch {
                // Porta also polls; a failed ping delays its reading of the events by at most a minute.
                logger.warning("metering.events_hook.failed", metadata: ["error": .string("\(error)")])
            }
        }
    }
}

/// `first_traffic` and `first_daily_traffic` events (reference/service-management-api.md §8.7): the first
/// transaction ever counted for an application (its id enters `stats/{service:…}/cinstances`) and its first
/// transaction of each UTC day (the first increment of `daily_traffic/…/{YYYYMMDD}`, kept two days).
///
/// Both are read inside the same atomic step that counts the transaction, so two concurrent first calls raise
/// one event, not two. Once an application's traffic of the current day is recorded, this process remembers it
/// and later calls that day skip the two extra reads and writes.
public final class TrafficEvents: Sendable {
    let events: MeteringEvents
    struct Application: Hashable {
        var serviceID: String
        var applicationID: String
    }
    private let recordedToday = Mutex<(day: Int64, applications: Set<Application>)>((day: 0, applications: []))
    /// Bounds the memory of the day's set; past it the set starts over (costing only the extra reads).
    static let rememberedLimit = 1_000_000

    public init(storage: any MeteringStorage, hook: EventsHookPinger?) {
        events = MeteringEvents(storage: storage, hook: hook)
    }

    static func day(_ t: Timestamp) -> Int64 {
        let s = t.secondsSinceEpoch
        return s >= 0 ? s / 86_400 : -((-s + 86_399) / 86_400)
    }

    /// The guards and writes to add to the atomic step counting a transaction of `aid`, or nothing when this
    /// process already recorded that application's traffic on the transaction's day.
    public func additions(serviceID sid: String, applicationID aid: String, at t: Timestamp) -> (guards: [CounterGuard], writes: [StorageCommand]) {
        let day = Self.day(t)
        let known = recordedToday.withLock { $0.day == day && $0.applications.contains(Application(serviceID: sid, applicationID: aid)) }
        if known { return ([], []) }
        let daily = ApisonatorKeys.dailyTraffic(sid, app: aid, at: t)
        return ([.membership(ApisonatorKeys.serviceCinstances(sid), aid), CounterGuard(key: daily, maxValue: nil, change: nil)],
                [.incrementBy(daily, 1), .expire(daily, seconds: ApisonatorKeys.dailyTrafficTTLSeconds)])
    }

    /// After the step that included `additions` was applied: `before` holds its two guard values (membership,
    /// daily count) as they were before the writes.
    public func applied(serviceID sid: String, applicationID aid: String, at t: Timestamp, before: ArraySlice<Int64>) async throws {
        guard before.count == 2 else { return }
        let wasMember = before[before.startIndex] == 1, dailyBefore = before[before.startIndex + 1]
        let object: JSONObject = ["service_id": .string(sid), "application_id": .string(aid), "timestamp": .string(IntegrationErrorLog.format(t))]
        if !wasMember { try await events.record(type: "first_traffic", object: object, at: t) }
        if dailyBefore == 0 { try await events.record(type: "first_daily_traffic", object: object, at: t) }
        let day = Self.day(t)
        recordedToday.withLock { memo in
            if day > memo.day || memo.applications.count >= Self.rememberedLimit { memo = (day, []) }
            if day == memo.day { memo.applications.insert(Application(serviceID: sid, applicationID: aid)) }
        }
    }

    /// For writes applied outside an authrep (reports): counts `writes` in one atomic step with the traffic
    /// reads of each application, plus `guards`/`extra` of the caller (e.g. a job's applied marker, which can
    /// refuse the step). Returns whether the step was applied.
    public func apply(_ writes: [UsageWrite], guards: [CounterGuard], extra: [StorageCommand], storage: any MeteringStorage) async throws -> Bool {
        var allGuards = guards
        var commands: [StorageCommand] = writes.map { .usage($0) } + extra
        var tracked: [(sid: String, aid: String, at: Timestamp, index: Int)] = []
        var seen: Set<String> = []
        for w in writes where !w.values.isEmpty && seen.insert(w.serviceID + "\u{0}" + w.applicationID + "\u{0}" + String(Self.day(w.timestamp))).inserted {
            let (g, c) = additions(serviceID: w.serviceID, applicationID: w.applicationID, at: w.timestamp)
            guard !g.isEmpty else { continue }
            tracked.append((w.serviceID, w.applicationID, w.timestamp, allGuards.count))
            allGuards += g
            commands += c
        }
        if allGuards.isEmpty {
            try await storage.apply(commands)
            return true
        }
        let check = try await storage.checkAndApply(allGuards, commands)
        guard check.applied else { return false }
        for t in tracked {
            // The counts are in: an event that cannot be queued must not fail (and so repeat) the job that counted.
            try? await applied(serviceID: t.sid, applicationID: t.aid, at: t.at, before: check.values[t.index..<t.index + 2])
        }
        return true
    }
}
