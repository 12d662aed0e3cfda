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

    /// Which series of a metric: the status and the product labels (empty strings without extended metrics, so
    /// finding a handle builds no string).
    private struct Series: Hashable {
        var status = 0
        var serviceID = ""
        var serviceName = ""
    }

    private let statusCounters = Mutex<[Series: Counter]>([:])
    private let upstreamCounters = Mutex<[Series: Counter]>([:])
    private let totalTimes = Mutex<[Series: Timer]>([:])
    private let upstreamTimes = Mutex<[Series: Timer]>([:])

    public init(logger: Logger, extendedMetrics: Bool = false) {
        self.logger = logger
        self.extendedMetrics = extendedMetrics
    }

    /// The metric handle of a series, made on its first use.
    private static func handle<Metric: Sendable>(_ box: borrowing Mutex<[Series: Metric]>, _ series: Series, make: () -> Metric) -> Metric {
        box.withLock { all in
            if let made = all[series] { return made }
            let made = make()
            all[series] = made
            return made
        }
    }

    /// The product's series (its labels only with extended metrics).
    private func series(_ product: GatewayProduct?, status: Int = 0) -> Series {
        guard extendedMetrics, let product else { return Series(status: status) }
        return Series(status: status, serviceID: product.id, serviceName: product.systemName ?? "")
    }

    private static func serviceLabels(_ s: Series) -> [(String, String)] { [("service_id", s.serviceID), ("service_system_name", s.serviceName)] }

    func upstreamAnswered(status: Int, since started: NIODeadline, product: GatewayProduct?) {
        let timed = series(product)
        Self.handle(upstreamTimes, timed) { Timer(label: "upstream_response_time_seconds", dimensions: Self.serviceLabels(timed)) }
            .recordNanoseconds((NIODeadline.now() - started).nanoseconds)
        let counted = series(product, status: status)
        Self.handle(upstreamCounters, counted) {
            Counter(label: "upstream_status", dimensions: [("status", String(status))] + Self.serviceLabels(counted))
        }.increment()
    }

    func finished(status: Int, reason: String, product: GatewayProduct?, request: GatewayRequest?, since started: NIODeadline, accessLog: Bool,
                  format: LoggingPolicy? = nil) {
        let elapsed = (NIODeadline.now() - started).nanoseconds
        Self.handle(statusCounters, Series(status: status)) { Counter(label: "apicast_status", dimensions: [("status", String(status))]) }.increment()
        let timed = series(product)
        Self.handle(totalTimes, timed) { Timer(label: "total_response_time_seconds", dimensions: Self.serviceLabels(timed)) }.recordNanoseconds(elapsed)
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

/// `threescale_backend_calls` by endpoint and answer, made once each.
final class BackendCallCounters: Sendable {
    static let shared = BackendCallCounters()
    private let made = Mutex<[String: Counter]>([:])

    func increment(endpoint: String, status: String) {
        made.withLock { all in
            let key = endpoint + " " + status
            if let counter = all[key] { return counter }
            let counter = Counter(label: "threescale_backend_calls", dimensions: [("endpoint", endpoint), ("status", status)])
            all[key] = counter
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
