import PorticoAdmin
import PorticoMetering
import PorticoRedis

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
    /// Metering's counters on Redis (`REDIS_STORAGE_URL`); nil means the embedded store in the data directory.
    public var redisStorage: RedisEndpoint?
    /// The report queue (`REDIS_QUEUES_URL`); nil means the storage Redis.
    public var redisQueues: RedisEndpoint?
    /// Base URL of a separate metering process (or apisonator) that `--role admin` keeps in sync through its
    /// internal API (porta's `BACKEND_URL`).
    public var meteringURL: String?
    /// apisonator's `RESCHEDULE_JOBS_FREQ` and `DELETE_STATS_FREQ`, in seconds.
    public var rescheduleJobsSeconds: Int64 = 300
    public var deleteStatsSeconds: Int64 = 86_400

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
