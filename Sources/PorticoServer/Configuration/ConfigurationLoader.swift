import PorticoCore
import PorticoMetering
import PorticoGateway
import PorticoAdmin
import PorticoPostgres
import PorticoRedis

/// Builds `PorticoConfiguration` from flags and environment, reporting every problem at once.
public enum ConfigurationLoader {
    public struct Problem: Sendable, CustomStringConvertible, Equatable {
        public var setting: String
        public var message: String
        public var description: String { "\(setting): \(message)" }
    }

    /// A setting, its flag name and the environment variables that may carry it (first wins).
    struct Setting {
        var name: String
        var environment: [String]
    }

    static let settings: [Setting] = [
        Setting(name: "data-dir", environment: ["PORTICO_DATA_DIR"]),
        Setting(name: "role", environment: ["PORTICO_ROLE"]),
        Setting(name: "bind", environment: ["PORTICO_BIND"]),
        Setting(name: "admin-port", environment: ["PORTICO_ADMIN_PORT"]),
        Setting(name: "metering-port", environment: ["PORTICO_METERING_PORT"]),
        Setting(name: "gateway-port", environment: ["PORTICO_GATEWAY_PORT"]),
        Setting(name: "staging-port", environment: ["PORTICO_STAGING_PORT"]),
        Setting(name: "gateway-https-port", environment: ["APICAST_HTTPS_PORT"]),
        Setting(name: "gateway-https-certificate", environment: ["APICAST_HTTPS_CERTIFICATE"]),
        Setting(name: "gateway-https-certificate-key", environment: ["APICAST_HTTPS_CERTIFICATE_KEY"]),
        Setting(name: "management-port", environment: ["PORTICO_MANAGEMENT_PORT"]),
        Setting(name: "database-url", environment: ["PORTICO_DATABASE_URL", "DATABASE_URL"]),
        Setting(name: "wildcard-domain", environment: ["PORTICO_WILDCARD_DOMAIN", "WILDCARD_DOMAIN"]),
        Setting(name: "master-domain", environment: ["MASTER_DOMAIN"]),
        Setting(name: "log-level", environment: ["PORTICO_LOG_LEVEL", "LOG_LEVEL"]),
        Setting(name: "master-user", environment: ["MASTER_USER"]),
        Setting(name: "master-password", environment: ["MASTER_PASSWORD"]),
        Setting(name: "master-access-token", environment: ["MASTER_ACCESS_TOKEN"]),
        Setting(name: "admin-user", environment: ["ADMIN_USER"]),
        Setting(name: "admin-password", environment: ["ADMIN_PASSWORD"]),
        Setting(name: "admin-access-token", environment: ["ADMIN_ACCESS_TOKEN"]),
        Setting(name: "admin-email", environment: ["ADMIN_EMAIL"]),
        Setting(name: "tenant-name", environment: ["TENANT_NAME"]),
        Setting(name: "internal-api-user", environment: ["CONFIG_INTERNAL_API_USER"]),
        Setting(name: "internal-api-password", environment: ["CONFIG_INTERNAL_API_PASSWORD"]),
        Setting(name: "redis-storage-url", environment: ["REDIS_STORAGE_URL", "CONFIG_REDIS_PROXY"]),
        Setting(name: "redis-storage-username", environment: ["REDIS_STORAGE_USERNAME", "CONFIG_REDIS_USERNAME"]),
        Setting(name: "redis-storage-password", environment: ["REDIS_STORAGE_PASSWORD", "CONFIG_REDIS_PASSWORD"]),
        Setting(name: "redis-storage-sentinel-hosts", environment: ["REDIS_STORAGE_SENTINEL_HOSTS", "CONFIG_REDIS_SENTINEL_HOSTS"]),
        Setting(name: "redis-storage-sentinel-role", environment: ["REDIS_STORAGE_SENTINEL_ROLE", "CONFIG_REDIS_SENTINEL_ROLE"]),
        Setting(name: "redis-storage-sentinel-username", environment: ["REDIS_STORAGE_SENTINEL_USERNAME", "CONFIG_REDIS_SENTINEL_USERNAME"]),
        Setting(name: "redis-storage-sentinel-password", environment: ["REDIS_STORAGE_SENTINEL_PASSWORD", "CONFIG_REDIS_SENTINEL_PASSWORD"]),
        Setting(name: "redis-storage-ssl-ca", environment: ["REDIS_SSL_CA", "CONFIG_REDIS_CA_FILE"]),
        Setting(name: "redis-storage-ssl-cert", environment: ["REDIS_SSL_CERT", "CONFIG_REDIS_CERT"]),
        Setting(name: "redis-storage-ssl-key", environment: ["REDIS_SSL_KEY", "CONFIG_REDIS_PRIVATE_KEY"]),
        Setting(name: "redis-queues-url", environment: ["REDIS_QUEUES_URL", "CONFIG_QUEUES_MASTER_NAME"]),
        Setting(name: "redis-queues-ssl-ca", environment: ["REDIS_SSL_QUEUES_CA", "CONFIG_QUEUES_CA_FILE"]),
        Setting(name: "redis-queues-ssl-cert", environment: ["REDIS_SSL_QUEUES_CERT", "CONFIG_QUEUES_CERT"]),
        Setting(name: "redis-queues-ssl-key", environment: ["REDIS_SSL_QUEUES_KEY", "CONFIG_QUEUES_PRIVATE_KEY"]),
        Setting(name: "redis-queues-username", environment: ["REDIS_QUEUES_USERNAME", "CONFIG_QUEUES_USERNAME"]),
        Setting(name: "redis-queues-password", environment: ["REDIS_QUEUES_PASSWORD", "CONFIG_QUEUES_PASSWORD"]),
        Setting(name: "redis-queues-sentinel-hosts", environment: ["REDIS_QUEUES_SENTINEL_HOSTS", "CONFIG_QUEUES_SENTINEL_HOSTS"]),
        Setting(name: "redis-queues-sentinel-role", environment: ["REDIS_QUEUES_SENTINEL_ROLE", "CONFIG_QUEUES_SENTINEL_ROLE"]),
        Setting(name: "redis-queues-sentinel-username", environment: ["REDIS_QUEUES_SENTINEL_USERNAME", "CONFIG_QUEUES_SENTINEL_USERNAME"]),
        Setting(name: "redis-queues-sentinel-password", environment: ["REDIS_QUEUES_SENTINEL_PASSWORD", "CONFIG_QUEUES_SENTINEL_PASSWORD"]),
        Setting(name: "metering-url", environment: ["PORTICO_METERING_URL", "BACKEND_URL"]),
        Setting(name: "reschedule-jobs-frequency", environment: ["RESCHEDULE_JOBS_FREQ", "CONFIG_RESCHEDULE_JOBS_FREQ"]),
        Setting(name: "delete-stats-frequency", environment: ["DELETE_STATS_FREQ", "CONFIG_DELETE_STATS_FREQ"]),
        Setting(name: "events-hook", environment: ["CONFIG_EVENTS_HOOK"]),
        Setting(name: "events-hook-shared-secret", environment: ["CONFIG_EVENTS_HOOK_SHARED_SECRET"]),
        Setting(name: "master-service-id", environment: ["CONFIG_MASTER_SERVICE_ID"]),
        Setting(name: "master-metrics-transactions", environment: ["CONFIG_MASTER_METRICS_TRANSACTIONS"]),
        Setting(name: "master-metrics-transactions-authorize", environment: ["CONFIG_MASTER_METRICS_TRANSACTIONS_AUTHORIZE"]),
        Setting(name: "portal-endpoint", environment: ["THREESCALE_PORTAL_ENDPOINT"]),
        Setting(name: "config-file", environment: ["THREESCALE_CONFIG_FILE"]),
        Setting(name: "deployment-env", environment: ["THREESCALE_DEPLOYMENT_ENV"]),
        Setting(name: "configuration-loader", environment: ["APICAST_CONFIGURATION_LOADER"]),
        Setting(name: "configuration-cache", environment: ["APICAST_CONFIGURATION_CACHE"]),
        Setting(name: "path-routing", environment: ["APICAST_PATH_ROUTING", "APICAST_PATH_ROUTING_ENABLED"]),
        Setting(name: "path-routing-only", environment: ["APICAST_PATH_ROUTING_ONLY"]),
        Setting(name: "backend-cache-handler", environment: ["APICAST_BACKEND_CACHE_HANDLER"]),
        Setting(name: "response-codes", environment: ["APICAST_RESPONSE_CODES"]),
        Setting(name: "backend-endpoint-override", environment: ["BACKEND_ENDPOINT_OVERRIDE"]),
        Setting(name: "gateway-access-log", environment: ["PORTICO_GATEWAY_ACCESS_LOG"]),
        Setting(name: "gateway-max-body-bytes", environment: ["PORTICO_GATEWAY_MAX_BODY_BYTES"]),
        Setting(name: "services-list", environment: ["APICAST_SERVICES_LIST", "APICAST_SERVICES"]),
        Setting(name: "services-filter-by-url", environment: ["APICAST_SERVICES_FILTER_BY_URL"]),
        Setting(name: "management-api", environment: ["APICAST_MANAGEMENT_API"]),
        Setting(name: "extended-metrics", environment: ["APICAST_EXTENDED_METRICS"]),
    ]

    /// Drops every setting whose name starts with `prefix` from flags and environment, so a command can derive a
    /// second configuration from the first one (`portico move`'s target is the source with other stores).
    public static func removeSettings(startingWith prefix: String, flags: inout [String: String], environment: inout [String: String]) {
        for setting in settings where setting.name.hasPrefix(prefix) {
            flags[setting.name] = nil
            for name in setting.environment { environment[name] = nil }
        }
    }

    /// Where each effective value came from, for `portico config check`.
    public struct Loaded: Sendable {
        public var configuration: PorticoConfiguration
        public var problems: [Problem]
        public var sources: [String: String]
    }

    public static func load(flags: [String: String], environment: [String: String]) -> Loaded {
        var c = PorticoConfiguration()
        var problems: [Problem] = []
        var sources: [String: String] = [:]
        var raw: [String: String] = [:]
        for setting in settings {
            if let v = flags[setting.name] {
                raw[setting.name] = v
                sources[setting.name] = "--\(setting.name)"
            } else if let env = setting.environment.first(where: { environment[$0] != nil }), let v = environment[env] {
                raw[setting.name] = v
                sources[setting.name] = env
            } else {
                sources[setting.name] = "default"
            }
        }
        for unknown in flags.keys where !settings.contains(where: { $0.name == unknown }) {
            problems.append(Problem(setting: "--\(unknown)", message: "unknown setting"))
        }

        if let v = raw["data-dir"] {
            if v.isEmpty { problems.append(Problem(setting: "data-dir", message: "must not be empty")) } else { c.dataDirectory = v }
        }
        if let v = raw["role"] {
            if let role = PorticoConfiguration.Role(rawValue: v) {
                c.role = role
                if !PorticoConfiguration.availableRoles.contains(role) {
                    problems.append(Problem(setting: "role", message: "the \(v) role is not available in this version of portico yet; use all, admin or metering"))
                }
            } else {
                problems.append(Problem(setting: "role", message: "must be one of all, admin, metering, gateway (got \(v))"))
            }
        }
        if let v = raw["bind"] { c.bindAddress = v }
        let ports: [(String, WritableKeyPath<PorticoConfiguration, Int>)] = [
            ("admin-port", \.adminPort), ("metering-port", \.meteringPort), ("gateway-port", \.gatewayPort),
            ("staging-port", \.stagingPort), ("management-port", \.managementPort),
        ]
        for (name, path) in ports {
            guard let v = raw[name] else { continue }
            if let port = Int(v), (1...65535).contains(port) { c[keyPath: path] = port } else {
                problems.append(Problem(setting: name, message: "must be a port number between 1 and 65535 (got \(v))"))
            }
        }
        var used = ports.map { ($0.0, c[keyPath: $0.1]) }
        if let v = raw["gateway-https-port"], !v.isEmpty {
            if let port = Int(v), (1...65535).contains(port) {
                c.gatewayHTTPSPort = port
                used.append(("gateway-https-port", port))
            } else {
                problems.append(Problem(setting: "gateway-https-port", message: "must be a port number between 1 and 65535 (got \(v))"))
            }
        }
        c.gatewayHTTPSCertificate = raw["gateway-https-certificate"].flatMap { $0.isEmpty ? nil : $0 }
        c.gatewayHTTPSCertificateKey = raw["gateway-https-certificate-key"].flatMap { $0.isEmpty ? nil : $0 }
        if c.gatewayHTTPSPort != nil, c.gatewayHTTPSCertificate == nil || c.gatewayHTTPSCertificateKey == nil {
            problems.append(Problem(setting: "gateway-https-port", message: "needs APICAST_HTTPS_CERTIFICATE and APICAST_HTTPS_CERTIFICATE_KEY (PEM files); Portico has no built-in certificate"))
        }
        for (i, a) in used.enumerated() {
            for b in used[(i + 1)...] where a.1 == b.1 {
                problems.append(Problem(setting: b.0, message: "port \(b.1) is already used by \(a.0)"))
            }
        }
        if let v = raw["database-url"], !v.isEmpty {
            do {
                _ = try PostgresConnectionSettings(url: v)
                c.databaseURL = v
            } catch {
                problems.append(Problem(setting: "database-url", message: error.description))
            }
        }
        if let v = raw["wildcard-domain"] {
            if v.isEmpty || v.contains("/") || v.contains(":") || v.hasPrefix(".") {
                problems.append(Problem(setting: "wildcard-domain", message: "must be a bare domain such as localhost or example.com (got \(v))"))
            } else {
                c.wildcardDomain = v.lowercased()
            }
        }
        if let v = raw["master-domain"], !v.isEmpty { c.masterDomain = v.lowercased() }
        if let v = raw["log-level"] {
            if ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) { c.logLevel = v } else {
                problems.append(Problem(setting: "log-level", message: "must be one of trace, debug, info, notice, warning, error, critical"))
            }
        }
        if let v = raw["master-user"], !v.isEmpty { c.seed.masterUser = v }
        if let v = raw["admin-user"], !v.isEmpty { c.seed.adminUser = v }
        if let v = raw["tenant-name"] {
            if SystemName.isValidTenantName(v) { c.seed.tenantName = v } else {
                problems.append(Problem(setting: "tenant-name", message: "must be letters, digits and dashes (got \(v))"))
            }
        }
        if let v = raw["admin-email"], !v.isEmpty { c.seed.adminEmail = v }
        c.seed.masterPassword = raw["master-password"].flatMap { $0.isEmpty ? nil : $0 }
        c.seed.masterAccessToken = raw["master-access-token"].flatMap { $0.isEmpty ? nil : $0 }
        c.seed.adminPassword = raw["admin-password"].flatMap { $0.isEmpty ? nil : $0 }
        c.seed.adminAccessToken = raw["admin-access-token"].flatMap { $0.isEmpty ? nil : $0 }
        for (name, value) in [("master-access-token", c.seed.masterAccessToken), ("admin-access-token", c.seed.adminAccessToken)] {
            if let value, value.count < 16 {
                problems.append(Problem(setting: name, message: "must be at least 16 characters so it cannot be guessed"))
            }
        }
        let internalUser = raw["internal-api-user"].flatMap { $0.isEmpty ? nil : $0 }
        let internalPassword = raw["internal-api-password"].flatMap { $0.isEmpty ? nil : $0 }
        if internalUser != nil || internalPassword != nil {
            c.internalAPIUser = internalUser ?? ""
            c.internalAPIPassword = internalPassword ?? ""
        }
        if let v = raw["metering-url"], !v.isEmpty {
            if (v.hasPrefix("http://") || v.hasPrefix("https://")), v.count > 8 { c.meteringURL = v } else {
                problems.append(Problem(setting: "metering-url", message: "must be an http:// or https:// URL of the metering port (got \(v))"))
            }
        }
        c.redisStorage = redisEndpoint("redis-storage", raw, &problems)
        c.redisQueues = redisEndpoint("redis-queues", raw, &problems)
        if c.redisQueues != nil, c.redisStorage == nil {
            problems.append(Problem(setting: "redis-queues-url", message: "is set without redis-storage-url (REDIS_STORAGE_URL); set both, or neither for the embedded store"))
        }
        for (name, path) in [("reschedule-jobs-frequency", \PorticoConfiguration.rescheduleJobsSeconds), ("delete-stats-frequency", \.deleteStatsSeconds)] {
            guard let v = raw[name], !v.isEmpty else { continue }
            if let seconds = Int64(v), seconds >= 1 { c[keyPath: path] = seconds } else {
                problems.append(Problem(setting: name, message: "must be a whole number of seconds, at least 1 (got \(v))"))
            }
        }
        if let v = raw["events-hook"], !v.isEmpty {
            if (v.hasPrefix("http://") || v.hasPrefix("https://")), v.count > 8 { c.eventsHookURL = v } else {
                problems.append(Problem(setting: "events-hook", message: "must be an http:// or https:// URL of porta's events hook (got \(v))"))
            }
        }
        c.eventsHookSecret = raw["events-hook-shared-secret"].flatMap { $0.isEmpty ? nil : $0 }
        if let sid = raw["master-service-id"], !sid.isEmpty {
            var master = MasterUsage.Settings(serviceID: sid)
            if let v = raw["master-metrics-transactions"], !v.isEmpty { master.transactionsMetric = v }
            if let v = raw["master-metrics-transactions-authorize"], !v.isEmpty { master.authorizeMetric = v }
            c.masterUsage = master
        }
        loadGateway(raw, into: &c, &problems)
        loadPinnedVersions(environment, into: &c, &problems)
        if !c.gateway.pinnedVersions.isEmpty { sources["pinned-versions"] = "APICAST_SERVICE_<ID>_CONFIGURATION_VERSION" }
        return Loaded(configuration: c, problems: problems, sources: sources)
    }

    static func flag(_ v: String) -> Bool? {
        switch v.lowercased() {
        case "1", "true", "yes", "on", "t", "y": return true
        case "0", "false", "no", "off", "f", "n", "": return false
        default: return nil
        }
    }

    static func loadGateway(_ raw: [String: String], into c: inout PorticoConfiguration, _ problems: inout [Problem]) {
        var g = GatewayRoleSettings()
        if let v = raw["portal-endpoint"], !v.isEmpty {
            if v.hasPrefix("http://") || v.hasPrefix("https://") { g.portalEndpoint = v } else {
                problems.append(Problem(setting: "portal-endpoint", message: "must be an http(s):// URL such as https://TOKEN@provider-admin.example.com"))
            }
        }
        if let v = raw["config-file"], !v.isEmpty { g.configFile = v }
        if let v = raw["deployment-env"], !v.isEmpty { g.deploymentEnvironment = v == "sandbox" ? "staging" : v }
        if let v = raw["configuration-loader"], !v.isEmpty {
            if let loader = GatewayRoleSettings.Loader(rawValue: v) { g.loader = loader } else {
                problems.append(Problem(setting: "configuration-loader", message: "must be boot or lazy (got \(v))"))
            }
        }
        if let v = raw["management-api"], !v.isEmpty {
            if let mode = GatewayRoleSettings.ManagementAPI(rawValue: v) { g.managementAPI = mode } else {
                problems.append(Problem(setting: "management-api", message: "must be disabled, status, policies or debug (got \(v))"))
            }
        }
        if let v = raw["configuration-cache"], !v.isEmpty {
            if let seconds = Int(v) { g.cacheSeconds = seconds } else {
                problems.append(Problem(setting: "configuration-cache", message: "must be a whole number of seconds (got \(v))"))
            }
        }
        for (name, path) in [("path-routing", \GatewayRoleSettings.pathRouting), ("path-routing-only", \.pathRoutingOnly),
                             ("response-codes", \.reportResponseCodes), ("gateway-access-log", \.accessLog), ("extended-metrics", \.extendedMetrics)] {
            guard let v = raw[name] else { continue }
            if let b = flag(v) { g[keyPath: path] = b } else { problems.append(Problem(setting: name, message: "must be true or false (got \(v))")) }
        }
        if let v = raw["backend-cache-handler"], !v.isEmpty {
            if ["strict", "resilient"].contains(v) { g.cacheHandler = v } else {
                problems.append(Problem(setting: "backend-cache-handler", message: "must be strict or resilient (got \(v))"))
            }
        }
        if let v = raw["backend-endpoint-override"], !v.isEmpty {
            if v.hasPrefix("http://") || v.hasPrefix("https://") { g.backendEndpointOverride = v } else {
                problems.append(Problem(setting: "backend-endpoint-override", message: "must be an http(s):// URL of the Service Management API"))
            }
        }
        if let v = raw["gateway-max-body-bytes"], !v.isEmpty {
            if let n = Int64(v), n >= 0 { g.maximumBodyBytes = n } else {
                problems.append(Problem(setting: "gateway-max-body-bytes", message: "must be a number of bytes, 0 for no limit (got \(v))"))
            }
        }
        if let v = raw["services-list"], !v.isEmpty { g.servicesList = v.split(separator: ",").map { String($0) } }
        if let v = raw["services-filter-by-url"], !v.isEmpty {
            if ProductFilter(ids: [], hostPattern: v) == nil {
                problems.append(Problem(setting: "services-filter-by-url", message: "is not a valid regular expression (got \(v))"))
            } else {
                g.servicesFilterByURL = v
            }
        }
        if c.role == .gateway, g.configFile == nil, g.portalEndpoint == nil {
            problems.append(Problem(setting: "portal-endpoint", message: "a gateway running alone needs THREESCALE_PORTAL_ENDPOINT or THREESCALE_CONFIG_FILE"))
        }
        if c.role == .gateway, g.effectiveLoader == .boot, g.effectiveCacheSeconds == 0, g.configFile == nil {
            problems.append(Problem(setting: "configuration-cache", message: "the boot loader with APICAST_CONFIGURATION_CACHE=0 would never load a configuration; use lazy or a positive cache"))
        }
        c.gateway = g
    }

    /// `APICAST_SERVICE_<ID>_CONFIGURATION_VERSION`: the proxy-config version a lone gateway serves for a product
    /// (`latest` or a version number); any of them makes the gateway fetch configuration product by product.
    static func loadPinnedVersions(_ environment: [String: String], into c: inout PorticoConfiguration, _ problems: inout [Problem]) {
        let prefix = "APICAST_SERVICE_", suffix = "_CONFIGURATION_VERSION"
        for (name, value) in environment where name.hasPrefix(prefix) && name.hasSuffix(suffix) && name.count > prefix.count + suffix.count {
            let id = String(name.dropFirst(prefix.count).dropLast(suffix.count))
            let version = value.filter { !$0.isWhitespace }
            guard !version.isEmpty else { continue }
            guard version == "latest" || (Int(version).map { $0 > 0 } ?? false) else {
                problems.append(Problem(setting: name, message: "must be latest or a version number (got \(value))"))
                continue
            }
            c.gateway.pinnedVersions[id] = version
        }
        if !c.gateway.pinnedVersions.isEmpty, let endpoint = c.gateway.portalEndpoint, PortalConfigurationLoader.endpointHasPath(endpoint) {
            problems.append(Problem(setting: "portal-endpoint", message: "APICAST_SERVICE_<ID>_CONFIGURATION_VERSION needs an endpoint without a path (the account's admin portal), as in APIcast"))
        }
    }

    /// One Redis store from its URL, credentials and sentinel settings (`prefix` is `redis-storage` or `redis-queues`).
    static func redisEndpoint(_ prefix: String, _ raw: [String: String], _ problems: inout [Problem]) -> RedisEndpoint? {
        guard let url = raw[prefix + "-url"], !url.isEmpty else { return nil }
        do {
            var endpoint = try RedisEndpoint.parse(url)
            if let user = raw[prefix + "-username"], !user.isEmpty { endpoint.username = user }
            if let password = raw[prefix + "-password"], !password.isEmpty { endpoint.password = password }
            if let hosts = raw[prefix + "-sentinel-hosts"], !hosts.isEmpty {
                try endpoint.useSentinels(hosts, username: raw[prefix + "-sentinel-username"], password: raw[prefix + "-sentinel-password"])
                if let role = raw[prefix + "-sentinel-role"], !role.isEmpty, role != "master" {
                    problems.append(Problem(setting: prefix + "-sentinel-role", message: "must be master: metering writes counters (got \(role))"))
                }
            }
            var pem: [String: String] = [:]
            for part in ["ca", "cert", "key"] {
                guard let value = raw["\(prefix)-ssl-\(part)"], !value.isEmpty else { continue }
                // 3scale's secrets hold the PEM text; its pods see it as a file. Either is accepted.
                if value.contains("-----BEGIN") {
                    pem[part] = value
                } else if let text = try? String(contentsOfFile: value, encoding: .utf8) {
                    pem[part] = text
                } else {
                    problems.append(Problem(setting: "\(prefix)-ssl-\(part)", message: "cannot read \(value); give a PEM file's path or its text"))
                }
            }
            if !pem.isEmpty {
                guard var tls = endpoint.tls else {
                    problems.append(Problem(setting: prefix + "-url", message: "TLS settings are given but the URL is redis://; use rediss:// to connect with TLS"))
                    return endpoint
                }
                tls.trustRootsPEM = pem["ca"]
                tls.certificateChainPEM = pem["cert"]
                tls.privateKeyPEM = pem["key"]
                if (tls.certificateChainPEM == nil) != (tls.privateKeyPEM == nil) {
                    problems.append(Problem(setting: prefix + "-ssl-cert", message: "a client certificate needs its key and the key its certificate; give both"))
                }
                endpoint.tls = tls
            }
            if let tls = endpoint.tls {
                do { _ = try tls.makeContext() } catch { problems.append(Problem(setting: prefix + "-ssl-ca", message: error.description)) }
            }
            return endpoint
        } catch {
            problems.append(Problem(setting: prefix + "-url", message: error.description))
            return nil
        }
    }

    /// A URL with its userinfo (the access token) replaced.
    static func redactedURL(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }

    /// `name = value (source)` lines with secrets redacted.
    public static func describe(_ loaded: Loaded) -> [String] {
        let c = loaded.configuration
        func redacted(_ v: String?) -> String { v == nil ? "(generated on first start)" : "***" }
        let database: String
        if let url = c.databaseURL, let settings = try? PostgresConnectionSettings(url: url) {
            database = settings.description
        } else {
            database = "sqlite:\(c.sqlitePath) (embedded)"
        }
        let values: [(String, String)] = [
            ("data-dir", c.dataDirectory), ("role", c.role.rawValue), ("bind", c.bindAddress),
            ("admin-port", String(c.adminPort)), ("metering-port", String(c.meteringPort)), ("gateway-port", String(c.gatewayPort)),
            ("staging-port", String(c.stagingPort)), ("management-port", String(c.managementPort)), ("database-url", database),
            ("gateway-https-port", c.gatewayHTTPSPort.map(String.init) ?? "(not set: no HTTPS listener)"),
            ("gateway-https-certificate", c.gatewayHTTPSCertificate ?? "(not set)"), ("gateway-https-certificate-key", c.gatewayHTTPSCertificateKey ?? "(not set)"),
            ("wildcard-domain", c.wildcardDomain), ("master-domain", c.masterDomain), ("log-level", c.logLevel),
            ("master-user", c.seed.masterUser), ("master-password", redacted(c.seed.masterPassword)),
            ("master-access-token", redacted(c.seed.masterAccessToken)), ("admin-user", c.seed.adminUser),
            ("admin-password", redacted(c.seed.adminPassword)), ("admin-access-token", redacted(c.seed.adminAccessToken)),
            ("admin-email", c.seed.adminEmail ?? "admin@\(c.seed.tenantName).\(c.wildcardDomain)"), ("tenant-name", c.seed.tenantName),
            ("internal-api-user", c.internalAPIUser ?? "(internal API open on the metering port)"),
            ("internal-api-password", c.internalAPIPassword == nil ? "(not set)" : "***"),
            ("redis-storage-url", c.redisStorage?.description ?? "(embedded store in \(c.dataDirectory)/metering)"),
            ("redis-queues-url", c.redisQueues?.description ?? (c.redisStorage == nil ? "(in process)" : "(the storage Redis)")),
            ("metering-url", c.meteringURL ?? (c.role == .admin ? "(not set: admin alone does not sync metering)" : "(in process)")),
            ("events-hook", c.eventsHookURL.map(redactedURL) ?? "(not set: porta is not pinged about events)"),
            ("events-hook-shared-secret", c.eventsHookSecret == nil ? "(not set)" : "***"),
            ("master-service-id", c.masterUsage?.serviceID ?? "(not set: calls are not counted on a master service)"),
            ("master-metrics-transactions", c.masterUsage?.transactionsMetric ?? "transactions"),
            ("master-metrics-transactions-authorize", c.masterUsage?.authorizeMetric ?? "transactions/authorize"),
            ("reschedule-jobs-frequency", "\(c.rescheduleJobsSeconds) s"), ("delete-stats-frequency", "\(c.deleteStatsSeconds) s"),
            ("portal-endpoint", c.gateway.portalEndpoint.map(redactedURL) ?? "(not set)"), ("config-file", c.gateway.configFile ?? "(not set)"),
            ("deployment-env", c.gateway.deploymentEnvironment), ("configuration-loader", c.gateway.effectiveLoader.rawValue),
            ("configuration-cache", "\(c.gateway.effectiveCacheSeconds) s"), ("path-routing", String(c.gateway.pathRouting)),
            ("path-routing-only", String(c.gateway.pathRoutingOnly)), ("backend-cache-handler", c.gateway.cacheHandler),
            ("response-codes", String(c.gateway.reportResponseCodes)), ("backend-endpoint-override", c.gateway.backendEndpointOverride ?? "(not set)"),
            ("gateway-access-log", String(c.gateway.accessLog)), ("gateway-max-body-bytes", String(c.gateway.maximumBodyBytes)),
            ("services-list", c.gateway.servicesList.isEmpty ? "(all)" : c.gateway.servicesList.joined(separator: ",")),
            ("services-filter-by-url", c.gateway.servicesFilterByURL ?? "(not set)"), ("management-api", c.gateway.managementAPI.rawValue),
            ("extended-metrics", String(c.gateway.extendedMetrics)),
            ("pinned-versions", c.gateway.pinnedVersions.isEmpty ? "(none: every product's latest)"
                : c.gateway.pinnedVersions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")),
        ]
        return values.map { "\($0.0) = \($0.1)  (\(loaded.sources[$0.0] ?? "default"))" }
    }
}

extension SystemName {
    static func isValidTenantName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 50 && s.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
    }
}
