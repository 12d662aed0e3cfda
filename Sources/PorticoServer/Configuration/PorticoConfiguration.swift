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
    /// `APICAST_HTTPS_PORT`: the production gateway also serves HTTPS here, with `APICAST_HTTPS_CERTIFICATE`
    /// and `APICAST_HTTPS_CERTIFICATE_KEY` (PEM paths).
    public var gatewayHTTPSPort: Int?
    public var gatewayHTTPSCertificate: String?
    public var gatewayHTTPSCertificateKey: String?
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
    /// Porta's events hook (`CONFIG_EVENTS_HOOK`) and the secret posted to it (`CONFIG_EVENTS_HOOK_SHARED_SECRET`).
    public var eventsHookURL: String?
    public var eventsHookSecret: String?
    /// Counting of calls on the master service (`CONFIG_MASTER_SERVICE_ID` and the metric names); nil: off.
    public var masterUsage: MasterUsage.Settings?
    /// apisonator's `RESCHEDULE_JOBS_FREQ` and `DELETE_STATS_FREQ`, in seconds.
    public var rescheduleJobsSeconds: Int64 = 300
    public var deleteStatsSeconds: Int64 = 86_400

    /// Gateway behaviour (APIcast's names): see `GatewayRoleSettings`.
    public var gateway = GatewayRoleSettings()

    public init() {}

    public var sqlitePath: String { dataDirectory + "/portico.db" }
    public var credentialsPath: String { dataDirectory + "/credentials" }

    /// Roles this build can run.
    public static let availableRoles: Set<Role> = [.all, .admin, .metering, .gateway]
}

extension PorticoConfiguration {
    var internalAPICredentials: InternalAPI.Credentials? {
        guard let user = internalAPIUser, let password = internalAPIPassword else { return nil }
        return InternalAPI.Credentials(user: user, password: password)
    }
}

/// How gateways load configuration and behave, under APIcast's environment names.
public struct GatewayRoleSettings: Sendable {
    public enum Loader: String, Sendable { case boot, lazy }
    /// `APICAST_MANAGEMENT_API`: which of APIcast's management routes the management port serves.
    public enum ManagementAPI: String, Sendable { case disabled, status, policies, debug }
    public var managementAPI = ManagementAPI.status
    /// `THREESCALE_PORTAL_ENDPOINT`: `http(s)://<access token>@<admin host>[/path]`.
    public var portalEndpoint: String?
    /// `THREESCALE_CONFIG_FILE`: a JSON configuration document; wins over the portal endpoint.
    public var configFile: String?
    /// `THREESCALE_DEPLOYMENT_ENV`: which proxy-config environment a lone gateway serves.
    public var deploymentEnvironment = "production"
    /// `APICAST_CONFIGURATION_LOADER`; nil means APIcast's default for the environment.
    public var loader: Loader?
    /// `APICAST_CONFIGURATION_CACHE` seconds; nil means APIcast's default for the environment.
    public var cacheSeconds: Int?
    public var pathRouting = false
    public var pathRoutingOnly = false
    /// `APICAST_BACKEND_CACHE_HANDLER`: strict or resilient.
    public var cacheHandler = "strict"
    /// `APICAST_RESPONSE_CODES`.
    public var reportResponseCodes = false
    /// `BACKEND_ENDPOINT_OVERRIDE`.
    public var backendEndpointOverride: String?
    public var accessLog = true
    /// Largest request body accepted, 0 for no limit.
    public var maximumBodyBytes: Int64 = 0
    /// `APICAST_SERVICES_LIST` (legacy `APICAST_SERVICES`): product ids to keep.
    public var servicesList: [String] = []
    /// `APICAST_SERVICES_FILTER_BY_URL`: keep products with a host matching this regular expression.
    public var servicesFilterByURL: String?
    /// `APICAST_EXTENDED_METRICS`: `service_id` and `service_system_name` labels on the gateway's response-time
    /// and upstream-status metrics.
    public var extendedMetrics = false
    /// `APICAST_SERVICE_<ID>_CONFIGURATION_VERSION`: product id → proxy-config version (`latest` or a number).
    public var pinnedVersions: [String: String] = [:]

    public init() {}

    /// APIcast's defaults: production boots and reloads every 300 s, staging loads lazily on every request.
    public var effectiveLoader: Loader { loader ?? (deploymentEnvironment == "staging" ? .lazy : .boot) }
    public var effectiveCacheSeconds: Int { cacheSeconds ?? (deploymentEnvironment == "staging" ? 0 : 300) }
}
