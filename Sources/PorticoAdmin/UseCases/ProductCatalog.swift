import PorticoCore
import PorticoStore

/// Creating products and backends with the side effects 3scale gives them, and deploying gateway configuration.
enum ProductCatalog {
    static func uniqueSystemName(_ base: String, taken: Set<String>) -> String {
        if !taken.contains(base) { return base }
        var n = 2
        while taken.contains("\(base)_\(n)") { n += 1 }
        return "\(base)_\(n)"
    }

    /// A new product with metric `hits`, service plan "Default", a proxy with defaults and the rule `GET /` -> hits.
    static func createProduct(store: any RecordStore, tenant: Account, settings: AdminSettings, name: String, systemName: String,
                              now: Timestamp, configure: (inout Product) -> Void = { _ in }) async throws -> Product {
        let endpoints = settings.gatewayEndpoints(productSystemName: systemName, tenant: tenant)
        let proxy = ProxySettings(endpoint: endpoints.production, sandboxEndpoint: endpoints.staging,
                                  secretToken: "Shared_secret_sent_from_proxy_to_API_backend_" + Secrets.randomHex(byteCount: 8), now: now)
        var product = Product(tenantID: tenant.id, name: name, systemName: systemName, serviceToken: Secrets.randomHex(byteCount: 32),
                              proxy: proxy, now: now)
        configure(&product)
        product = try await store.insert(product)
        let hits = try await store.insert(Metric(tenantID: tenant.id, owner: .product(product.id), parentID: nil, systemName: "hits",
                                                 friendlyName: "Hits", unit: "hit", description: "Number of API hits", now: now))
        var plan = Plan(tenantID: tenant.id, kind: .service, issuerID: product.id, name: "Default", systemName: "default", now: now)
        plan.isDefault = true
        try await store.insert(plan)
        try await store.insert(MappingRule(tenantID: tenant.id, owner: .product(product.id), httpMethod: "GET", pattern: "/",
                                           metricID: hits.id, delta: 1, position: 1, last: false, now: now))
        return product
    }

    /// A new backend API with its `hits.<id>` metric.
    static func createBackend(store: any RecordStore, tenantID: Int64, name: String, systemName: String, description: String?,
                              privateEndpoint: String, now: Timestamp) async throws -> BackendAPI {
        let backend = try await store.insert(BackendAPI(tenantID: tenantID, name: name, systemName: systemName, description: description,
                                                        privateEndpoint: privateEndpoint, now: now))
        try await store.insert(Metric(tenantID: tenantID, owner: .backend(backend.id), parentID: nil, systemName: "hits.\(backend.id)",
                                      friendlyName: "Hits", unit: "hit", description: "Number of API hits", now: now))
        return backend
    }

    /// The upstream the proxy reports: the backend mounted at `/`, else the legacy value.
    static func apiBackend(store: any RecordStore, product: Product) async throws -> String? {
        for usage in try await store.list(BackendUsage.self, tenantID: product.tenantID, scope: RecordScope.product(product.id)) where usage.path == "/" {
            if let backend = try await store.find(BackendAPI.self, tenantID: product.tenantID, id: usage.backendID) {
                return backend.privateEndpoint
            }
        }
        return product.proxy.apiBackend
    }

    /// porta's legacy `api_backend`: creates or updates the implicit backend "<product> Backend" mounted at `/`.
    static func setAPIBackend(store: any RecordStore, product: inout Product, endpoint: String, now: Timestamp) async throws {
        product.proxy.apiBackend = endpoint
        let usages = try await store.list(BackendUsage.self, tenantID: product.tenantID, scope: RecordScope.product(product.id))
        if let root = usages.first(where: { $0.path == "/" }),
            var backend = try await store.find(BackendAPI.self, tenantID: product.tenantID, id: root.backendID)
        {
            backend.privateEndpoint = endpoint
            backend.updatedAt = now
            try await store.update(backend)
            return
        }
        let taken = Set(try await store.list(BackendAPI.self, tenantID: product.tenantID).map(\.systemName))
        let backend = try await createBackend(store: store, tenantID: product.tenantID, name: "\(product.name) Backend",
                                              systemName: uniqueSystemName(product.systemName, taken: taken),
                                              description: "Backend of \(product.name)", privateEndpoint: endpoint, now: now)
        try await store.insert(BackendUsage(tenantID: product.tenantID, productID: product.id, backendID: backend.id, path: "/", now: now))
    }

    /// The APIcast service document of a product as it is now.
    static func gatewayDocument(store: any RecordStore, product: Product, meteringEndpoint: String) async throws -> JSONValue {
        let tenantID = product.tenantID
        var metrics = try await store.list(Metric.self, tenantID: tenantID, scope: RecordScope.product(product.id))
        let rules = try await store.list(MappingRule.self, tenantID: tenantID, scope: RecordScope.product(product.id))
        var mounted: [GatewayServiceDocument.MountedBackend] = []
        for usage in try await store.list(BackendUsage.self, tenantID: tenantID, scope: RecordScope.product(product.id)) {
            guard let backend = try await store.find(BackendAPI.self, tenantID: tenantID, id: usage.backendID) else { continue }
            metrics += try await store.list(Metric.self, tenantID: tenantID, scope: RecordScope.backend(backend.id))
            let backendRules = try await store.list(MappingRule.self, tenantID: tenantID, scope: RecordScope.backend(backend.id))
            mounted.append(.init(usage: usage, backend: backend, rules: backendRules))
        }
        let byID = Dictionary(metrics.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return GatewayServiceDocument(product: product, productRules: rules, metricsByID: byID, backends: mounted,
                                      meteringEndpoint: meteringEndpoint).render()
    }

    static func configs(store: any RecordStore, product: Product, environment: ProxyConfig.Environment) async throws -> [ProxyConfig] {
        try await store.list(ProxyConfig.self, tenantID: product.tenantID, scope: RecordScope.product(product.id), lookupKey: environment.rawValue)
            .sorted { $0.version < $1.version }
    }

    /// Writes a new sandbox (staging) version. With `onlyIfChanged`, an unchanged document is not re-versioned.
    @discardableResult
    static func deployToSandbox(store: any RecordStore, product: Product, meteringEndpoint: String, now: Timestamp,
                                onlyIfChanged: Bool = false) async throws -> ProxyConfig {
        let content = try await gatewayDocument(store: store, product: product, meteringEndpoint: meteringEndpoint)
        let existing = try await configs(store: store, product: product, environment: .sandbox)
        if onlyIfChanged, let newest = existing.last, newest.content == content { return newest }
        let version = (existing.last?.version ?? 0) + 1
        return try await store.insert(ProxyConfig(tenantID: product.tenantID, productID: product.id, environment: .sandbox, version: version,
                                                  content: content, now: now))
    }

    /// Removes a product and everything it owns.
    static func deleteProduct(store: any RecordStore, product: Product) async throws {
        let t = product.tenantID
        let scope = RecordScope.product(product.id)
        for plan in try await store.list(Plan.self, tenantID: t, scope: scope) {
            try await deletePlanContents(store: store, tenantID: t, planID: plan.id)
            try await store.delete(Plan.self, tenantID: t, id: plan.id)
        }
        for m in try await store.list(Metric.self, tenantID: t, scope: scope) { try await store.delete(Metric.self, tenantID: t, id: m.id) }
        for r in try await store.list(MappingRule.self, tenantID: t, scope: scope) { try await store.delete(MappingRule.self, tenantID: t, id: r.id) }
        for u in try await store.list(BackendUsage.self, tenantID: t, scope: scope) { try await store.delete(BackendUsage.self, tenantID: t, id: u.id) }
        for c in try await store.list(ProxyConfig.self, tenantID: t, scope: scope) { try await store.delete(ProxyConfig.self, tenantID: t, id: c.id) }
        for f in try await store.list(Feature.self, tenantID: t, scope: scope) { try await store.delete(Feature.self, tenantID: t, id: f.id) }
        for app in try await store.list(ClientApplication.self, tenantID: t) where app.productID == product.id {
            try await store.delete(ClientApplication.self, tenantID: t, id: app.id)
        }
        for sub in try await store.list(ServiceSubscription.self, tenantID: t) where sub.productID == product.id {
            try await store.delete(ServiceSubscription.self, tenantID: t, id: sub.id)
        }
        for doc in try await store.list(ActiveDoc.self, tenantID: t) where doc.productID == product.id {
            var d = doc
            d.productID = nil
            try await store.update(d)
        }
        try await store.delete(Product.self, tenantID: t, id: product.id)
    }

    static func deletePlanContents(store: any RecordStore, tenantID: Int64, planID: Int64) async throws {
        for l in try await store.list(UsageLimit.self, tenantID: tenantID, scope: RecordScope.plan(planID)) {
            try await store.delete(UsageLimit.self, tenantID: tenantID, id: l.id)
        }
        for r in try await store.list(PricingRule.self, tenantID: tenantID, scope: RecordScope.plan(planID)) {
            try await store.delete(PricingRule.self, tenantID: tenantID, id: r.id)
        }
    }
}
