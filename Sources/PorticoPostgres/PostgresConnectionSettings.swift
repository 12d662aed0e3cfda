/// Where the PostgreSQL database is, read from a `postgresql://user:password@host:port/database?sslmode=…` URL
/// (3scale's `DATABASE_URL` form).
public struct PostgresConnectionSettings: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int, username: String, password: String?, database: String, tls: TLSMode) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses the URL; the error says which part is wrong.
    public init(url: String) throws(PostgresURLError) {
        var rest = Substring(url)
        guard let schemeEnd = rest.firstRange(of: "://") else { throw PostgresURLError("expected postgresql://user:password@host:port/database") }
        let scheme = rest[..<schemeEnd.lowerBound]
        guard scheme == "postgresql" || scheme == "postgres" else { throw PostgresURLError("the scheme must be postgresql://, not \(scheme)://") }
        rest = rest[schemeEnd.upperBound...]
        var query = ""
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        var database = ""
        if let slash = rest.firstIndex(of: "/") {
            database = PostgresConnectionSettings.percentDecode(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var username = "postgres"
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                username = PostgresConnectionSettings.percentDecode(userinfo[..<colon])
                password = PostgresConnectionSettings.percentDecode(userinfo[userinfo.index(after: colon)...])
            } else {
                username = PostgresConnectionSettings.percentDecode(userinfo)
            }
        }
        var host = String(rest)
        var port = 5432
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw PostgresURLError("the port must be a number between 1 and 65535")
            }
            port = p
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw PostgresURLError("the URL has no host") }
        var tls = TLSMode.prefer
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0] == "sslmode" else { continue }
            switch kv[1] {
            case "disable", "allow": tls = .disable
            case "prefer": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            default: throw PostgresURLError("sslmode must be disable, prefer or require")
            }
        }
        self.init(host: host, port: port, username: username, password: password, database: database.isEmpty ? username : database, tls: tls)
    }

    static func percentDecode(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        var i = s.utf8.startIndex
        let u = s.utf8
        while i < u.endIndex {
            let c = u[i]
            if c == UInt8(ascii: "%"), let h1 = u.index(i, offsetBy: 1, limitedBy: u.endIndex), h1 < u.endIndex,
                let h2 = u.index(i, offsetBy: 2, limitedBy: u.endIndex), h2 < u.endIndex,
                let v = UInt8(String(decoding: [u[h1], u[h2]], as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                i = u.index(i, offsetBy: 3)
            } else {
                bytes.append(c)
                i = u.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The URL with the password replaced by `***`, for logs and `portico config check`.
    public var description: String {
        "postgresql://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }
}

public struct PostgresURLError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = "invalid database URL: \(d)" }
}
