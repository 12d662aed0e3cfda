/// A product's gateway settings (porta's `Proxy`), including its policy chain.
public struct ProxySettings: Codable, Sendable, Equatable {
    public var endpoint: String
    public var sandboxEndpoint: String
    public var apiBackend: String?
    public var credentialsLocation: String
    public var authAppKey: String
    public var authAppID: String
    public var authUserKey: String
    public var errorAuthFailed: String
    public var errorStatusAuthFailed: Int64
    public var errorHeadersAuthFailed: String
    public var errorAuthMissing: String
    public var errorStatusAuthMissing: Int64
    public var errorHeadersAuthMissing: String
    public var errorNoMatch: String
    public var errorStatusNoMatch: Int64
    public var errorHeadersNoMatch: String
    public var errorLimitsExceeded: String
    public var errorStatusLimitsExceeded: Int64
    public var errorHeadersLimitsExceeded: String
    public var secretToken: String
    public var hostnameRewrite: String?
    public var oauthLoginURL: String?
    public var apiTestPath: String
    public var oidcIssuerEndpoint: String?
    public var oidcIssuerType: String
    public var jwtClaimWithClientID: String?
    public var jwtClaimWithClientIDType: String?
    /// Policy chain entries as clients sent them (`name`, `version`, `configuration`, `enabled`).
    public var policies: [JSONValue]
    public var lockVersion: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public static let builtinAPIcastPolicy: JSONValue = .object([
        "name": "apicast", "version": "builtin", "configuration": .object([:]), "enabled": true,
    ])

    public init(endpoint: String, sandboxEndpoint: String, secretToken: String, now: Timestamp) {
        self.endpoint = endpoint
        self.sandboxEndpoint = sandboxEndpoint
        self.apiBackend = nil
        self.credentialsLocation = "query"
        self.authAppKey = "app_key"
        self.authAppID = "app_id"
        self.authUserKey = "user_key"
        self.errorAuthFailed = "Authentication failed"
        self.errorStatusAuthFailed = 403
        self.errorHeadersAuthFailed = "text/plain; charset=us-ascii"
        self.errorAuthMissing = "Authentication parameters missing"
        self.errorStatusAuthMissing = 403
        self.errorHeadersAuthMissing = "text/plain; charset=us-ascii"
        self.errorNoMatch = "No Mapping Rule matched"
        self.errorStatusNoMatch = 404
        self.errorHeadersNoMatch = "text/plain; charset=us-ascii"
        self.errorLimitsExceeded = "Usage limit exceeded"
        self.errorStatusLimitsExceeded = 429
        self.errorHeadersLimitsExceeded = "text/plain; charset=us-ascii"
        self.secretToken = secretToken
        self.apiTestPath = "/"
        self.oidcIssuerType = "keycloak"
        self.policies = [ProxySettings.builtinAPIcastPolicy]
        self.lockVersion = 0
        self.createdAt = now
        self.updatedAt = now
    }
}
