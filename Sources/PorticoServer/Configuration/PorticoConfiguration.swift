import PorticoAdmin

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

    public init() {}

    public var sqlitePath: String { dataDirectory + "/portico.db" }
    public var credentialsPath: String { dataDirectory + "/credentials" }

    /// Roles this build can run. Metering and gateway arrive with their own issues.
    public static let availableRoles: Set<Role> = [.all, .admin]
}
