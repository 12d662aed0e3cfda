import Synchronization

/// A response the gateway writes itself.
public struct LocalReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: String
    /// Why the gateway answered (bounded set; access log and metrics label).
    public var reason: String

    public init(status: Int, headers: [(String, String)] = [], body: String = "", reason: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason
    }

    static func error(_ e: ErrorReply, reason: String, extraHeaders: [(String, String)] = []) -> LocalReply {
        LocalReply(status: e.status, headers: [("Content-Type", e.contentType)] + extraHeaders, body: e.body, reason: reason)
    }

    static let notFound = LocalReply(status: 404, reason: "no_service")
}

/// Where and how a request is forwarded. A reference: the connection handler reads it at every step of the
/// exchange, and it never changes once made.
public final class ProxyPlan: Sendable {
    public let upstream: UpstreamURL
    public let path: String
    public let query: String?
    public let hostHeader: String
    public let addedHeaders: [(String, String)]
    public let connectTimeout: Double
    public let readTimeout: Double
    public let retries: Int
    /// `upstream_mtls`: the TLS identity and verification for an `https` upstream.
    public let mutualTLS: UpstreamMTLSPolicy?
    /// `http_proxy`: the forward proxy to reach the upstream through.
    public let forwardProxy: ForwardProxy?

    init(upstream: UpstreamURL, path: String, query: String?, hostHeader: String, addedHeaders: [(String, String)], connectTimeout: Double,
         readTimeout: Double, retries: Int, mutualTLS: UpstreamMTLSPolicy?, forwardProxy: ForwardProxy?) {
        self.upstream = upstream
        self.path = path
        self.query = query
        self.hostHeader = hostHeader
        self.addedHeaders = addedHeaders
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.retries = retries
        self.mutualTLS = mutualTLS
        self.forwardProxy = forwardProxy
    }
}

/// What happens to the response on the way out (header_filter) and after it (post_action).
public struct ResponseActions: Sendable {
    public var headerCommands: [HeadersPolicy.Command] = []
    public var corsHeaders: [(String, String)] = []
    public var statusOverwrite: [Int: Int] = [:]
    public var extraHeaders: [(String, String)] = []
    /// The authrep to make once the upstream answered (the request was authorized from cache).
    public var deferredAuthrep: DeferredAuthrep?
    public var accessLog = true
    /// `logging`'s own line (Liquid or JSON) instead of the standard access log line.
    public var accessLogFormat: LoggingPolicy?
    /// `payload_limits`' response limit: an upstream answer declaring a longer Content-Length becomes a 413.
    public var responseBodyLimit: Int64?
    /// `custom_metrics`, evaluated with the response status.
    public var customMetrics: PendingCustomMetrics?
    /// `rate_limit` connection limiters' slots, given back when the response ended.
    public var connectionSlots: [ConnectionSlots] = []
}

/// Connection-limiter slots one request holds while it is in progress. They are given back exactly once: when
/// its response ended (`Gateway.responded`), when the client went away, or, failing both, when the request is
/// dropped (so no path through the connection handler can keep a slot taken).
public final class ConnectionSlots: Sendable {
    private let giveBack: Mutex<(@Sendable () -> Void)?>

    init(_ giveBack: @escaping @Sendable () -> Void) { self.giveBack = Mutex(giveBack) }

    public func leave() {
        let pending = giveBack.withLock { stored in
            defer { stored = nil }
            return stored
        }
        pending?()
    }

    deinit { leave() }
}

/// The pipeline's verdict for a request. A reference: it is large (the plan, the response actions, the product)
/// and goes from the pipeline to the connection and its exchange unchanged.
public final class GatewayDecision: Sendable {
    public enum Action: Sendable {
        case reply(LocalReply)
        case proxy(ProxyPlan)
    }
    public let action: Action
    public let response: ResponseActions
    public let product: GatewayProduct?

    public init(action: Action, response: ResponseActions, product: GatewayProduct?) {
        self.action = action
        self.response = response
        self.product = product
    }
}

/// A cached-path authrep, sent after the upstream answered; its answer updates the cache.
public struct DeferredAuthrep: Sendable {
    /// The authrep as made for the cache entry, kept with it for the next request the entry allows.
    var prepared: PreparedAuthrep
    /// `custom_metrics`' usage, added to the prepared authrep's when it goes out.
    var addedUsage: [(metric: String, delta: Int64)] = []
    public var cacheKey: String
    public var mode: AuthorizationCache.Mode
    public var ttlMilliseconds: Int64?
    public var reportResponseCode: Bool

    /// What goes out: the prepared authrep, with the added usage summed into it.
    public var call: MeteringCall {
        guard !addedUsage.isEmpty else { return prepared.call }
        var call = prepared.call
        for (metric, delta) in addedUsage {
            let name = "usage[\(metric)]"
            if let i = call.query.firstIndex(where: { $0.0 == name }) {
                call.query[i].1 = String((Int64(call.query[i].1) ?? 0) + delta)
            } else {
                call.query.append((name, String(delta)))
            }
        }
        return call
    }
}
