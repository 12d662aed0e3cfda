/// One deployed version of a product's gateway configuration in one environment.
public struct ProxyConfig: Codable, Sendable, Equatable {
    public enum Environment: String, Codable, Sendable, CaseIterable {
        case sandbox, production

        /// Accepts 3scale's spellings: `staging` is porta's alias of `sandbox`.
        public init?(pathComponent: String) {
            switch pathComponent {
            case "sandbox", "staging": self = .sandbox
            case "production": self = .production
            default: return nil
            }
        }
    }

    public var id: Int64
    public var tenantID: Int64
    public var productID: Int64
    public var environment: Environment
    public var version: Int64
    /// The APIcast service document.
    public var content: JSONValue
    public var createdAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, productID: Int64, environment: Environment, version: Int64, content: JSONValue, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.productID = productID
        self.environment = environment
        self.version = version
        self.content = content
        self.createdAt = now
    }
}
