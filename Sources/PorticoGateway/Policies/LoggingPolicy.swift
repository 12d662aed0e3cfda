import PorticoCore

/// `logging` (reference/gateway.md §6.2): access logs on or off for the product, and instead of Portico's
/// standard line either a Liquid line (`custom_logging`) or a JSON object (`enable_json_logs` with
/// `json_object_config` entries, each value plain or Liquid), written only for requests the `condition` holds for.
/// The condition takes APIcast's logging shape (`match`/`match_type` against `value`/`value_type`) and, like the
/// templates, sees the request's variables and the response's (`LoggedExchange`).
public struct LoggingPolicy: Sendable {
    var accessLogs: Bool
    var custom: LiquidTemplate?
    var json: [(key: String, value: PlainOrLiquid)]?
    var condition: PolicyCondition

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        accessLogs = c["enable_access_logs"] != .bool(false)
        if let template = c["custom_logging"]?.stringValue, !template.isEmpty {
            custom = try LiquidTemplate(template)
        }
        if c["enable_json_logs"] == .bool(true) {
            var entries: [(String, PlainOrLiquid)] = []
            for entry in c["json_object_config"]?.arrayValue ?? [] {
                guard let key = entry["key"]?.stringValue, !key.isEmpty else { throw GatewayConfigurationError("json_object_config entries need a key") }
                entries.append((key, try PlainOrLiquid(entry["value"]?.stringValue ?? "", type: entry["value_type"]?.stringValue)))
            }
            json = entries
        }
        // APIcast's logging condition names its sides match/value; the common condition calls them left/right.
        var translated: JSONValue?
        if let given = c["condition"], !given.isNull {
            let operations: [JSONValue] = (given["operations"]?.arrayValue ?? []).map { o in
                .object(["left": o["match"] ?? "", "left_type": o["match_type"] ?? "plain", "op": o["op"] ?? "==",
                         "right": o["value"] ?? "", "right_type": o["value_type"] ?? "plain"])
            }
            translated = .object(["operations": .array(operations), "combine_op": given["combine_op"] ?? "and"])
        }
        condition = try PolicyCondition(translated)
    }

    /// Whether this policy writes its own line instead of the standard one.
    var formats: Bool { custom != nil || json != nil }

    /// The line for one finished exchange, or nil when the condition does not hold.
    func line(_ lookup: (String) -> String?) -> String? {
        guard condition.holds(lookup) else { return nil }
        if let json {
            return JSONValue.object(JSONObject(json.map { ($0.key, JSONValue.string($0.value.value(lookup))) })).serializedString
        }
        return custom?.render(lookup)
    }
}

/// The variables a `logging` line sees once the response is known: the request's (as in other Liquid), nginx's
/// usual log variables, and never a credential — the query, the request line and credential headers are shown
/// with their secret values redacted, as in Portico's standard access log.
struct LoggedExchange {
    var request: GatewayRequest
    var product: GatewayProduct?
    var status: Int
    var elapsedSeconds: Double
    var nowSeconds: Int64

    func value(_ name: String) -> String? {
        switch name {
        case "status": return String(status)
        case "request_time": return Self.seconds(elapsedSeconds)
        case "time_local": return Self.timeLocal(nowSeconds)
        case "query_string", "args", "original_request.query": return AccessLogRedaction.redacted(request.forwardedQuery, product: product)
        case "request":
            let query = AccessLogRedaction.redacted(request.forwardedQuery, product: product)
            return "\(request.method) \(request.path)\(query.isEmpty ? "" : "?" + query) HTTP/1.1"
        case "request_method": return request.method
        case "request_uri":
            let query = AccessLogRedaction.redacted(request.forwardedQuery, product: product)
            return request.path + (query.isEmpty ? "" : "?" + query)
        default:
            let headerName: String?
            if name.hasPrefix("http_") { headerName = String(name.dropFirst(5)) }
            else if name.hasPrefix("headers.") { headerName = CredentialExtractor.headerName(String(name.dropFirst(8))) }
            else { headerName = nil }
            if let headerName, AccessLogRedaction.isSecretHeader(headerName, product: product) {
                return request.header(headerName) == nil ? nil : "[REDACTED]"
            }
            if let headerName, name.hasPrefix("http_") { return request.header(headerName) }
            return request.liquidValue(name, service: product)
        }
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// nginx's `$time_local` in UTC: `21/Nov/2026:23:30:05 +0000`.
    static func timeLocal(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let (year, month, day) = Timestamp.civil(fromDays: days)
        let second = seconds - days * 86_400
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : String(v) }
        return "\(two(day))/\(months[Int(month) - 1])/\(year):\(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60)) +0000"
    }

    /// nginx's `$request_time`: seconds with millisecond resolution.
    static func seconds(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        let fraction = milliseconds % 1000
        return "\(milliseconds / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + String(fraction)
    }
}
