import PorticoCore
import PorticoStore

/// A committed write to an admin table that metering may care about: the row before and after.
struct RecordChange: Sendable {
    var table: RecordTable
    var tenantID: Int64
    var old: RawRecord?
    var new: RawRecord?
}

/// Translates admin records into metering configuration: products into services, their metrics (and the
/// metrics of the backends they use) and application-plan limits, applications with their plan, state, keys,
/// user_key and referrer filters, and provider-key changes.
struct MeteringPublisher: Sendable {
    /// The tables whose writes reach metering.
    static let tables: Set<RecordTable> = [.accounts, .products, .metrics, .backendUsages, .plans, .usageLimits, .applications]

    let store: any RecordStore
    let sync: any MeteringSync
    let masterAccountID: Int64

    // MARK: whole platform (start-up)

    /// Pushes every tenant's configuration; idempotent, run when `serve` starts.
    func publishAll() async throws {
        var tenants = [masterAccountID]
        tenants += try await store.list(Account.self, tenantID: masterAccountID).filter { $0.kind == .provider }.map(\.id)
        for tenant in tenants {
            for product in try await store.list(Product.self, tenantID: tenant) { try await publishProduct(product, full: true) }
        }
    }

    /// A product with its token, metrics, limits and (when `full`) applications.
    func publishProduct(_ product: Product, full: Bool) async throws {
        guard let service = try await service(for: product) else { return }
        try await sync.saveService(service)
        try await sync.saveServiceToken(product.serviceToken, serviceID: service.id)
        guard full else { return }
        for metric in try await metrics(of: product) { try await sync.saveMetric(serviceID: service.id, id: metric.id, name: metric.name, parentID: metric.parentID) }
        let plans = try await store.list(Plan.self, tenantID: product.tenantID, scope: RecordScope.product(product.id)).filter { $0.kind == .application }
        for plan in plans {
            for limit in try await store.list(UsageLimit.self, tenantID: product.tenantID, scope: RecordScope.plan(plan.id)) {
                try await sync.saveUsageLimit(serviceID: service.id, planID: String(plan.id), metricID: String(limit.metricID), period: limit.period,
                                              value: limit.value)
            }
        }
        let plansByID = Dictionary(plans.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for app in try await store.list(ClientApplication.self, tenantID: product.tenantID) where app.productID == product.id {
            try await publishApplication(app, previous: nil, plan: plansByID[app.planID])
        }
    }

    // MARK: single changes

    func publish(_ change: RecordChange) async throws {
        switch change.table {
        case .accounts: try await accountChanged(change)
        case .products: try await productChanged(change)
        case .metrics: try await metricChanged(change)
        case .backendUsages: try await backendUsageChanged(change)
        case .plans: try await planChanged(change)
        case .usageLimits: try await usageLimitChanged(change)
        case .applications: try await applicationChanged(change)
        default: break
        }
    }

    private func accountChanged(_ change: RecordChange) async throws {
        guard let old = try change.old?.decoded(as: Account.self), let new = try change.new?.decoded(as: Account.self), new.kind != .buyer,
              let oldKey = old.providerKey, let newKey = new.providerKey, oldKey != newKey else { return }
        try await sync.changeProviderKey(from: oldKey, to: newKey)
    }

    private func productChanged(_ change: RecordChange) async throws {
        let old = try change.old?.decoded(as: Product.self)
        if let new = try change.new?.decoded(as: Product.self) {
            if let old, old.serviceToken != new.serviceToken { try await sync.deleteServiceToken(old.serviceToken, serviceID: String(old.id)) }
            // A new product's metrics and plans arrive as their own changes.
            try await publishProduct(new, full: false)
        } else if let old {
            try await sync.deleteServiceToken(old.serviceToken, serviceID: String(old.id))
            try await sync.deleteService(id: String(old.id))
        }
    }

    private func metricChanged(_ change: RecordChange) async throws {
        let old = try change.old?.decoded(as: Metric.self)
        let new = try change.new?.decoded(as: Metric.self)
        guard let any = new ?? old else { return }
        for productID in try await productIDs(using: any.owner, tenantID: change.tenantID) {
            let sid = String(productID)
            if let new {
                let parent = try await meteredParent(of: new, productID: productID)
                try await sync.saveMetric(serviceID: sid, id: String(new.id), name: new.systemName, parentID: parent)
            } else if let old {
                try await sync.deleteMetric(serviceID: sid, id: String(old.id))
            }
        }
    }

    private func backendUsageChanged(_ change: RecordChange) async throws {
        if let new = try change.new?.decoded(as: BackendUsage.self), change.old == nil {
            for metric in try await store.list(Metric.self, tenantID: change.tenantID, scope: RecordScope.owner(.backend(new.backendID))) {
                let parent = try await meteredParent(of: metric, productID: new.productID)
                try await sync.saveMetric(serviceID: String(new.productID), id: String(metric.id), name: metric.systemName, parentID: parent)
            }
        } else if let old = try change.old?.decoded(as: BackendUsage.self), change.new == nil {
            for metric in try await store.list(Metric.self, tenantID: change.tenantID, scope: RecordScope.owner(.backend(old.backendID))) {
                try await sync.deleteMetric(serviceID: String(old.productID), id: String(metric.id))
            }
        }
    }

    private func planChanged(_ change: RecordChange) async throws {
        guard let old = try change.old?.decoded(as: Plan.self), let new = try change.new?.decoded(as: Plan.self), new.kind == .application,
              old.name != new.name else { return }
        for app in try await store.list(ClientApplication.self, tenantID: change.tenantID) where app.planID == new.id {
            try await publishApplication(app, previous: app, plan: new)
        }
    }

    private func usageLimitChanged(_ change: RecordChange) async throws {
        let old = try change.old?.decoded(as: UsageLimit.self)
        let new = try change.new?.decoded(as: UsageLimit.self)
        guard let any = new ?? old, let plan = try await store.find(Plan.self, tenantID: change.tenantID, id: any.planID), plan.kind == .application else {
            return
        }
        let sid = String(plan.issuerID)
        if let old, new == nil || old.period != new?.period || old.metricID != new?.metricID {
            try await sync.deleteUsageLimit(serviceID: sid, planID: String(old.planID), metricID: String(old.metricID), period: old.period)
        }
        if let new {
            try await sync.saveUsageLimit(serviceID: sid, planID: String(new.planID), metricID: String(new.metricID), period: new.period, value: new.value)
        }
    }

    private func applicationChanged(_ change: RecordChange) async throws {
        let old = try change.old?.decoded(as: ClientApplication.self)
        if let new = try change.new?.decoded(as: ClientApplication.self) {
            let plan = try await store.find(Plan.self, tenantID: change.tenantID, id: new.planID)
            try await publishApplication(new, previous: old, plan: plan)
        } else if let old {
            let sid = String(old.productID)
            try await sync.deleteUserKey(serviceID: sid, userKey: old.userKey)
            try await sync.replaceApplicationKeys(serviceID: sid, applicationID: old.applicationID, keys: [])
            try await sync.replaceReferrerFilters(serviceID: sid, applicationID: old.applicationID, filters: [])
            try await sync.deleteApplication(serviceID: sid, id: old.applicationID)
        }
    }

    private func publishApplication(_ app: ClientApplication, previous: ClientApplication?, plan: Plan?) async throws {
        let sid = String(app.productID)
        let state: String
        switch app.state {
        case .live: state = "active"
        case .pending: state = "pending"
        case .suspended: state = "suspended"
        }
        try await sync.saveApplication(MeteringSyncApplication(serviceID: sid, id: app.applicationID, state: state, planID: String(app.planID),
                                                               planName: plan?.name ?? "", redirectURL: app.redirectURL))
        if let previous, previous.userKey != app.userKey { try await sync.deleteUserKey(serviceID: sid, userKey: previous.userKey) }
        try await sync.setUserKey(serviceID: sid, userKey: app.userKey, applicationID: app.applicationID)
        if previous?.keys.map(\.value) != app.keys.map(\.value) || previous == nil {
            try await sync.replaceApplicationKeys(serviceID: sid, applicationID: app.applicationID, keys: app.keys.map(\.value))
        }
        if previous?.referrerFilters.map(\.value) != app.referrerFilters.map(\.value) || previous == nil {
            try await sync.replaceReferrerFilters(serviceID: sid, applicationID: app.applicationID, filters: app.referrerFilters.map(\.value))
        }
    }

    // MARK: lookups

    private func service(for product: Product) async throws -> MeteringSyncService? {
        let providerTenant = product.tenantID == masterAccountID ? 0 : masterAccountID
        guard let provider = try await store.find(Account.self, tenantID: providerTenant, id: product.tenantID), let key = provider.providerKey else {
            return nil
        }
        return MeteringSyncService(id: String(product.id), providerKey: key, backendVersion: product.backendVersion,
                                   referrerFiltersRequired: product.referrerFiltersRequired,
                                   active: product.state != "suspended" && product.state != "deleted")
    }

    /// Products whose service carries metrics of `owner`: the product itself, or every product using a backend.
    private func productIDs(using owner: OwnerReference, tenantID: Int64) async throws -> [Int64] {
        switch owner {
        case .product(let id): return [id]
        case .backend(let id):
            return try await store.list(BackendUsage.self, tenantID: tenantID, lookupKey: RecordScope.backend(id)).map(\.productID)
        }
    }

    /// Metric ids and names as metering sees a product: its own metrics and those of the backends it uses.
    private func metrics(of product: Product) async throws -> [(id: String, name: String, parentID: String?)] {
        var out: [(String, String, String?)] = []
        for m in try await store.list(Metric.self, tenantID: product.tenantID, scope: RecordScope.owner(.product(product.id))) {
            out.append((String(m.id), m.systemName, m.parentID.map(String.init)))
        }
        for usage in try await store.list(BackendUsage.self, tenantID: product.tenantID, scope: RecordScope.product(product.id)) {
            for m in try await store.list(Metric.self, tenantID: product.tenantID, scope: RecordScope.owner(.backend(usage.backendID))) {
                out.append((String(m.id), m.systemName, try await meteredParent(of: m, productID: product.id)))
            }
        }
        return out
    }

    /// A backend's own `hits` counts under the product's `hits` (as 3scale does), so product-level limits
    /// cover traffic to every backend.
    private func meteredParent(of metric: Metric, productID: Int64) async throws -> String? {
        if let parent = metric.parentID { return String(parent) }
        guard case .backend = metric.owner, metric.isHits else { return nil }
        let productMetrics = try await store.list(Metric.self, tenantID: metric.tenantID, scope: RecordScope.owner(.product(productID)))
        return productMetrics.first(where: \.isHits).map { String($0.id) }
    }
}
