import PorticoCore

/// What the admin role needs to know about the installation. Built once by the composition root.
public struct AdminSettings: Sendable {
    /// Tenant hosts are `{tenant}-admin.{wildcardDomain}` and `{tenant}.{wildcardDomain}`.
    public var wildcardDomain: String
    /// The master's portal label (`master.{wildcardDomain}`), 3scale's `MASTER_DOMAIN`.
    public var masterSubdomain: String
    public var adminPort: Int
    public var productionGatewayPort: Int
    public var stagingGatewayPort: Int
    /// Where gateways reach metering; written into every gateway configuration document.
    public var meteringEndpoint: String
    /// The largest request body accepted, in bytes.
    public var maximumBodyBytes: Int

    public init(wildcardDomain: String = "localhost", masterSubdomain: String = "master", adminPort: Int = 3000, productionGatewayPort: Int = 8080,
                stagingGatewayPort: Int = 8081, meteringEndpoint: String = "http://127.0.0.1:3001", maximumBodyBytes: Int = 4 << 20) {
        self.wildcardDomain = wildcardDomain
        self.masterSubdomain = masterSubdomain
        self.adminPort = adminPort
        self.productionGatewayPort = productionGatewayPort
        self.stagingGatewayPort = stagingGatewayPort
        self.meteringEndpoint = meteringEndpoint
        self.maximumBodyBytes = maximumBodyBytes
    }

    func portSuffix(_ port: Int) -> String { port == 80 ? "" : ":\(port)" }

    func adminDomain(of tenant: Account) -> String {
        tenant.kind == .master ? "\(masterSubdomain).\(wildcardDomain)" : "\(tenant.subdomain ?? "tenant")-admin.\(wildcardDomain)"
    }

    func developerDomain(of tenant: Account) -> String {
        tenant.kind == .master ? "\(masterSubdomain).\(wildcardDomain)" : "\(tenant.subdomain ?? "tenant").\(wildcardDomain)"
    }

    func adminBaseURL(of tenant: Account) -> String { "http://\(adminDomain(of: tenant))\(portSuffix(adminPort))" }
    func developerBaseURL(of tenant: Account) -> String { "http://\(developerDomain(of: tenant))\(portSuffix(adminPort))" }

    /// The default public endpoints of a product: `serve`'s gateway listeners under the wildcard domain.
    func gatewayEndpoints(productSystemName: String, tenant: Account) -> (production: String, staging: String) {
        let label = "\(SystemName.dnsLabel(from: productSystemName))-\(tenant.subdomain ?? "tenant")"
        return ("http://\(label)-apicast-production.\(wildcardDomain)\(portSuffix(productionGatewayPort))",
                "http://\(label)-apicast-staging.\(wildcardDomain)\(portSuffix(stagingGatewayPort))")
    }

    /// What a request's Host says about the tenant.
    enum HostKind: Equatable {
        case master
        case tenantAdmin(String)
        case developerPortal(String)
        /// Not a tenant domain (`localhost`, an IP address): the credential picks the tenant.
        case neutral
    }

    func classify(host rawHost: String?) -> HostKind {
        guard var host = rawHost?.lowercased(), !host.isEmpty else { return .neutral }
        if host.hasPrefix("[") { return .neutral }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        let suffix = "." + wildcardDomain.lowercased()
        guard host.hasSuffix(suffix) else { return .neutral }
        let label = String(host.dropLast(suffix.count))
        if label.isEmpty || label.contains(".") { return .neutral }
        if label == masterSubdomain { return .master }
        if label.hasSuffix("-admin") { return .tenantAdmin(String(label.dropLast("-admin".count))) }
        return .developerPortal(label)
    }
}
