import PorticoCore
import PorticoMeteringStore
import PorticoStore

/// Shared, immutable state of the admin role.
public struct AdminEnvironment: Sendable {
    public let settings: AdminSettings
    public let store: any RecordStore
    /// The master account's id; provider accounts are records of the master tenant.
    public let masterAccountID: Int64
    public let clock: @Sendable () -> Timestamp
    /// Metering's counters, read by the Analytics API; nil when this process cannot reach them.
    public let counters: (any MeteringStorage)?

    public init(settings: AdminSettings, store: any RecordStore, masterAccountID: Int64, clock: @escaping @Sendable () -> Timestamp,
                counters: (any MeteringStorage)? = nil) {
        self.settings = settings
        self.store = store
        self.masterAccountID = masterAccountID
        self.clock = clock
        self.counters = counters
    }
}
