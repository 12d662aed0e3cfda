/// Where a Redis store lives and how to log in to it, read from 3scale's settings: a URL such as
/// `redis://user:secret@backend-redis:6379/0` and, for Sentinel, `REDIS_STORAGE_SENTINEL_HOSTS` with the URL's
/// host naming the master group (`redis://mymaster/0`).
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// Sentinels to ask for the current master of the group named by `host`; empty for a direct connection.
    public var sentinels: [SentinelAddress]
    public var sentinelUsername: String?
    public var sentinelPassword: String?
    /// Set for `rediss://`: connections to the server (and to the sentinels when they are given as `rediss://`) use TLS.
    public var tls: RedisTLS?
    public var sentinelsUseTLS = false

    public struct SentinelAddress: Sendable, Equatable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0,
                sentinels: [SentinelAddress] = [], sentinelUsername: String? = nil, sentinelPassword: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sentinels = sentinels
        self.sentinelUsername = sentinelUsername
        self.sentinelPassword = sentinelPassword
    }

    /// The address without credentials, for logs and error messages.
    public var description: String {
        sentinels.isEmpty ? "\(tls == nil ? "redis" : "rediss")://\(host):\(port)/\(database)" : "Sentinel master \"\(host)\" (database \(database)) via \(sentinels.map { "\($0.host):\($0.port)" }.joined(separator: ","))"
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`, or `rediss://…` for TLS (trusting the system's roots until
    /// `tls` is given a CA). Unix sockets are refused with an explanation.
    public static func parse(_ url: String) throws(RedisConfigurationError) -> RedisEndpoint {
        let trimmed = url.trimmingSpaces
        guard let schemeEnd = trimmed.firstRange(of: "://") else {
            throw RedisConfigurationError("\"\(redacted(trimmed))\" is not a Redis URL; expected redis://[user:password@]host[:port][/database]")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "redis" || scheme == "rediss" else {
            throw RedisConfigurationError("unsupported Redis URL scheme \"\(scheme)\"; use redis:// or rediss:// (TLS)")
        }
        var rest = Substring(trimmed[schemeEnd.upperBound...])
        if let q = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = String(credentials[..<colon]).removingPercentEscapes
                username = user.isEmpty ? nil : user
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEscapes
            } else if !credentials.isEmpty {
                // redis-rb reads a lone userinfo as the password.
                password = String(credentials).removingPercentEscapes
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw RedisConfigurationError("Redis database \"\(db)\" is not a number") }
                database = n
            }
        }
        let (host, port) = try hostAndPort(rest, defaultPort: 6379)
        var endpoint = RedisEndpoint(host: host, port: port, username: username, password: password, database: database)
        if scheme == "rediss" { endpoint.tls = RedisTLS() }
        return endpoint
    }

    /// Applies 3scale's sentinel settings: a comma-separated list of `host:port` or `redis://host:port` entries.
    public mutating func useSentinels(_ list: String, username: String?, password: String?) throws(RedisConfigurationError) {
        var found: [SentinelAddress] = []
        var schemes = Set<String>()
        for raw in list.split(separator: ",") {
            var entry = Substring(raw.trimmingSpaces)
            if entry.isEmpty { continue }
            if let scheme = entry.firstRange(of: "://") {
                schemes.insert(entry[..<scheme.lowerBound].lowercased())
                entry = entry[scheme.upperBound...]
            }
            if let at = entry.lastIndex(of: "@") { entry = entry[entry.index(after: at)...] }
            if let slash = entry.firstIndex(of: "/") { entry = entry[..<slash] }
            let (host, port) = try Self.hostAndPort(entry, defaultPort: 26379)
            found.append(SentinelAddress(host: host, port: port))
        }
        // As in 3scale: with TLS, sentinels are written as rediss:// (all of them, or none).
        if schemes.contains("rediss"), schemes.count > 1 {
            throw RedisConfigurationError("the sentinel list mixes redis:// and rediss://; give every sentinel the same scheme")
        }
        sentinels = found
        sentinelsUseTLS = schemes.contains("rediss")
        if sentinelsUseTLS, tls == nil { tls = RedisTLS() }
        sentinelUsername = username?.nonEmptyValue
        sentinelPassword = password?.nonEmptyValue
    }

    static func hostAndPort(_ text: Substring, defaultPort: Int) throws(RedisConfigurationError) -> (String, Int) {
        var host = text
        var port = defaultPort
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let inner = host[host.index(after: host.startIndex)..<close]
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw RedisConfigurationError("invalid Redis port in \"\(text)\"") }
                port = p
            }
            host = inner
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
                throw RedisConfigurationError("invalid Redis port in \"\(text)\"")
            }
            port = p
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw RedisConfigurationError("the Redis URL has no host") }
        return (String(host), port)
    }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.firstRange(of: "://"), scheme.upperBound < at else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }
}

/// A Redis setting that cannot be used, with what to write instead.
public struct RedisConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }

    /// `%XX` escapes decoded, as URL userinfo carries passwords with reserved characters.
    var removingPercentEscapes: String {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let b = utf8.first {
            utf8 = utf8.dropFirst()
            if b == UInt8(ascii: "%"), utf8.count >= 2, let h = hexValue(utf8[utf8.startIndex]), let l = hexValue(utf8[utf8.startIndex + 1]) {
                bytes.append(h << 4 | l)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    var nonEmptyValue: String? { isEmpty ? nil : String(self) }
}

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 48...57: return b - 48
    case 65...70: return b - 55
    case 97...102: return b - 87
    default: return nil
    }
}
