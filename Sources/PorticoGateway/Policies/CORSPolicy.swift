import PorticoCore

/// `cors`: answers preflights with 204 before authentication and adds `Access-Control-Allow-*` to responses
/// of requests that carry `Origin`. Unset fields echo the request's values, as in APIcast.
public struct CORSPolicy: Sendable {
    var allowHeaders: [String]?
    var allowMethods: [String]?
    var allowOrigin: String?
    var originRegex: RegexBox?
    var allowCredentials: Bool
    var maxAge: Int

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        allowHeaders = c["allow_headers"]?.arrayValue?.compactMap(\.stringValue)
        allowMethods = c["allow_methods"]?.arrayValue?.compactMap(\.stringValue)
        allowOrigin = c["allow_origin"]?.stringValue
        if let origin = allowOrigin, origin != "*", !origin.contains("://") {
            guard let regex = try? Regex(origin) else { throw GatewayConfigurationError("allow_origin \"\(origin)\" is not a valid regular expression") }
            originRegex = RegexBox(regex)
        }
        allowCredentials = c["allow_credentials"] != .bool(false)
        maxAge = Int(c["max_age"]?.stringValue ?? "") ?? 600
    }

    static func isPreflight(method: String, header: (String) -> String?) -> Bool {
        method == "OPTIONS" && header("origin") != nil && header("access_control_request_method") != nil
    }

    /// The headers for a request with `Origin`; none without one.
    func headers(header: (String) -> String?) -> [(String, String)] {
        guard let origin = header("origin") else { return [] }
        var out: [(String, String)] = []
        if let regex = originRegex {
            if regex.matches(origin) { out.append(("Access-Control-Allow-Origin", origin)) }
        } else {
            out.append(("Access-Control-Allow-Origin", allowOrigin ?? origin))
        }
        if let h = allowHeaders?.joined(separator: ", ") ?? header("access_control_request_headers") { out.append(("Access-Control-Allow-Headers", h)) }
        if let m = allowMethods?.joined(separator: ", ") ?? header("access_control_request_method") { out.append(("Access-Control-Allow-Methods", m)) }
        out.append(("Access-Control-Allow-Credentials", allowCredentials ? "true" : "false"))
        out.append(("Access-Control-Max-Age", String(maxAge)))
        return out
    }
}
