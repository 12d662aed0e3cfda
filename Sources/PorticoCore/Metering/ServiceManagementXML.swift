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
        // Ids, plan and metric names rarely hold markup: returned as they are after one scan.
        if !s.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">")
            || (quotes && ($0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'"))) }) {
            return s
        }
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

        public func render() -> String { String(decoding: renderBytes(), as: UTF8.self) }

        /// The document as UTF-8 bytes, built in one buffer: it is the reply to every authorize and authrep.
        public func renderBytes() -> [UInt8] {
            var x: [UInt8] = []
            x.reserveCapacity(256 + reports.count * 200)
            func add(_ s: String) { x.append(contentsOf: s.utf8) }
            func text(_ s: String) { add(escapeText(s)) }
            func attribute(_ s: String) { add(escape(s)) }
            func number(_ n: Int64) { add(String(n)) }
            func time(_ t: Timestamp) { t.appendFormatted(separator: UInt8(ascii: " "), suffix: " +0000", to: &x) }
            add(ServiceManagementXML.declaration)
            add(authorized ? "<status><authorized>true</authorized>" : "<status><authorized>false</authorized>")
            if !authorized, let reason {
                add("<reason>"); text(reason); add("</reason>")
            }
            if let app = application {
                add("<application><id>"); text(app.id); add("</id>")
                if let key = app.key {
                    add("<key>"); text(key); add("</key>")
                } else {
                    add("<key/>")
                }
                add("<"); add(app.redirectElementName); add(">"); text(app.redirectURL ?? "")
                add("</"); add(app.redirectElementName); add("></application>")
            }
            add("<plan>"); text(plan); add("</plan>")
            if !reports.isEmpty {
                add("<usage_reports>")
                for r in reports {
                    add(#"<usage_report metric=""#); attribute(r.metric); add(#"" period=""#); add(r.period.rawValue); add("\"")
                    if r.exceeded { add(#" exceeded="true""#) }
                    add(">")
                    if r.period != .eternity {
                        add("<period_start>"); time(r.start); add("</period_start><period_end>"); time(r.end); add("</period_end>")
                    }
                    add("<max_value>"); number(r.maxValue); add("</max_value><current_value>"); number(r.currentValue)
                    add("</current_value></usage_report>")
                }
                add("</usage_reports>")
            }
            if let keys = appKeys {
                add(#"<app_keys app=""#); attribute(keys.app); add(#"" svc=""#); attribute(keys.service); add(#"">"#)
                for k in keys.keys.prefix(256) {
                    add(#"<key id=""#); attribute(k); add(#""/>"#)
                }
                add("</app_keys>")
            }
            if let hierarchy {
                add("<hierarchy>")
                for (metric, children) in hierarchy {
                    add(#"<metric name=""#); attribute(metric); add(#"" children=""#); attribute(children.joined(separator: " ")); add(#""/>"#)
                }
                add("</hierarchy>")
            }
            add("</status>")
            return x
        }
    }
}
