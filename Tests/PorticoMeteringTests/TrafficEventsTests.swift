import Logging
import PorticoCore
@testable import PorticoMetering
import PorticoMeteringStore
import Synchronization
import Testing

/// first_traffic / first_daily_traffic events, the events-hook ping and master-account usage
/// (reference/service-management-api.md §8.5, §8.7), on the embedded store with a clock the test moves.
struct TrafficFixture {
    final class Clock: Sendable {
        let now = Mutex(Timestamp(iso8601: "2026-11-20T23:59:58Z")!)
        func advance(seconds: Int64) { now.withLock { $0 = Timestamp(secondsSinceEpoch: $0.secondsSinceEpoch + seconds) } }
        var current: Timestamp { now.withLock { $0 } }
    }

    /// Counts pings; stands in for porta's hook (the HTTP hook itself is exercised end to end).
    final class CountingHook: EventsHook {
        let pings = Mutex(0)
        func ping() async throws { pings.withLock { $0 += 1 } }
        var count: Int { pings.withLock { $0 } }
    }

    let clock = Clock()
    let hook = CountingHook()
    let storage: EmbeddedMeteringStorage
    let configuration: MeteringConfiguration
    let traffic: TrafficEvents
    let master: MasterUsage
    let api: ServiceManagementAPI
    let processor: ReportProcessor
    let jobs = MeteringFixture.CollectingQueue()

    init() async throws {
        let clock = self.clock
        let ms: @Sendable () -> Int64 = { clock.current.secondsSinceEpoch * 1000 }
        storage = EmbeddedMeteringStorage(clockMilliseconds: ms)
        configuration = MeteringConfiguration(storage: storage, cacheTTLMilliseconds: nil, clockMilliseconds: ms)
        let pinger = EventsHookPinger(storage: storage, hook: hook, logger: Logger(label: "test"))
        traffic = TrafficEvents(storage: storage, hook: pinger)
        master = MasterUsage(settings: .init(serviceID: "m1"), configuration: configuration, traffic: traffic, logger: Logger(label: "test"))
        api = ServiceManagementAPI(configuration: configuration, reports: jobs, internalCredentials: nil, clock: { clock.current },
                                   logger: Logger(label: "test"), traffic: traffic, master: master, eventsHook: pinger)
        processor = ReportProcessor(configuration: configuration, clock: { clock.current }, traffic: traffic, alertsHook: pinger)
        try await configuration.saveService(MeteredService(id: "s1", providerKey: "pk", backendVersion: "2", referrerFiltersRequired: false, state: "active"),
                                            makeDefault: nil)
        try await configuration.saveMetric(serviceID: "s1", MeteredMetric(id: "h", name: "hits", parentID: nil))
        for app in ["a", "b"] {
            try await configuration.saveApplication(MeteredApplication(serviceID: "s1", id: app, state: "active", planID: "p", planName: "Basic", redirectURL: nil))
        }
        // The master service: the tenant's provider key is the user_key of its application there.
        try await configuration.saveService(MeteredService(id: "m1", providerKey: "master-pk", backendVersion: "1", referrerFiltersRequired: false,
                                                           state: "active"), makeDefault: nil)
        try await configuration.saveMetric(serviceID: "m1", MeteredMetric(id: "mh", name: "hits", parentID: nil))
        try await configuration.saveMetric(serviceID: "m1", MeteredMetric(id: "ma", name: "transactions/authorize", parentID: "mh"))
        try await configuration.saveMetric(serviceID: "m1", MeteredMetric(id: "mt", name: "transactions", parentID: nil))
        try await configuration.saveApplication(MeteredApplication(serviceID: "m1", id: "tenant", state: "active", planID: "mp", planName: "Enterprise",
                                                                   redirectURL: nil))
        try await configuration.setUserKey(serviceID: "m1", userKey: "pk", applicationID: "tenant")
    }

    func get(_ target: String) async -> MeteringResponse {
        await api.handle(MeteringRequest(method: "GET", target: target, options: nil))
    }

    func post(_ form: String) async -> MeteringResponse {
        await api.handle(MeteringRequest(method: "POST", target: "/transactions.xml", contentType: "application/x-www-form-urlencoded", body: Array(form.utf8)))
    }

    /// (type, application_id) of the queued events, oldest first.
    func events() async throws -> [String] {
        try await MeteringEvents(storage: storage).list().map { event in
            let type = event.objectValue?["type"]?.stringValue ?? "?"
            let app = event.objectValue?["object"]?.objectValue?["application_id"]?.stringValue ?? "?"
            return type + ":" + app
        }
    }

    func appCounter(_ sid: String, _ aid: String, _ metric: String) async throws -> String? {
        try await storage.get([ApisonatorKeys.applicationUsage(sid, app: aid, metric: metric, .eternity, at: clock.current)])[0]
    }
}

@Suite struct TrafficEventsTests {
    @Test func firstTrafficOnceAndFirstDailyTrafficOncePerDay() async throws {
        let f = try await TrafficFixture()
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&service_id=s1&app_id=a").status == 200)
        #expect(try await f.events().isEmpty, "an authorize counts nothing, so it is no traffic")
        for _ in 0..<3 { #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=a&usage[hits]=1").status == 200) }
        #expect(try await f.events() == ["first_traffic:a", "first_daily_traffic:a"])
        let daily = ApisonatorKeys.dailyTraffic("s1", app: "a", at: f.clock.current)
        #expect(daily == "daily_traffic/service:s1/cinstance:a/20261120")
        #expect(try await f.storage.get([daily]) == ["1"], "later calls of the day are remembered in process and skip the daily key")
        #expect(try await f.storage.members(ApisonatorKeys.serviceCinstances("s1")) == ["a"])

        f.clock.advance(seconds: 2)  // 2026-11-21 00:00:00
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=a&usage[hits]=1").status == 200)
        #expect(try await f.events() == ["first_traffic:a", "first_daily_traffic:a", "first_daily_traffic:a"])
        #expect(try await f.storage.get([ApisonatorKeys.dailyTraffic("s1", app: "a", at: f.clock.current)]) == ["1"])

        // The event document is apisonator's: id, type, timestamp and the object.
        let last = try #require(try await MeteringEvents(storage: f.storage).list().last?.objectValue)
        #expect(last["object"]?.objectValue?["service_id"] == .string("s1"))
        #expect(last["object"]?.objectValue?["timestamp"] == .string("2026-11-21 00:00:00 UTC"))
        #expect(last["id"] == .int(3))
    }

    /// Concurrent first calls of one application raise one first_traffic event, since the membership is read in
    /// the same atomic step that adds the application.
    @Test func concurrentFirstCallsRaiseOneEvent() async throws {
        let f = try await TrafficFixture()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask { _ = await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=b&usage[hits]=1") }
            }
        }
        #expect(try await f.events() == ["first_traffic:b", "first_daily_traffic:b"])
        #expect(try await f.appCounter("s1", "b", "h") == "20")
    }

    @Test func reportsRaiseTrafficEventsPerApplicationAndDay() async throws {
        let f = try await TrafficFixture()
        let form = "provider_key=pk&service_id=s1&transactions[0][app_id]=a&transactions[0][usage][hits]=2"
            + "&transactions[1][app_id]=b&transactions[1][usage][hits]=1&transactions[2][app_id]=a&transactions[2][usage][hits]=1"
        #expect(await f.post(form).status == 202)
        let job = try #require(f.jobs.jobs.withLock { $0.first })
        try await f.processor.process(job)
        #expect(try await f.events() == ["first_traffic:a", "first_daily_traffic:a", "first_traffic:b", "first_daily_traffic:b"])
        #expect(try await f.appCounter("s1", "a", "h") == "3")
        try await f.processor.process(job)
        #expect(try await f.events().count == 4)
    }

    /// Porta is pinged once for a burst of events: the ping claims `events/ping` for a minute.
    @Test func theHookIsPingedOncePerMinute() async throws {
        let f = try await TrafficFixture()
        for app in ["a", "b"] {
            #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=\(app)&usage[hits]=1").status == 200)
        }
        #expect(try await f.events().count == 4)
        // The ping runs in its own task; wait for it to land.
        for _ in 0..<500 where f.hook.count == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(f.hook.count == 1)
        #expect(try await f.storage.exists(ApisonatorKeys.eventsPing))
        f.clock.advance(seconds: 61)
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=a&usage[hits]=1").status == 200)
        for _ in 0..<500 where f.hook.count == 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(f.hook.count == 2, "a new day's event after the ping key expired pings again")
    }

    @Test func callsAreCountedOnTheMasterService() async throws {
        let f = try await TrafficFixture()
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&service_id=s1&app_id=a").status == 200)
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&service_id=s1&app_id=nobody").status == 404)
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=a&usage[hits]=1").status == 200)
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=a").status == 200)
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=nobody&usage[hits]=1").status == 404)
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=s1&app_id=a&usage[nometric]=1").status == 404,
                "a failure other than application_not_found is not counted")
        #expect(await f.get("/transactions/authorize.xml?provider_key=unknown&service_id=s1&app_id=a").status == 403)
        let report = await f.post("provider_key=pk&service_id=s1&transactions[0][app_id]=a&transactions[0][usage][hits]=1"
            + "&transactions[1][app_id]=b&transactions[1][usage][hits]=1")
        #expect(report.status == 202)
        #expect(try await f.appCounter("m1", "tenant", "ma") == nil, "master usage is applied by the flush, not on the call")
        await f.master.flush()
        // authorize ×2 and authrep ×3 (two decided, one application_not_found); transactions: one counted authrep + two reported.
        #expect(try await f.appCounter("m1", "tenant", "ma") == "5")
        #expect(try await f.appCounter("m1", "tenant", "mh") == "5", "transactions/authorize is a child of hits")
        #expect(try await f.appCounter("m1", "tenant", "mt") == "3")
        // The provider key "unknown" has no master application: its calls are dropped, nothing else is counted.
        await f.master.flush()
        #expect(try await f.appCounter("m1", "tenant", "ma") == "5")
    }
}
