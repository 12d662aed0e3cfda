/// Process-wide gateway behaviour (APIcast's environment variables where they exist).
public struct GatewaySettings: Sendable {
    /// `THREESCALE_DEPLOYMENT_ENV`: `staging` or `production`; shown in the User-Agent towards metering.
    public var environment: String
    /// `APICAST_PATH_ROUTING`: choose among products sharing a host by their mapping rules.
    public var pathRouting: Bool
    /// `APICAST_PATH_ROUTING_ONLY`: like path routing, without falling back to the host's first product.
    public var pathRoutingOnly: Bool
    /// `APICAST_BACKEND_CACHE_HANDLER` (or the `caching` policy per product).
    public var cacheMode: AuthorizationCache.Mode
    /// `APICAST_RESPONSE_CODES`: send the upstream status as `log[code]` with deferred reports.
    public var reportResponseCodes: Bool
    /// `BACKEND_ENDPOINT_OVERRIDE`: metering endpoint for every product.
    public var backendEndpointOverride: String?
    /// Largest request head (request line and headers) accepted; larger ones get 431.
    public var maximumHeaderBytes: Int
    /// Largest request body accepted (0 = unlimited); larger ones get 413.
    public var maximumBodyBytes: Int64
    /// Form bodies up to this size are read for credentials and mapping rules (nginx's client body buffer).
    public var clientBodyBufferBytes: Int
    /// Upstream timeouts when no `upstream_connection` policy says otherwise (seconds).
    public var upstreamConnectTimeout: Double
    public var upstreamReadTimeout: Double
    public var accessLog: Bool
    /// `APICAST_EXTENDED_METRICS`: per-product labels on the response-time and upstream-status metrics.
    public var extendedMetrics = false

    public init(environment: String = "production", pathRouting: Bool = false, pathRoutingOnly: Bool = false, cacheMode: AuthorizationCache.Mode = .strict,
                reportResponseCodes: Bool = false, backendEndpointOverride: String? = nil, maximumHeaderBytes: Int = 32 * 1024,
                maximumBodyBytes: Int64 = 0, clientBodyBufferBytes: Int = 16 * 1024, upstreamConnectTimeout: Double = 10,
                upstreamReadTimeout: Double = 60, accessLog: Bool = true) {
        self.environment = environment
        self.pathRouting = pathRouting
        self.pathRoutingOnly = pathRoutingOnly
        self.cacheMode = cacheMode
        self.reportResponseCodes = reportResponseCodes
        self.backendEndpointOverride = backendEndpointOverride
        self.maximumHeaderBytes = maximumHeaderBytes
        self.maximumBodyBytes = maximumBodyBytes
        self.clientBodyBufferBytes = clientBodyBufferBytes
        self.upstreamConnectTimeout = upstreamConnectTimeout
        self.upstreamReadTimeout = upstreamReadTimeout
        self.accessLog = accessLog
    }
}
