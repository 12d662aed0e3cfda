import PorticoCore
import PorticoStore
import Synchronization

/// Told about every committed deployment, so gateways in the same process apply it at once.
public protocol GatewayDeploymentObserver: Sendable {
    /// A new proxy-config version was written (a deploy to sandbox, or a promotion).
    func deployed(_ config: ProxyConfig) async
    func productDeleted(tenantID: Int64, productID: Int64) async
}

/// Reading what gateways serve: the newest proxy-config version of every product of every tenant.
public enum GatewayDeployments {
    public static func latest(store: any RecordStore, masterAccountID: Int64, environment: ProxyConfig.Environment) async throws -> [ProxyConfig] {
        var tenants = [masterAccountID]
        tenants += try await store.list(Account.self, tenantID: masterAccountID).filter { $0.kind == .provider }.map(\.id)
        var out: [ProxyConfig] = []
        for tenant in tenants {
            var newest: [Int64: ProxyConfig] = [:]
            for config in try await store.list(ProxyConfig.self, tenantID: tenant, lookupKey: environment.rawValue)
            where config.version >= (newest[config.productID]?.version ?? .min) {
                newest[config.productID] = config
            }
            out += newest.values.sorted { $0.productID < $1.productID }
        }
        return out
    }
}

/// Wraps the admin store so committed proxy-config writes and product deletions reach a
/// `GatewayDeploymentObserver` before the API call that made them returns. Writes inside a transaction are
/// reported after the commit, so a rolled-back deploy never reaches a gateway.
public struct DeploymentObservingRecordStore: RecordStore {
    enum Change: Sendable {
        case deployed(ProxyConfig)
        case productDeleted(tenantID: Int64, productID: Int64)
    }

    final class Pending: Sendable {
        let changes = Mutex<[Change]>([])
    }

    let base: any RecordStore
    let observer: any GatewayDeploymentObserver
    let pending: Pending?

    public init(base: any RecordStore, observer: any GatewayDeploymentObserver) {
        self.base = base
        self.observer = observer
        self.pending = nil
    }

    private init(base: any RecordStore, observer: any GatewayDeploymentObserver, pending: Pending) {
        self.base = base
        self.observer = observer
        self.pending = pending
    }

    private func record(_ change: Change) async {
        if let pending {
            pending.changes.withLock { $0.append(change) }
        } else {
            await deliver([change])
        }
    }

    private func deliver(_ changes: [Change]) async {
        for change in changes {
            switch change {
            case .deployed(let config): await observer.deployed(config)
            case .productDeleted(let tenant, let product): await observer.productDeleted(tenantID: tenant, productID: product)
            }
        }
    }

    public func insert(_ table: RecordTable, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Int64 {
        let id = try await base.insert(table, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
        if table == .proxyConfigs,
           let config = try? RawRecord(id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data).decoded(as: ProxyConfig.self) {
            await record(.deployed(config))
        }
        return id
    }

    public func update(_ table: RecordTable, id: Int64, tenantID: Int64, scope: String, lookupKey: String?, data: [UInt8]) async throws -> Bool {
        try await base.update(table, id: id, tenantID: tenantID, scope: scope, lookupKey: lookupKey, data: data)
    }

    public func delete(_ table: RecordTable, tenantID: Int64, id: Int64) async throws -> Bool {
        let deleted = try await base.delete(table, tenantID: tenantID, id: id)
        if deleted, table == .products { await record(.productDeleted(tenantID: tenantID, productID: id)) }
        return deleted
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, ids: [Int64]) async throws -> [RawRecord] {
        try await base.fetch(table, tenantID: tenantID, ids: ids)
    }

    public func fetch(_ table: RecordTable, tenantID: Int64, filter: RecordFilter, page: PageRequest?) async throws -> [RawRecord] {
        try await base.fetch(table, tenantID: tenantID, filter: filter, page: page)
    }

    public func count(_ table: RecordTable, tenantID: Int64, filter: RecordFilter) async throws -> Int {
        try await base.count(table, tenantID: tenantID, filter: filter)
    }

    public func fetchAcrossTenants(_ table: RecordTable, lookupKey: String) async throws -> [RawRecord] {
        try await base.fetchAcrossTenants(table, lookupKey: lookupKey)
    }

    public func withTransaction<T: Sendable>(_ body: @Sendable (any RecordStore) async throws -> T) async throws -> T {
        let collected = pending ?? Pending()
        let observer = self.observer
        let value = try await base.withTransaction { tx in
            try await body(DeploymentObservingRecordStore(base: tx, observer: observer, pending: collected))
        }
        if pending == nil { await deliver(collected.changes.withLock { $0 }) }
        return value
    }
}
