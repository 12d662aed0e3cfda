import PorticoCore
import Synchronization

/// The products one gateway listener serves, indexed by host, replaced atomically as configuration changes.
public struct GatewayConfiguration: Sendable {
    public private(set) var products: [GatewayProduct]
    /// Host → products listing it, in document order (the first wins unless path routing is on).
    var byHost: [String: [Int]]
    /// Products that could not be loaded, with the reason (logged, and counted in readiness).
    public private(set) var rejected: [String]

    public init(products: [GatewayProduct], rejected: [String] = []) {
        var seen = Set<String>()
        var kept: [GatewayProduct] = []
        for p in products where seen.insert(p.id).inserted { kept.append(p) }
        self.products = kept
        var problems = rejected
        for p in kept where !p.chain.loadFailures.isEmpty {
            let message = "product \(p.id): policies failed to load, every request answers \(p.chain.failureStatus): " + p.chain.loadFailures.joined(separator: "; ")
            if !problems.contains(message) { problems.append(message) }
        }
        self.rejected = problems
        byHost = [:]
        for (index, p) in kept.enumerated() {
            for host in p.hosts { byHost[host, default: []].append(index) }
        }
    }

    public static let empty = GatewayConfiguration(products: [])

    /// Parses an APIcast configuration document (`{"services": [...]}`) or a proxy-config envelope
    /// (`{"proxy_configs": [{"proxy_config": {"content": …}}]}`, `{"proxy_config": …}`). Entries that fail to
    /// parse are reported in `rejected`; a document that is not one of these shapes is an error.
    public static func parse(_ document: JSONValue) throws(GatewayConfigurationError) -> GatewayConfiguration {
        var services: [JSONValue]
        if let list = document["services"]?.arrayValue {
            services = list
        } else if let list = document["proxy_configs"]?.arrayValue {
            services = list.compactMap { $0["proxy_config"]?["content"] }
        } else if let content = document["proxy_config"]?["content"] {
            services = [content]
        } else {
            throw GatewayConfigurationError("the configuration has neither \"services\" nor \"proxy_configs\"")
        }
        let oidc = document["oidc"]?.arrayValue ?? []
        var products: [GatewayProduct] = []
        var rejected: [String] = []
        for (index, s) in services.enumerated() where !s.isNull {
            do {
                var product = try GatewayProduct(document: s)
                // `oidc[i]` belongs to `services[i]`; `{}`, `false` and null mean none.
                if index < oidc.count, let entry = oidc[index].objectValue, !entry.isEmpty { product.oidcEntry = oidc[index] }
                products.append(product)
            } catch {
                rejected.append(error.description)
            }
        }
        return GatewayConfiguration(products: products, rejected: rejected)
    }

    /// This configuration with the OIDC products' issuer keys loaded, from the document's `oidc` entries or
    /// by discovery. A product whose keys cannot be loaded stays, denying its requests, and is reported.
    public func resolvingOIDC(discovery: OIDCDiscovery?) async -> GatewayConfiguration {
        var products = self.products
        var rejected = self.rejected
        for i in products.indices where products[i].isOIDC && products[i].oidc == nil {
            do {
                if let entry = products[i].oidcEntry {
                    products[i].oidc = try await OIDCVerifier.make(entry: entry)
                } else if let discovery, let endpoint = products[i].oidcIssuerEndpoint {
                    products[i].oidc = try await discovery.verifier(issuerEndpoint: endpoint)
                } else {
                    rejected.append("product \(products[i].id): OpenID Connect without issuer keys (no oidc entry and no oidc_issuer_endpoint)")
                }
            } catch {
                rejected.append("product \(products[i].id): \(error.description)")
            }
        }
        return GatewayConfiguration(products: products, rejected: rejected)
    }

    /// APIcast's `APICAST_SERVICES_LIST` / `APICAST_SERVICES_FILTER_BY_URL`: a product stays when its id is
    /// listed or one of its hosts matches the pattern; with neither set, every product stays.
    public func filtered(_ filter: ProductFilter?) -> GatewayConfiguration {
        guard let filter, !filter.ids.isEmpty || filter.hostPattern != nil else { return self }
        let kept = products.filter { p in filter.ids.contains(p.id) || (filter.hostPattern.map { r in p.hosts.contains { r.matches($0) } } ?? false) }
        return GatewayConfiguration(products: kept, rejected: rejected)
    }

    /// Products for a Host header value (lower-cased, port stripped).
    public func candidates(host: String) -> [GatewayProduct] {
        candidateIndices(host: host).map { products[$0] }
    }

    /// Where in `products` the candidates for a host are (the request path copies out only the product it picks).
    func candidateIndices(host: String) -> [Int] { byHost[host] ?? [] }

    public func product(id: String) -> GatewayProduct? { products.first { $0.id == id } }

    /// The configuration as an APIcast document: `{"services": [...]}` with each product's service object.
    public var document: JSONValue {
        .object(["services": .array(products.map(\.document))])
    }

    /// This configuration with one product replaced or added (keeping document order).
    public func replacing(_ product: GatewayProduct) -> GatewayConfiguration {
        var list = products
        if let i = list.firstIndex(where: { $0.id == product.id }) { list[i] = product } else { list.append(product) }
        return GatewayConfiguration(products: list, rejected: rejected)
    }

    public func removing(productID: String) -> GatewayConfiguration {
        GatewayConfiguration(products: products.filter { $0.id != productID }, rejected: rejected)
    }
}

/// Where a listener reads its current configuration; writers replace it whole.
public final class GatewayConfigurationStore: Sendable {
    private let current = Mutex<(GatewayConfiguration, loaded: Bool)>((.empty, false))

    public init() {}

    public var configuration: GatewayConfiguration { current.withLock { $0.0 } }
    /// False until a first configuration was loaded (`/status/ready` answers 412 until then).
    public var isLoaded: Bool { current.withLock { $0.loaded } }

    public func replace(_ configuration: GatewayConfiguration) {
        current.withLock { $0 = (configuration, true) }
    }

    /// Back to "not configured" (the management API's `DELETE /config`).
    public func reset() {
        current.withLock { $0 = (.empty, false) }
    }

    public func update(_ change: (GatewayConfiguration) -> GatewayConfiguration) {
        current.withLock { $0 = (change($0.0), true) }
    }
}

/// Which products a gateway keeps (APIcast's service filters).
public struct ProductFilter: Sendable {
    public var ids: Set<String>
    public var hostPattern: RegexBox?

    /// nil when the pattern is not a valid regular expression.
    public init?(ids: [String], hostPattern: String?) {
        self.ids = Set(ids.map { $0.trimmingSpaces }.filter { !$0.isEmpty })
        if let hostPattern, !hostPattern.isEmpty {
            guard let regex = try? Regex(hostPattern) else { return nil }
            self.hostPattern = RegexBox(regex)
        } else {
            self.hostPattern = nil
        }
    }
}
