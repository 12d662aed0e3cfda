/// The XML documents of the Service Management API (reference/service-management-api.md §3): compact, with the
/// XML declaration, times as `2010-05-15 00:00:00 +0000`. Text and attributes are escaped (apisonator leaves
/// `reason` and metric names unescaped, a latent bug Portico does not copy).
public enum ServiceManagementXML {
    public static let contentType = "application/vnd.3scale-v2.0+xml"
    static let declaration = #"<?xml version="1.0" encoding="UTF-8"?>"#

    /// Escapes an attribute value (quotes included).
    public static func escape(_ s: String) -> String { escape(s, quotes: true) }

    /// Escapes text content as Ruby's Builder does: only `&`, `<` and `>`, so messages such as
    /// `user key "k" is invalid` keep their quotes byte for byte.
    public static func escapeText(_ s: String) -> String { escape(s, quotes: false) }

    static func escape(_ s: String, quotes: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where quotes: out += "&quot;"
            case "'" where quotes: out += "&apos;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `<error code="…">message</error>`
    public static func error(code: String, message: String) -> String {
        declaration + #"<error code=""# + escape(code) + #"">"# + escapeText(message) + "</error>"
    }

    public struct UsageReport: Sendable, Equatable {
        public var metric: String
        public var period: LimitPeriod
        public var start: Timestamp
        public var end: Timestamp
        public var maxValue: Int64
        public var currentValue: Int64
        public var exceeded: Bool
        public init(metric: String, period: LimitPeriod, start: Timestamp, end: Timestamp, maxValue: Int64, currentValue: Int64, exceeded: Bool) {
            self.metric = metric
            self.period = period
            self.start = start
            self.end = end
            self.maxValue = maxValue
            self.currentValue = currentValue
            self.exceeded = exceeded
        }
    }

    /// The `<application>` element of oauth_* replies.
    public struct OAuthApplication: Sendable, Equatable {
        public var id: String
        public var key: String?
        public var redirectURL: String?
        /// `redirect_uri` when the request used that name.
        public var redirectElementName: String
        public init(id: String, key: String?, redirectURL: String?, redirectElementName: String = "redirect_url") {
            self.id = id
            self.key = key
            self.redirectURL = redirectURL
            self.redirectElementName = redirectElementName
        }
    }

    public struct Status: Sendable, Equatable {
        public var authorized: Bool
        public var reason: String?
        public var application: OAuthApplication?
        public var plan: String
        public var reports: [UsageReport]
        /// `list_app_keys`: (app id, service id, keys).
        public var appKeys: (app: String, service: String, keys: [String])?
        /// `hierarchy`: one entry per usage report: (metric, children names).
        public var hierarchy: [(String, [String])]?

        public init(authorized: Bool, reason: String?, application: OAuthApplication? = nil, plan: String, reports: [UsageReport],
                    appKeys: (app: String, service: String, keys: [String])? = nil, hierarchy: [(String, [String])]? = nil) {
            self.authorized = authorized
            self.reason = reason
            self.application = application
            self.plan = plan
            self.reports = reports
            self.appKeys = appKeys
            self.hierarchy = hierarchy
        }

        public static func == (a: Status, b: Status) -> Bool { a.render() == b.render() }

        public func render() -> String {
            var x = ServiceManagementXML.declaration + "<status><authorized>\(authorized)</authorized>"
            if !authorized, let reason { x += "<reason>\(escapeText(reason))</reason>" }
            if let app = application {
                x += "<application><id>\(escapeText(app.id))</id>"
                x += app.key.map { "<key>\(escapeText($0))</key>" } ?? "<key/>"
                x += "<\(app.redirectElementName)>\(escapeText(app.redirectURL ?? ""))</\(app.redirectElementName)></application>"
            }
            x += "<plan>\(escapeText(plan))</plan>"
            if !reports.isEmpty {
                x += "<usage_reports>"
                for r in reports {
                    x += #"<usage_report metric=""# + escape(r.metric) + #"" period=""# + r.period.rawValue + "\""
                    if r.exceeded { x += #" exceeded="true""# }
                    x += ">"
                    if r.period != .eternity {
                        x += "<period_start>\(LimitPeriod.serviceManagementTime(r.start))</period_start>"
                        x += "<period_end>\(LimitPeriod.serviceManagementTime(r.end))</period_end>"
                    }
                    x += "<max_value>\(r.maxValue)</max_value><current_value>\(r.currentValue)</current_value></usage_report>"
                }
                x += "</usage_reports>"
            }
            if let keys = appKeys {
                x += #"<app_keys app=""# + escape(keys.app) + #"" svc=""# + escape(keys.service) + #"">"#
                for k in keys.keys.prefix(256) { x += #"<key id=""# + escape(k) + #""/>"# }
                x += "</app_keys>"
            }
            if let hierarchy {
                x += "<hierarchy>"
                for (metric, children) in hierarchy {
                    x += #"<metric name=""# + escape(metric) + #"" children=""# + escape(children.joined(separator: " ")) + #""/>"#
                }
                x += "</hierarchy>"
            }
            return x + "</status>"
        }
    }
}
