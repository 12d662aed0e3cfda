import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PorticoAdmin
import PorticoCore
import PorticoGateway
import PorticoMetering
import PorticoStore
import ServiceLifecycle
import Synchronization

/// `MeteringClient` in process: the gateway's calls go straight to the Service Management API of the same
/// `serve`, with the same semantics as over HTTP (the same request and reply types).
struct InProcessMeteringClient: MeteringClient {
    let api: ServiceManagementAPI

    func send(_ call: MeteringCall) async -> MeteringAnswer {
        let isReport = call.endpoint == .report
        let request = MeteringRequest(method: isReport ? "POST" : "GET", path: call.endpoint.rawValue, query: Array(call.encodedQuery.utf8),
                                      contentType: isReport ? "application/x-www-form-urlencoded" : nil, body: isReport ? Array(call.encodedForm.utf8) : [],
                                      options: MeteringCall.options, userAgent: "Portico gateway (in process)")
        let reply = await api.handle(request)
        return MeteringAnswer(status: reply.status, header: reply.header)
    }
}

/// `MeteringClient` over HTTP (a gateway alone, or in front of 3scale's backend-listener): keep-alive
/// connections, APIcast's User-Agent and `3scale-options`; no retries (an authrep is never sent twice).
/// Plain-HTTP endpoints use `MeteringConnectionPool` (NIO channels); HTTPS ones async-http-client.
final class HTTPMeteringClient: MeteringClient {
    let client: HTTPClient
    let userAgent: String
    /// By endpoint as configured, and the last one asked for (every call names one; most gateways have one, and
    /// comparing the same string is cheaper than hashing it).
    private let endpoints = Mutex<(last: (base: String, endpoint: PlainMeteringEndpoint)?, all: [String: PlainMeteringEndpoint])>((nil, [:]))
    static let timeout = TimeAmount.seconds(10)
    static let allocator = ByteBufferAllocator()
    /// How long a deferred authrep waits for others to be written with it (`MeteringConnectionPool`).
    static let deferredGathering = TimeAmount.milliseconds(1)

    init(client: HTTPClient, userAgent: String) {
        self.client = client
        self.userAgent = userAgent
    }

    func send(_ call: MeteringCall) async -> MeteringAnswer {
        if call.baseURL.hasPrefix("http://"), let endpoint = plainEndpoint(call.baseURL) {
            return await endpoint.pool.send(request(call, to: endpoint), timeout: Self.timeout)
        }
        var base = call.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("https://") else { return .unreachable }
        let query = call.encodedQuery
        var request = HTTPClientRequest(url: base + call.endpoint.rawValue + (query.isEmpty ? "" : "?" + query))
        request.headers.add(name: "User-Agent", value: userAgent)
        request.headers.add(name: "3scale-options", value: MeteringCall.options)
        if let host = call.hostHeader, !host.isEmpty { request.headers.add(name: "Host", value: host) }
        if call.endpoint == .report {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: call.encodedForm))
        }
        do {
            let response = try await client.execute(request, timeout: Self.timeout)
            _ = try await response.body.collect(upTo: 1 << 20)
            return Self.answer(status: Int(response.status.code), response.headers)
        } catch {
            return .unreachable
        }
    }

    /// A plain-HTTP endpoint, by the endpoint as configured (parsed once, not per call).
    func plainEndpoint(_ base: String) -> PlainMeteringEndpoint? {
        endpoints.withLock { known in
            if let last = known.last, last.base == base { return last.endpoint }
            if let endpoint = known.all[base] {
                known.last = (base, endpoint)
                return endpoint
            }
            var trimmed = base
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            guard let url = UpstreamURL(trimmed) else { return nil }
            let made = PlainMeteringEndpoint(url: url)
            known.all[base] = made
            known.last = (base, made)
            return made
        }
    }

    /// A call to a plain-HTTP endpoint is written and answered on the calling event loop with no task in between
    /// (one task per proxied request was ~5 % of the cached path's CPU time); a deferred authrep is gathered with
    /// the others of the next millisecond into one write. Anything else goes through `send` in a task.
    func send(_ call: MeteringCall, executor: (any TaskExecutor)?, deferred: Bool, completion: @escaping @Sendable (MeteringAnswer) -> Void) {
        guard call.baseURL.hasPrefix("http://"), let loop = MultiThreadedEventLoopGroup.currentEventLoop, let endpoint = plainEndpoint(call.baseURL) else {
            return sendInTask(call, executor: executor, completion: completion)
        }
        endpoint.pool.send(request(call, to: endpoint), timeout: Self.timeout, on: loop, gathering: deferred ? Self.deferredGathering : .zero,
                           completion: completion)
    }

    /// The request for a call: made once for a call sent many times (a cache entry's authrep), then sent as it is.
    func request(_ call: MeteringCall, to endpoint: PlainMeteringEndpoint) -> ByteBuffer {
        guard let madeOnce = call.madeOnce else { return plainRequest(call, to: endpoint) }
        return madeOnce.request(for: self) { plainRequest(call, to: endpoint) }
    }

    /// The whole request as bytes: `GET` for authorizations and authreps, `POST` with a form for reports. Header
    /// values come from configuration (the backend's host) and this build; a CR or LF in them is dropped rather
    /// than allowed to end the line.
    func plainRequest(_ call: MeteringCall, to endpoint: PlainMeteringEndpoint) -> ByteBuffer {
        let isReport = call.endpoint == .report
        let host = call.hostHeader.flatMap { $0.isEmpty ? nil : $0 } ?? endpoint.url.hostHeader
        var buffer = Self.allocator.buffer(capacity: 512)
        buffer.writeStaticString(isReport ? "POST " : "GET ")
        buffer.writeString(endpoint.url.path)
        buffer.writeString(call.endpoint.rawValue)
        if let encoded = call.preparedQuery {
            if !encoded.isEmpty {
                buffer.writeStaticString("?")
                buffer.writeString(encoded)
            }
        } else if !call.query.isEmpty {
            buffer.writeStaticString("?")
            RequestArguments.write(pairs: call.query, into: &buffer)
        }
        if isReport {
            let form = call.encodedForm
            buffer.writeImmutableBuffer(requestLinesAfterTarget(host: host, contentType: "application/x-www-form-urlencoded", contentLength: form.utf8.count))
            buffer.writeString(form)
        } else {
            // Every authrep to an endpoint ends with the same lines: made once per Host value.
            buffer.writeImmutableBuffer(endpoint.getLinesAfterTarget(host: host) { requestLinesAfterTarget(host: host, contentType: nil, contentLength: 0) })
        }
        return buffer
    }

    /// ` HTTP/1.1` and the header fields, up to the empty line that ends the head.
    func requestLinesAfterTarget(host: String, contentType: StaticString?, contentLength: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString(" HTTP/1.1\r\nHost: ")
        Self.writeFieldValue(host, into: &buffer)
        buffer.writeStaticString("\r\nUser-Agent: ")
        Self.writeFieldValue(userAgent, into: &buffer)
        buffer.writeStaticString("\r\n3scale-options: ")
        buffer.writeString(MeteringCall.options)
        if let contentType {
            buffer.writeStaticString("\r\nContent-Type: ")
            buffer.writeStaticString(contentType)
        }
        buffer.writeStaticString("\r\nContent-Length: ")
        buffer.writeString(String(contentLength))
        buffer.writeStaticString("\r\n\r\n")
        return buffer
    }

    /// A header value without the bytes that would end its line early.
    static func writeFieldValue(_ value: String, into buffer: inout ByteBuffer) {
        if value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) {
            buffer.writeBytes(value.utf8.filter { $0 != 13 && $0 != 10 && $0 != 0 })
        } else {
            buffer.writeString(value)
        }
    }

    static func answer(status: Int, _ h: HTTPHeaders) -> MeteringAnswer {
        MeteringAnswer(status: status) { h.first(name: $0) }
    }
}

/// A plain-HTTP Service Management API endpoint: its connections, and the lines that end every GET to it.
final class PlainMeteringEndpoint: Sendable {
    let url: UpstreamURL
    let pool: MeteringConnectionPool
    /// By Host value (products sharing an endpoint may name different hosts; there are few).
    private let getLines = Mutex<[String: ByteBuffer]>([:])

    init(url: UpstreamURL) {
        self.url = url
        self.pool = MeteringConnectionPool(host: url.host, port: url.port)
    }

    func getLinesAfterTarget(host: String, make: () -> ByteBuffer) -> ByteBuffer {
        getLines.withLock { known in
            if let lines = known[host] { return lines }
            let lines = make()
            known[host] = lines
            return lines
        }
    }
}

/// In `serve`: admin tells the gateways about each deployment as it commits, so a change is live on staging
/// (and, once promoted, on production) before the admin API call returns.
final class InProcessGatewayFeed: GatewayDeploymentObserver {
    let staging: GatewayConfigurationStore
    let production: GatewayConfigurationStore
    let discovery: OIDCDiscovery
    let logger: Logger

    init(staging: GatewayConfigurationStore, production: GatewayConfigurationStore, discovery: OIDCDiscovery, logger: Logger) {
        self.staging = staging
        self.production = production
        self.discovery = discovery
        self.logger = logger
    }

    func store(for environment: ProxyConfig.Environment) -> GatewayConfigurationStore { environment == .sandbox ? staging : production }

    /// Loads every product's newest version of both environments (start-up).
    func loadAll(store: any RecordStore, masterAccountID: Int64) async throws {
        for environment in ProxyConfig.Environment.allCases {
            var products: [GatewayProduct] = []
            var rejected: [String] = []
            for config in try await GatewayDeployments.latest(store: store, masterAccountID: masterAccountID, environment: environment) {
                do { products.append(try GatewayProduct(document: config.content)) } catch { rejected.append("\(error)") }
            }
            let resolved = await GatewayConfiguration(products: products, rejected: rejected).resolvingOIDC(discovery: discovery)
            for problem in resolved.rejected { logger.error("gateway.product_rejected", metadata: ["environment": .string(environment.rawValue), "problem": .string(problem)]) }
            self.store(for: environment).replace(resolved)
            logger.info("gateway.configuration_loaded", metadata: ["environment": .string(environment.rawValue), "products": .stringConvertible(products.count)])
        }
    }

    func deployed(_ config: ProxyConfig) async {
        do {
            let resolved = await GatewayConfiguration(products: [try GatewayProduct(document: config.content)]).resolvingOIDC(discovery: discovery)
            for problem in resolved.rejected { logger.error("gateway.product_rejected", metadata: ["problem": .string(problem)]) }
            guard let product = resolved.products.first else { return }
            store(for: config.environment).update { $0.replacing(product) }
        } catch {
            logger.error("gateway.product_rejected", metadata: ["environment": .string(config.environment.rawValue), "problem": .string(error.description)])
        }
    }

    func productDeleted(tenantID: Int64, productID: Int64) async {
        for store in [staging, production] { store.update { $0.removing(productID: String(productID)) } }
    }
}

/// The gateway listeners of this process and their background duties (deferred reports, batches,
/// configuration reloads). Stops accepting on SIGTERM, lets requests in flight finish, then sends what
/// reports are queued.
struct GatewayRoleService: Service {
    struct Listener: Sendable {
        var name: String
        var port: Int
        var gateway: Gateway
        /// Also served over HTTPS on this port (APIcast's `APICAST_HTTPS_PORT`).
        var https: (port: Int, tls: GatewayTLS)? = nil
    }

    let configuration: PorticoConfiguration
    let listeners: [Listener]
    let httpClient: HTTPClient
    let readiness: ReadinessState
    /// Periodic reload for a gateway alone in boot mode.
    let reload: (@Sendable () async -> Void)?
    let reloadSeconds: Int
    /// Told when the listeners start draining (`/status/info`).
    let management: GatewayManagement
    let logger: Logger

    static func makeHTTPClient() -> HTTPClient {
        var c = HTTPClient.Configuration()
        c.redirectConfiguration = .disallow
        c.timeout = .init(connect: .seconds(10), read: .seconds(60))
        c.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        // A refused connection fails the request at once (502 for an upstream, "unavailable" for metering)
        // instead of queueing it behind connection retries until the connect timeout.
        c.connectionPool.retryConnectionEstablishment = false
        c.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
    }

    static func userAgent(environment: String) -> String {
        "APIcast/3.16.0 (Linux; x86_64; env:\(environment)) Portico"
    }

    static func settings(_ c: PorticoConfiguration, environment: String) -> GatewaySettings {
        var settings = GatewaySettings(environment: environment, pathRouting: c.gateway.pathRouting, pathRoutingOnly: c.gateway.pathRoutingOnly,
                                       cacheMode: AuthorizationCache.Mode(rawValue: c.gateway.cacheHandler) ?? .strict,
                                       reportResponseCodes: c.gateway.reportResponseCodes, backendEndpointOverride: c.gateway.backendEndpointOverride,
                                       maximumBodyBytes: c.gateway.maximumBodyBytes, accessLog: c.gateway.accessLog)
        settings.extendedMetrics = c.gateway.extendedMetrics
        return settings
    }

    /// Wall-clock milliseconds from the kernel's coarse clock: read twice per request (the authorization cache's
    /// expiries), it costs a memory read rather than a reading of the time counter, and is as precise as the
    /// scheduler's tick (at most 4 ms), which expiries counted in seconds do not notice (APIcast reads nginx's
    /// clock, cached once per event-loop turn).
    static func milliseconds() -> Int64 {
        var now = timespec()
        guard clock_gettime(CLOCK_REALTIME_COARSE, &now) == 0 else { return Int64(Date().timeIntervalSince1970 * 1000) }
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    func run() async throws {
        let readiness = self.readiness
        let management = self.management
        await withTaskGroup(of: Void.self) { background in
            if let reload, reloadSeconds > 0 {
                background.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(reloadSeconds))
                        if Task.isCancelled { break }
                        await reload()
                    }
                }
            }
            // Reporters run until told to finish and then send what is queued: they are never cancelled.
            await withTaskGroup(of: Void.self) { reporters in
                for listener in listeners {
                    reporters.addTask { await listener.gateway.deferred.run() }
                    reporters.addTask { await listener.gateway.batcher.run() }
                }
                await withTaskGroup(of: Void.self) { servers in
                    var endpoints: [(name: String, gateway: Gateway, port: Int, tls: GatewayTLS?)] = []
                    for listener in listeners {
                        endpoints.append((listener.name, listener.gateway, listener.port, nil))
                        if let https = listener.https { endpoints.append((listener.name + "-https", listener.gateway, https.port, https.tls)) }
                    }
                    for listener in endpoints {
                        let server = GatewayServer(gateway: listener.gateway, host: configuration.bindAddress, port: listener.port,
                                                   logger: Logger(label: "portico.gateway.\(listener.name)"), tls: listener.tls)
                        servers.addTask {
                            do {
                                try await withGracefulShutdownHandler {
                                    try await server.run(onServing: { readiness.markServing(listener.name) })
                                } onGracefulShutdown: {
                                    management.markExiting()
                                    server.beginShutdown()
                                }
                            } catch {
                                Logger(label: "portico.gateway").error("gateway.listener_failed", metadata: ["listener": .string(listener.name), "error": .string("\(error)")])
                            }
                            readiness.markStopped(listener.name)
                        }
                    }
                }
                // Listeners have drained: the reporters send what is queued, then return.
                for listener in listeners {
                    listener.gateway.deferred.finish()
                    listener.gateway.batcher.stop()
                }
            }
            background.cancelAll()
        }
        for listener in listeners { listener.gateway.sharedLimiter.close() }
        try? await httpClient.shutdown()
    }
}
