import PorticoAdmin
import PorticoMetering

/// The effective configuration of a `portico` process, built once at start-up.
/// Precedence: command-line flags > environment (including 3scale's names) > defaults.
public struct PorticoConfiguration: Sendable {
    public enum Role: String, Sendable, CaseIterable {
        case all, admin, metering, gateway
    }

    public var dataDirectory = "./portico-data"
    public var role = Role.all
    public var bindAddress = "0.0.0.0"
    public var adminPort = 3000
    public var meteringPort = 3001
    public var gatewayPort = 8080
    public var stagingPort = 8081
    public var managementPort = 8090
    /// `postgresql://…`; nil means the embedded SQLite file in the data directory.
    public var databaseURL: String?
    public var wildcardDomain = "localhost"
    public var masterDomain = "master"
    public var logLevel = "info"
    public var seed = PlatformSeed.Inputs()
    /// Basic-auth credentials of metering's internal API (3scale's `CONFIG_INTERNAL_API_USER`/`_PASSWORD`).
    public var internalAPIUser: String?
    public var internalAPIPassword: String?

    public init() {}

    public var sqlitePath: String { dataDirectory + "/portico.db" }
    public var credentialsPath: String { dataDirectory + "/credentials" }

    /// Roles this build can run. The gateway arrives with its own issue.
    public static let availableRoles: Set<Role> = [.all, .admin, .metering]
}

extension PorticoConfiguration {
    var internalAPICredentials: InternalAPI.Credentials? {
        guard let user = internalAPIUser, let password = internalAPIPassword else { return nil }
        return InternalAPI.Credentials(user: user, password: password)
    }
}
