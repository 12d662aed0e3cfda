import PorticoCore

/// How admin pushes configuration to metering: the operations of apisonator's internal API
/// (reference/service-management-api.md §7). `serve` implements it in process, so a change reaches metering
/// before the admin API call returns; split deployments implement it over `/internal`.
public protocol MeteringSync: Sendable {
    func saveService(_ service: MeteringSyncService) async throws
    func deleteService(id: String) async throws
    func changeProviderKey(from old: String, to new: String) async throws
    func saveServiceToken(_ token: String, serviceID: String) async throws
    func deleteServiceToken(_ token: String, serviceID: String) async throws
    func saveApplication(_ application: MeteringSyncApplication) async throws
    func deleteApplication(serviceID: String, id: String) async throws
    func setUserKey(serviceID: String, userKey: String, applicationID: String) async throws
    func deleteUserKey(serviceID: String, userKey: String) async throws
    /// Makes the application's keys exactly `keys`.
    func replaceApplicationKeys(serviceID: String, applicationID: String, keys: [String]) async throws
    /// Makes the application's referrer filters exactly `filters`.
    func replaceReferrerFilters(serviceID: String, applicationID: String, filters: [String]) async throws
    func saveMetric(serviceID: String, id: String, name: String, parentID: String?) async throws
    func deleteMetric(serviceID: String, id: String) async throws
    func saveUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod, value: Int64) async throws
    func deleteUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod) async throws
}

public struct MeteringSyncService: Sendable, Equatable {
    public var id: String
    public var providerKey: String
    public var backendVersion: String
    public var referrerFiltersRequired: Bool
    public var active: Bool
}

public struct MeteringSyncApplication: Sendable, Equatable {
    public var serviceID: String
    public var id: String
    /// apisonator's states: `active`, `pending`, `suspended`.
    public var state: String
    public var planID: String
    public var planName: String
    public var redirectURL: String?
}
