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
    private let statusCounters = Mutex<[Int: Counter]>([:])
    /// By status and product (the product part empty without extended metrics).
    private let upstreamCounters = Mutex<[String: Counter]>([:])
    private let totalTimes = Mutex<[String: Timer]>([:])
    private let upstreamTimes = Mutex<[String: Timer]>([:])

    public init(logger: Logger, extendedMetrics: Bool = false) {
        self.logger = logger
        self.extendedMetrics = extendedMetrics
    }

    private static func counter(_ box: borrowing Mutex<[Int: Counter]>, label: String, status: Int) -> Counter {
        box.withLock { all in
            if let made = all[status] { return made }
            let made = Counter(label: label, dimensions: [("status", String(status))])
            all[status] = made
            return made
        }
    }

    /// The `service_id` and `service_system_name` label values for a product.
    private func service(_ product: GatewayProduct?) -> (id: String, name: String) {
        guard extendedMetrics, let product else { return ("", "") }
        return (product.id, product.systemName ?? "")
    }

    private static func timer(_ box: borrowing Mutex<[String: Timer]>, label: String, service: (id: String, name: String)) -> Timer {
        box.withLock { all in
            let key = service.id + "\u{0}" + service.name
            if let made = all[key] { return made }
            let made = Timer(label: label, dimensions: [("service_id", service.id), ("service_system_name", service.name)])
            all[key] = made
            return made
        }
    }

    func upstreamAnswered(status: Int, since started: NIODeadline, product: GatewayProduct?) {
        let service = self.service(product)
        Self.timer(upstreamTimes, label: "upstream_response_time_seconds", service: service).recordNanoseconds((NIODeadline.now() - started).nanoseconds)
        upstreamCounters.withLock { all in
            let key = String(status) + "\u{0}" + service.id + "\u{0}" + service.name
            if let made = all[key] { return made }
            let made = Counter(label: "upstream_status", dimensions: [("status", String(status)), ("service_id", service.id),
                                                                    ("service_system_name", service.name)])
            all[key] = made
            return made
        }.increment()
    }

    func finished(status: Int, reason: String, product: GatewayProduct?, request: GatewayRequest?, since started: NIODeadline, accessLog: Bool,
                  format: LoggingPolicy? = nil) {
        let elapsed = (NIODeadline.now() - started).nanoseconds
        Self.counter(statusCounters, label: "apicast_status", status: status).increment()
        Self.timer(totalTimes, label: "total_response_time_seconds", service: service(product)).recordNanoseconds(elapsed)
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
