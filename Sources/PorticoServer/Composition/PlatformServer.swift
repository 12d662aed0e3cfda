import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import PorticoAdmin
import PorticoCore
import PorticoGateway
import PorticoMetering
import PorticoMeteringStore
import PorticoOperations
import PorticoPostgres
import PorticoRedis
import PorticoStore
import Prometheus
import ServiceLifecycle

/// The composition root: wires stores, roles and the management port into one `ServiceGroup`.
public enum PlatformServer {
    /// Sets up logging and Prometheus metrics for the process. Call once.
    /// One event loop per processor this process may run on (see `ProcessorAffinity`); call before serving.
    public static func sizeEventLoops() { ProcessorAffinity.sizeEventLoopGroup() }

    public static func bootstrapObservability(logLevel: String) -> PrometheusCollectorRegistry {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The stores operations (backup, restore, move) work on: the ones `serve` would use.
    public static func storeLocations(_ c: PorticoConfiguration) -> StoreLocations {
        StoreLocations(dataDirectory: c.dataDirectory, databaseURL: c.databaseURL, redisStorage: c.redisStorage, redisQueues: c.redisQueues,
                       wildcardDomain: c.wildcardDomain)
    }

    static func lockDataDirectory(_ c: PorticoConfiguration, usesEmbeddedStores: Bool, logger: Logger) throws -> DataDirectoryLock? {
        guard usesEmbeddedStores else { return nil }
        try DataDirectory.prepare(c.dataDirectory)
        do {
            let lock = try DataDirectoryLock.acquire(dataDirectory: c.dataDirectory, purpose: "starting another serve on it")
            if try RestoreJournal.finishInterrupted(dataDirectory: c.dataDirectory) {
                logger.notice("portico.restore_finished", metadata: ["data_dir": .string(c.dataDirectory)])
            }
            return lock
        } catch {
            throw ServerError(error.description)
        }
    }

    static func now() -> Timestamp { Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970)) }

    static func adminSettings(_ c: PorticoConfiguration) -> AdminSettings {
        AdminSettings(wildcardDomain: c.wildcardDomain, masterSubdomain: c.masterDomain, adminPort: c.adminPort, productionGatewayPort: c.gatewayPort,
                      stagingGatewayPort: c.stagingPort, meteringEndpoint: "http://127.0.0.1:\(c.meteringPort)")
    }

    /// Runs `body` with the store open; the PostgreSQL pool runs alongside and stops afterwards.
    public static func withStore<T: Sendable>(_ configuration: PorticoConfiguration, logger: Logger,
                                              _ body: @Sendable @escaping (OpenedAdminStore) async throws -> T) async throws -> T {
        let opened = try await AdminStoreFactory.open(configuration, logger: logger)
        do {
            let value = try await run(opened, body)
            await opened.close()
            return value
        } catch {
            await opened.close()
            throw error
        }
    }

    private static func run<T: Sendable>(_ opened: OpenedAdminStore, _ body: @Sendable @escaping (OpenedAdminStore) async throws -> T) async throws -> T {
        guard let service = opened.service else { return try await body(opened) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await service.run()
                return nil
            }
            group.addTask { try await body(opened) }
            while let result = try await group.next() {
                if let value = result {
                    group.cancelAll()
                    return value
                }
            }
            throw ServerError("the database connection stopped unexpectedly")
        }
    }

    /// The metering runtime the configuration selects: Redis when `REDIS_STORAGE_URL` is set, else embedded.
    static func openMetering(_ c: PorticoConfiguration, logger: Logger) async throws -> any MeteringRuntime {
        guard let storage = c.redisStorage else { return try EmbeddedMetering(configuration: c, logger: logger) }
        let redis = RedisMetering(configuration: c, storage: storage, queues: c.redisQueues ?? storage, logger: logger)
        try await redis.checkVersion()
        logger.info("metering.store", metadata: ["storage": .string(storage.description), "queues": .string((c.redisQueues ?? storage).description)])
        return redis
    }

    /// `portico serve`.
    public static func serve(_ configuration: PorticoConfiguration, registry: PrometheusCollectorRegistry) async throws {
        let logger = Logger(label: "portico")
        let runsAdmin = configuration.role == .all || configuration.role == .admin
        let runsMetering = configuration.role == .all || configuration.role == .metering
        var gatewayListeners = configuration.role == .all ? ["gateway-staging", "gateway-production"] : configuration.role == .gateway ? ["gateway"] : []
        if configuration.gatewayHTTPSPort != nil, let production = gatewayListeners.last { gatewayListeners.append(production + "-https") }
        let readiness = ReadinessState(expected: Set((runsAdmin ? ["admin"] : []) + (runsMetering ? ["metering"] : []) + gatewayListeners))

        let gatewayManagement = GatewayManagement()
        var management = Application(
            responder: ManagementResponder(readiness: readiness, registry: registry, mode: configuration.gateway.managementAPI, gateway: gatewayManagement,
                                           logger: Logger(label: "portico.management")),
            configuration: .init(address: .hostname(configuration.bindAddress, port: configuration.managementPort), serverName: nil),
            logger: Logger(label: "portico.management"))
        management.logger.logLevel = .warning

        // The embedded stores belong to one process: a second serve, or a restore, must not write them meanwhile.
        let dataDirectoryLock = try lockDataDirectory(configuration, usesEmbeddedStores: (runsAdmin && configuration.databaseURL == nil)
                                                        || (runsMetering && configuration.redisStorage == nil), logger: logger)
        defer { dataDirectoryLock?.release() }

        var services: [any Service] = [management]
        let metering = runsMetering ? try await openMetering(configuration, logger: logger) : nil
        if let metering {
            services.append(MeteringRoleService(configuration: configuration, metering: metering, readiness: readiness,
                                                logger: Logger(label: "portico.metering")))
        }
        var feed: InProcessGatewayFeed?
        if let metering, configuration.role == .all {
            let (service, inProcessFeed) = try gatewaysInProcess(configuration, meteringAPI: metering.api, readiness: readiness, management: gatewayManagement)
            services.append(service)
            feed = inProcessFeed
        } else if configuration.role == .gateway {
            services.append(try await gatewayAlone(configuration, readiness: readiness, management: gatewayManagement, logger: logger))
        }
        var opened: OpenedAdminStore?
        if runsAdmin {
            let store = try await AdminStoreFactory.open(configuration, logger: logger)
            opened = store
            if let pool = store.service { services.insert(pool, at: 0) }
            // Analytics read metering's counters: in process, or on metering's Redis when admin runs alone.
            let counters: (any MeteringStorage)? = metering?.configuration.storage
                ?? configuration.redisStorage.map { RedisMeteringStorage(client: RedisClient(endpoint: $0, poolSize: 1, clientName: "portico-serve", logger: Logger(label: "portico.redis.stats"))) }
            // In process when metering runs here; over metering's internal API when admin runs alone with BACKEND_URL.
            let sync: (any MeteringSync)? = metering.map { InProcessMeteringSync(configuration: $0.configuration) }
                ?? configuration.meteringURL.map { HTTPMeteringSync(baseURL: $0, user: configuration.internalAPIUser, password: configuration.internalAPIPassword) }
            services.append(AdminRoleService(configuration: configuration, opened: store, readiness: readiness,
                                             meteringSync: sync, syncInProcess: metering != nil, counters: counters, gatewayFeed: feed, logger: logger))
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        logger.info("portico.starting", metadata: ["store": .string(opened?.description ?? "none"), "role": .string(configuration.role.rawValue)])
        try await group.run()
        await opened?.close()
        logger.info("portico.stopped")
    }
}

extension PlatformServer {
    /// The production gateway's HTTPS listener (`APICAST_HTTPS_PORT`), with its certificate loaded.
    static func httpsListener(_ c: PorticoConfiguration) throws -> (port: Int, tls: GatewayTLS)? {
        guard let port = c.gatewayHTTPSPort, let certificate = c.gatewayHTTPSCertificate, let key = c.gatewayHTTPSCertificateKey else { return nil }
        do { return (port, try GatewayTLS(certificatePath: certificate, keyPath: key)) } catch { throw ServerError(error.description) }
    }

    /// `serve` with every role: a staging and a production listener fed by admin in process, metering in process.
    static func gatewaysInProcess(_ c: PorticoConfiguration, meteringAPI: ServiceManagementAPI, readiness: ReadinessState,
                                  management: GatewayManagement) throws -> (GatewayRoleService, InProcessGatewayFeed) {
        let staging = GatewayConfigurationStore()
        let production = GatewayConfigurationStore()
        readiness.watch(staging)
        readiness.watch(production)
        let metering = InProcessMeteringClient(api: meteringAPI)
        let logger = Logger(label: "portico.gateway")
        let client = GatewayRoleService.makeHTTPClient()
        func gateway(_ store: GatewayConfigurationStore, _ environment: String) -> Gateway {
            Gateway(store: store, settings: GatewayRoleService.settings(c, environment: environment), metering: metering,
                    introspector: HTTPTokenIntrospector(client: client), clockMilliseconds: { GatewayRoleService.milliseconds() }, logger: logger)
        }
        let stagingGateway = gateway(staging, "staging"), productionGateway = gateway(production, "production")
        // The management API shows production's configuration; admin alone changes it.
        management.attach(.init(store: production, gateways: [stagingGateway, productionGateway], prepare: nil, boot: nil))
        let service = GatewayRoleService(configuration: c, listeners: [
            .init(name: "gateway-staging", port: c.stagingPort, gateway: stagingGateway),
            .init(name: "gateway-production", port: c.gatewayPort, gateway: productionGateway, https: try httpsListener(c)),
        ], httpClient: client, readiness: readiness, reload: nil, reloadSeconds: 0, management: management, logger: logger)
        return (service, InProcessGatewayFeed(staging: staging, production: production, discovery: OIDCDiscovery(client: client), logger: logger))
    }

    /// `serve --role gateway`: one listener on the gateway port, configured the way APIcast is.
    static func gatewayAlone(_ c: PorticoConfiguration, readiness: ReadinessState, management: GatewayManagement, logger: Logger) async throws -> GatewayRoleService {
        let client = GatewayRoleService.makeHTTPClient()
        do {
            return try await gatewayAlone(c, client: client, readiness: readiness, management: management, logger: logger)
        } catch {
            // A configuration that cannot be loaded at boot ends the process with its error, not a crash of the unused client.
            try? await client.shutdown()
            throw error
        }
    }

    private static func gatewayAlone(_ c: PorticoConfiguration, client: HTTPClient, readiness: ReadinessState, management: GatewayManagement,
                                     logger: Logger) async throws -> GatewayRoleService {
        let store = GatewayConfigurationStore()
        readiness.watch(store)
        let environment = c.gateway.deploymentEnvironment
        let userAgent = GatewayRoleService.userAgent(environment: environment)
        let gatewayLogger = Logger(label: "portico.gateway")
        let filter = ProductFilter(ids: c.gateway.servicesList, hostPattern: c.gateway.servicesFilterByURL)
        let discovery = OIDCDiscovery(client: client)
        /// Filters, then loads OIDC keys (only for the products kept).
        @Sendable func prepared(_ configuration: GatewayConfiguration) async -> GatewayConfiguration {
            await configuration.filtered(filter).resolvingOIDC(discovery: discovery)
        }
        var lazy: LazyConfiguration?
        var reload: (@Sendable () async -> Void)?
        /// The management API's `POST /boot`: the configuration loaded again the way it was at start.
        var boot: (@Sendable () async throws -> GatewayConfiguration)?
        if let file = c.gateway.configFile {
            @Sendable func read() async throws -> GatewayConfiguration {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw ServerError("THREESCALE_CONFIG_FILE \(file) cannot be read; check the path and its permissions")
                }
                do {
                    return await prepared(try GatewayConfiguration.parse(try JSONParser.parse(Array(data))))
                } catch {
                    throw ServerError("THREESCALE_CONFIG_FILE \(file) is not a usable configuration: \(error)")
                }
            }
            store.replace(try await read())
            boot = read
        } else if let endpoint = c.gateway.portalEndpoint {
            let loader = try PortalConfigurationLoader(endpoint: endpoint, environment: environment, client: client, userAgent: userAgent,
                                                       pinnedVersions: c.gateway.pinnedVersions, serviceIDs: c.gateway.servicesList)
            boot = { await prepared(try await loader.load()) }
            if c.gateway.effectiveLoader == .lazy {
                lazy = LazyConfiguration(cacheSeconds: c.gateway.effectiveCacheSeconds,
                                         load: { await prepared(try await loader.load(host: $0)) })
                store.replace(.empty)  // lazy counts as configured from the start, as in APIcast
            } else {
                do {
                    store.replace(await prepared(try await loader.load()))
                } catch {
                    throw ServerError("could not load the gateway configuration at boot: \(error)")
                }
                reload = {
                    do { store.replace(await prepared(try await loader.load())) } catch {
                        gatewayLogger.error("gateway.configuration_reload_failed", metadata: ["error": .string("\(error)"), "kept": "the previous configuration"])
                    }
                }
            }
        }
        for problem in store.configuration.rejected { logger.error("gateway.product_rejected", metadata: ["problem": .string(problem)]) }
        logger.info("gateway.configuration_loaded", metadata: ["products": .stringConvertible(store.configuration.products.count)])
        let gateway = Gateway(store: store, settings: GatewayRoleService.settings(c, environment: environment),
                              metering: HTTPMeteringClient(client: client, userAgent: userAgent), lazy: lazy,
                              introspector: HTTPTokenIntrospector(client: client), clockMilliseconds: { GatewayRoleService.milliseconds() }, logger: gatewayLogger)
        management.attach(.init(store: store, gateways: [gateway], prepare: prepared, boot: boot))
        return GatewayRoleService(configuration: c, listeners: [.init(name: "gateway", port: c.gatewayPort, gateway: gateway, https: try httpsListener(c))],
                                  httpClient: client, readiness: readiness, reload: reload, reloadSeconds: c.gateway.effectiveCacheSeconds,
                                  management: management, logger: gatewayLogger)
    }
}

/// Migrates and seeds the admin store, then serves the admin API until shutdown.
struct AdminRoleService: Service {
    let configuration: PorticoConfiguration
    let opened: OpenedAdminStore
    let readiness: ReadinessState
    /// Admin's writes reach metering before the API call returns: in process in `serve`, over HTTP when split.
    let meteringSync: (any MeteringSync)?
    let syncInProcess: Bool
    let counters: (any MeteringStorage)?
    /// Gateways in this process: loaded before admin serves, then told about every deployment.
    let gatewayFeed: InProcessGatewayFeed?
    let logger: Logger

    func run() async throws {
        // The same refusals `portico doctor` reports: an unsupported server, a schema newer than this binary.
        if let postgres = opened.migrations as? PostgresRecordStore { try await postgres.requireSupportedServer() }
        let applied = try await opened.migrations.migrate()
        for m in applied {
            logger.info("portico.migration_applied", metadata: ["migration.version": .stringConvertible(m.version), "migration.name": .string(m.name)])
        }
        let settings = PlatformServer.adminSettings(configuration)
        let outcome = try await PlatformSeed.run(store: opened.store, inputs: configuration.seed, settings: settings, now: PlatformServer.now())
        if outcome.created {
            try report(outcome.generated, settings: settings)
        }
        var store: any RecordStore = opened.store
        /// Keeps a separate metering process in step; runs as long as the admin listener.
        var syncLoop: (@Sendable () async -> Void)?
        if let meteringSync {
            // A separate metering process gets the changes it missed from a backlog kept in the data directory.
            let syncing = SyncingRecordStore(base: opened.store, sync: meteringSync, masterAccountID: outcome.masterAccountID,
                                             logger: Logger(label: "portico.admin.sync"),
                                             backlogPath: syncInProcess ? nil : configuration.dataDirectory + "/metering-sync-backlog.jsonl")
            store = syncing
            if syncInProcess {
                try await syncing.publishAll()
                logger.info("admin.metering_configuration_published")
            } else {
                // A separate metering process may start after admin: publish everything as soon as it answers; then push
                // the changes that could not reach it (metering restarted or unreachable meanwhile) as soon as it answers again.
                let logger = self.logger
                syncLoop = {
                    var attempt = 0
                    while !Task.isCancelled {
                        // Changes saved before a restart go first, in order; then the whole configuration.
                        if syncing.backlogCount > 0, await syncing.retryBacklog() > 0 {
                            if attempt == 0 { logger.error("admin.metering_publish_failed", metadata: ["error": "metering does not answer", "retry": "every 5 s"]) }
                            attempt += 1
                            try? await Task.sleep(for: .seconds(5))
                            continue
                        }
                        do {
                            try await syncing.publishAll()
                            logger.info("admin.metering_configuration_published", metadata: ["metering_url": .string(configuration.meteringURL ?? "")])
                            break
                        } catch {
                            if attempt == 0 { logger.error("admin.metering_publish_failed", metadata: ["error": .string("\(error)"), "retry": "every 5 s"]) }
                            attempt += 1
                            try? await Task.sleep(for: .seconds(5))
                        }
                    }
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(2))
                        if !Task.isCancelled, syncing.backlogCount > 0 { _ = await syncing.retryBacklog() }
                    }
                }
            }
        }
        if let gatewayFeed {
            try await gatewayFeed.loadAll(store: opened.store, masterAccountID: outcome.masterAccountID)
            store = DeploymentObservingRecordStore(base: store, observer: gatewayFeed)
        }
        let environment = AdminEnvironment(settings: settings, store: store, masterAccountID: outcome.masterAccountID,
                                           clock: { PlatformServer.now() }, counters: counters)
        let api = AdminAPI(environment: environment, logger: Logger(label: "portico.admin"))
        let readiness = self.readiness
        let app = Application(
            responder: AdminHTTPResponder(api: api),
            configuration: .init(address: .hostname(configuration.bindAddress, port: configuration.adminPort), serverName: nil),
            onServerRunning: { _ in readiness.markServing("admin") },
            logger: Logger(label: "portico.admin.http"))
        defer { readiness.markStopped("admin") }
        if let syncLoop {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await syncLoop() }
                group.addTask { try await app.run() }
                // The listener ends (graceful shutdown or failure): stop the sync loop with it.
                defer { group.cancelAll() }
                try await group.next()
            }
        } else {
            try await app.run()
        }
    }

    /// Shows generated credentials once and keeps them in `<data-dir>/credentials` (mode 0600).
    private func report(_ generated: [(name: String, value: String)], settings: AdminSettings) throws {
        let c = configuration
        var lines = generated.map { ($0.name, $0.value) }
        lines.insert(("MASTER_USER", c.seed.masterUser), at: 0)
        lines.insert(("ADMIN_USER", c.seed.adminUser), at: 1)
        lines.append(("ADMIN_URL", "http://\(SystemName.dnsLabel(from: c.seed.tenantName))-admin.\(c.wildcardDomain):\(c.adminPort)"))
        lines.append(("MASTER_URL", "http://\(c.masterDomain).\(c.wildcardDomain):\(c.adminPort)"))
        var written = false
        if c.databaseURL == nil || FileManager.default.fileExists(atPath: c.dataDirectory) {
            try? DataDirectory.prepare(c.dataDirectory)
            written = (try? DataDirectory.writeCredentials(lines, to: c.credentialsPath)) ?? false
        }
        var text = "\nPortico is set up. These credentials are shown once"
        text += written ? " and kept in \(c.credentialsPath) (mode 0600):\n" : ":\n"
        for (name, value) in lines { text += "  \(name)=\(value)\n" }
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
