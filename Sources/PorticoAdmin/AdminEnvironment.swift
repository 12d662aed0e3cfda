import PorticoCore
import PorticoStore

/// Shared, immutable state of the admin role.
public struct AdminEnvironment: Sendable {
    public let settings: AdminSettings
    public let store: any RecordStore
    /// The master account's id; provider accounts are records of the master tenant.
    public let masterAccountID: Int64
    public let clock: @Sendable () -> Timestamp

    public init(settings: AdminSettings, store: any RecordStore, masterAccountID: Int64, clock: @escaping @Sendable () -> Timestamp) {
        self.settings = settings
        self.store = store
        self.masterAccountID = masterAccountID
        self.clock = clock
    }
}
