import Foundation
import Logging
import Metrics
import NIOCore
import Synchronization

/// The gateway's per-request metrics (APIcast's names, reference/gateway.md §7) and access log. Metric
/// handles are made once per status and reused: looking one up in the metrics system for every request
/// costs more than the rest of a cached-path request's bookkeeping.
///
/// As in APIcast, `total_response_time_seconds`, `upstream_response_time_seconds` and `upstream_status` carry
/// `service_id` and `service_system_name` labels, filled only with `APICAST_EXTENDED_METRICS` (empty otherwise,
/// which keeps one series per metric).
public final class GatewayRecorder: Sendable {
    let logger: Logger
    let extendedMetrics: Bool

    /// Which series of a metric: the status and the product labels.
    private struct Series: Hashable {
        var status = 0
        var serviceID = ""
        var serviceName = ""
    }

    /// Every handle, made on first use. Without extended metrics a series is only a status, found by index (no hashing
    /// on a request's way); with them, by the product's labels too.
    private struct Handles: ~Copyable {
        /// `apicast_status` and `upstream_status` by status (100 to 999, as the readers accept).
        var statusCounters = [Counter?](repeating: nil, count: 1000)
        var upstreamCounters = [Counter?](repeating: nil, count: 1000)
        var totalTime: Timer?
        var upstreamTime: Timer?
        var labelledUpstreamCounters: [Series: Counter] = [:]
        var labelledTotalTimes: [Series: Timer] = [:]
        var labelledUpstreamTimes: [Series: Timer] = [:]
    }

    private let handles = Mutex(Handles())

    public init(logger: Logger, extendedMetrics: Bool = false) {
        self.logger = logger
        self.extendedMetrics = extendedMetrics
    }

    /// The metric handle of a series, made on its first use.
    private static func handle<Metric>(_ all: inout [Series: Metric], _ series: Series, make: () -> Metric) -> Metric {
        if let made = all[series] { return made }
        let made = make()
        all[series] = made
        return made
    }

    private static func handle<Metric>(_ all: inout [Metric?], _ status: Int, make: () -> Metric) -> Metric {
        guard status >= 0, status < all.count else { return make() }
        if let made = all[status] { return made }
        let made = make()
        all[status] = made
        return made
    }

    private static func handle<Metric>(_ made: inout Metric?, make: () -> Metric) -> Metric {
        if let made { return made }
        let metric = make()
        made = metric
        return metric
    }

    /// The product's labels (with extended metrics), or nil.
    private func labels(_ product: GatewayProduct?, status: Int = 0) -> Series? {
        guard extendedMetrics else { return nil }
        return Series(status: status, serviceID: product?.id ?? "", serviceName: product?.systemName ?? "")
    }

    private static func serviceLabels(_ s: Series?) -> [(String, String)] {
        [("service_id", s?.serviceID ?? ""), ("service_system_name", s?.serviceName ?? "")]
    }

    func upstreamAnswered(status: Int, since started: NIODeadline, product: GatewayProduct?) {
        let elapsed = (NIODeadline.now() - started).nanoseconds
        let labelled = labels(product, status: status)
        let (timer, counter) = handles.withLock { h -> (Timer, Counter) in
            let makeTimer = { Timer(label: "upstream_response_time_seconds", dimensions: Self.serviceLabels(labelled)) }
            let makeCounter = { Counter(label: "upstream_status", dimensions: [("status", String(status))] + Self.serviceLabels(labelled)) }
            guard let labelled else { return (Self.handle(&h.upstreamTime, make: makeTimer), Self.handle(&h.upstreamCounters, status, make: makeCounter)) }
            var timed = labelled
            timed.status = 0
            return (Self.handle(&h.labelledUpstreamTimes, timed, make: makeTimer), Self.handle(&h.labelledUpstreamCounters, labelled, make: makeCounter))
        }
        timer.recordNanoseconds(elapsed)
        counter.increment()
    }

    func finished(status: Int, reason: String, product: GatewayProduct?, request: GatewayRequest?, since started: NIODeadline, accessLog: Bool,
                  format: LoggingPolicy? = nil) {
        let elapsed = (NIODeadline.now() - started).nanoseconds
        let labelled = labels(product)
        let (counter, timer) = handles.withLock { h -> (Counter, Timer) in
            let counter = Self.handle(&h.statusCounters, status) { Counter(label: "apicast_status", dimensions: [("status", String(status))]) }
            let makeTimer = { Timer(label: "total_response_time_seconds", dimensions: Self.serviceLabels(labelled)) }
            guard let labelled else { return (counter, Self.handle(&h.totalTime, make: makeTimer)) }
            return (counter, Self.handle(&h.labelledTotalTimes, labelled, make: makeTimer))
        }
        counter.increment()
        timer.recordNanoseconds(elapsed)
        guard accessLog, let request else { return }
        if let format {
            let exchange = LoggedExchange(request: request, product: product, status: status, elapsedSeconds: Double(elapsed) / 1e9,
                                          nowSeconds: Int64(Date().timeIntervalSince1970))
            if let line = format.line(exchange.value) { logger.info("\(line)") }
            return
        }
        logger.info("gateway.access", metadata: [
            "http.method": .string(request.method), "http.host": .string(request.host), "http.path": .string(request.path),
            "http.query": .string(AccessLogRedaction.redacted(request.forwardedQuery, product: product)), "http.status": .stringConvertible(status),
            "gateway.reason": .string(reason), "service.id": .string(product?.id ?? ""),
            "client.address": .string(request.remoteAddress ?? ""),
            "duration_ms": .stringConvertible(elapsed / 1_000_000),
        ])
    }
}

/// `threescale_backend_calls` by endpoint and answer, made once each (found by index: every authrep counts one).
final class BackendCallCounters: Sendable {
    static let shared = BackendCallCounters()
    static let endpoints = ["authrep", "auth", "report"]
    static let statuses = ["2xx", "4xx", "5xx", "invalid_status"]
    private let made = Mutex([Counter?](repeating: nil, count: endpoints.count * statuses.count))

    func increment(endpoint: String, status: String) {
        let make = { Counter(label: "threescale_backend_calls", dimensions: [("endpoint", endpoint), ("status", status)]) }
        guard let e = Self.endpoints.firstIndex(of: endpoint), let s = Self.statuses.firstIndex(of: status) else { return make().increment() }
        made.withLock { all in
            let index = e * Self.statuses.count + s
            if let counter = all[index] { return counter }
            let counter = make()
            all[index] = counter
            return counter
        }.increment()
    }
}

/// Credentials never reach the access log: their values are replaced.
enum AccessLogRedaction {
    static let alwaysSecret: Set<String> = ["user_key", "app_key", "access_token", "provider_key", "service_token", "client_secret"]

    /// Request headers whose values a log line never shows (normalised names: lower case, `-` as `_`).
    static func isSecretHeader(_ normalizedName: String, product: GatewayProduct?) -> Bool {
        if ["authorization", "proxy_authorization", "cookie", "x_3scale_debug"].contains(normalizedName) { return true }
        if alwaysSecret.contains(normalizedName) { return true }
        switch product?.credentials.mode {
        case .userKey(let name)?: return CredentialExtractor.headerName(name) == normalizedName
        case .appID(_, let keyName)?: return CredentialExtractor.headerName(keyName) == normalizedName
        default: return false
        }
    }

    static func redacted(_ query: String?, product: GatewayProduct?) -> String {
        guard let query, !query.isEmpty else { return "" }
        var secret = alwaysSecret
        switch product?.credentials.mode {
        case .userKey(let name)?: secret.insert(name)
        case .appID(_, let keyName)?: secret.insert(keyName)
        default: break
        }
        return query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let name = pair.split(separator: "=", maxSplits: 1).first.map { RequestArguments.decode($0.utf8).lowercased() } ?? ""
            return secret.contains(name) ? "\(pair.split(separator: "=", maxSplits: 1).first ?? "")=[REDACTED]" : String(pair)
        }.joined(separator: "&")
    }
}
