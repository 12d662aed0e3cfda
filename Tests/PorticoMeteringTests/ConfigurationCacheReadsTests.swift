import PorticoCore
import PorticoMeteringStore
import Synchronization
import Testing

/// The reads the authorization path makes from the configuration cache alone: they answer only what an
/// `async` read put there, forget it on a change to the service, and honour the cache's time to live.
@Suite struct ConfigurationCacheReadsTests {
    @Test func answerWhatAReadCachedAndForgetItOnAChange() async throws {
        let storage = EmbeddedMeteringStorage(clockMilliseconds: { 0 })
        let configuration = MeteringConfiguration(storage: storage, cacheTTLMilliseconds: nil, clockMilliseconds: { 0 })
        try await configuration.saveService(MeteredService(id: "7", providerKey: "pk", backendVersion: "1", referrerFiltersRequired: false, state: "active"),
                                            makeDefault: nil)
        try await configuration.saveMetric(serviceID: "7", MeteredMetric(id: "71", name: "hits", parentID: nil))
        try await configuration.saveApplication(MeteredApplication(serviceID: "7", id: "a", state: "active", planID: "p", planName: "Basic", redirectURL: nil))
        try await configuration.setUserKey(serviceID: "7", userKey: "uk", applicationID: "a")
        try await configuration.saveUsageLimit(serviceID: "7", planID: "p", metricID: "71", period: .day, value: 5)

        // Nothing read yet: nothing to answer.
        #expect(configuration.cachedService(id: "7") == nil)
        #expect(configuration.cachedDefaultServiceID(providerKey: "pk") == nil)
        #expect(configuration.cachedApplicationID(serviceID: "7", userKey: "uk") == nil)

        let service = try await configuration.service(id: "7")
        _ = try await configuration.defaultServiceID(providerKey: "pk")
        _ = try await configuration.applicationID(serviceID: "7", userKey: "uk")
        _ = try await configuration.application(serviceID: "7", id: "a")
        _ = try await configuration.applicationKeys(serviceID: "7", applicationID: "a")
        let hierarchy = try await configuration.metrics(serviceID: "7")
        _ = try await configuration.limits(serviceID: "7", planID: "p", hierarchy: hierarchy)
        _ = try await configuration.service(id: "8")
        #expect(configuration.cachedAlertLevels(serviceID: "7") == nil)
        _ = try await configuration.alertLevels(serviceID: "7")
        #expect(configuration.cachedAlertLevels(serviceID: "7") == [])
        #expect(configuration.cachedReferrerFilters(serviceID: "7", applicationID: "a") == nil)
        _ = try await configuration.referrerFilters(serviceID: "7", applicationID: "a")
        #expect(configuration.cachedReferrerFilters(serviceID: "7", applicationID: "a") == [])

        #expect(configuration.cachedService(id: "7")??.providerKey == service?.providerKey)
        #expect(configuration.cachedDefaultServiceID(providerKey: "pk") == .some("7"))
        #expect(configuration.cachedApplicationID(serviceID: "7", userKey: "uk") == .some("a"))
        #expect(configuration.cachedApplication(serviceID: "7", id: "a")??.planID == "p")
        #expect(configuration.cachedApplicationKeys(serviceID: "7", applicationID: "a") == [])
        #expect(configuration.cachedMetrics(serviceID: "7")?.metrics.map(\.id) == ["71"])
        #expect(configuration.cachedLimits(serviceID: "7", planID: "p")?.map(\.maxValue) == [5])
        // A service that does not exist is cached as such (known absent, not unknown).
        #expect(configuration.cachedService(id: "8") == .some(nil))

        // A change to the service forgets what was cached about it.
        try await configuration.saveUsageLimit(serviceID: "7", planID: "p", metricID: "71", period: .day, value: 6)
        #expect(configuration.cachedLimits(serviceID: "7", planID: "p") == nil)
        #expect(configuration.cachedApplication(serviceID: "7", id: "a") == nil)
        #expect(configuration.cachedService(id: "8") == .some(nil), "another service's entries stay")
    }

    @Test func expiredEntriesAreNotAnswered() async throws {
        let now = Mutex<Int64>(1_000)
        let clock: @Sendable () -> Int64 = { now.withLock { $0 } }
        let storage = EmbeddedMeteringStorage(clockMilliseconds: clock)
        let configuration = MeteringConfiguration(storage: storage, cacheTTLMilliseconds: 500, clockMilliseconds: clock)
        try await configuration.saveService(MeteredService(id: "7", providerKey: "pk", backendVersion: "2", referrerFiltersRequired: false, state: "active"),
                                            makeDefault: nil)
        _ = try await configuration.service(id: "7")
        #expect(configuration.cachedService(id: "7") != nil)
        now.withLock { $0 += 499 }
        #expect(configuration.cachedService(id: "7") != nil)
        now.withLock { $0 += 1 }
        #expect(configuration.cachedService(id: "7") == nil)
    }
}
