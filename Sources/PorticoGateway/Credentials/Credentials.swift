import Foundation

/// The credentials of one request, as the product's authentication mode reads them (reference/gateway.md §3.1).
public enum Credentials: Sendable, Equatable {
    case userKey(String)
    case appID(String, appKey: String)
    /// OpenID Connect: the bearer token, turned into the client id once verified.
    case accessToken(String)
    /// A verified OIDC token's client id.
    case clientID(String)

    /// Parameters for the Service Management API.
    var meteringParameters: [(String, String)] {
        var parameters: [(String, String)] = []
        appendMeteringParameters(to: &parameters)
        return parameters
    }

    /// `meteringParameters` appended to a call's query (no array of their own).
    func appendMeteringParameters(to query: inout [(String, String)]) {
        switch self {
        case .userKey(let key): query.append(("user_key", key))
        case .appID(let id, let key):
            query.append(("app_id", id))
            query.append(("app_key", key))
        case .clientID(let id): query.append(("app_id", id))
        case .accessToken: break
        }
    }

    /// The cache key part: the kind of credentials and every value, each value's length before it, so that no two
    /// different credentials give the same key (a user_key `a:b` is not app_id `a` with app_key `b`).
    var cacheKey: String {
        var key = ""
        appendCacheKey(to: &key)
        return key
    }

    /// `cacheKey` written at the end of `key` (made on every request: no interpolation).
    func appendCacheKey(to key: inout String) {
        func decimal(_ n: Int) {
            if n >= 10 { decimal(n / 10) }
            key += Self.digits[n % 10]
        }
        func value(_ v: String) {
            decimal(v.utf8.count)
            key += ":"
            key += v
        }
        switch self {
        case .userKey(let k):
            key += "u"
            value(k)
        case .appID(let id, let k):
            key += "a"
            value(id)
            value(k)
        case .clientID(let id):
            key += "c"
            value(id)
        case .accessToken(let token):
            key += "t"
            value(token)
        }
    }

    private static let digits = (0..<10).map { String($0) }

    /// For the debug header: `user_key=…` style.
    var debugDescription: String {
        meteringParameters.map { "\($0.0)=\(RequestArguments.encode($0.1))" }.joined(separator: "&")
    }
}

/// Where a product reads credentials (`proxy.credentials_location`).
public enum CredentialsLocation: String, Sendable {
    case query, headers, authorization, unknown
}

/// The request pieces credential extraction reads.
public struct CredentialSources: Sendable {
    public var query: RequestArguments
    /// Arguments of a form body read within the client body buffer, if any.
    public var form: RequestArguments?
    /// Header lookup by normalised name (lower-cased, `-` → `_`).
    public var header: @Sendable (String) -> String?

    public init(query: RequestArguments, form: RequestArguments?, header: @escaping @Sendable (String) -> String?) {
        self.query = query
        self.form = form
        self.header = header
    }

    func argument(_ name: String) -> String? {
        if let v = query.first(caseInsensitive: name) { return v }
        return form?.first(caseInsensitive: name)
    }

    var authorization: (scheme: String, value: String)? {
        guard let raw = header("authorization") else { return nil }
        let parts = raw.trimmingSpaces.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        return (parts[0].lowercased(), parts[1].trimmingSpaces)
    }

    var basic: (user: String, password: String)? {
        guard let auth = authorization, auth.scheme == "basic", let data = Data(base64Encoded: auth.value),
              let text = String(data: data, encoding: .utf8) else { return nil }
        guard let colon = text.firstIndex(of: ":") else { return (text, "") }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    var bearer: String? {
        guard let auth = authorization, auth.scheme == "bearer", !auth.value.isEmpty else { return nil }
        return auth.value
    }
}

/// Reads credentials per `backend_version` and `credentials_location`; nil when missing or incomplete.
public struct CredentialExtractor: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case userKey(name: String)
        case appID(idName: String, keyName: String)
        case oidc
    }

    public var mode: Mode
    public var location: CredentialsLocation

    public init(mode: Mode, location: CredentialsLocation) {
        self.mode = mode
        self.location = location
    }

    static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    static func headerName(_ name: String) -> String {
        // Header names are ASCII tokens; most arrive already lower-case without `-`, and need no copy.
        if name.utf8.allSatisfy({ $0 != UInt8(ascii: "-") && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) { return name }
        return String(decoding: name.utf8.map { b -> UInt8 in
            if b == UInt8(ascii: "-") { return UInt8(ascii: "_") }
            return (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) ? b + 32 : b
        }, as: UTF8.self)
    }

    public func extract(from sources: CredentialSources) -> Credentials? {
        switch mode {
        case .userKey(let name):
            let key: String?
            switch location {
            case .query: key = Self.nonEmpty(sources.argument(name))
            case .headers: key = Self.nonEmpty(sources.header(Self.headerName(name)))
            case .authorization:
                if let basic = sources.basic {
                    key = Self.nonEmpty(basic.user) ?? Self.nonEmpty(basic.password)
                } else {
                    key = sources.bearer
                }
            case .unknown: key = nil
            }
            return key.map { .userKey($0) }
        case .appID(let idName, let keyName):
            var id: String?
            var key: String?
            switch location {
            case .query:
                id = Self.nonEmpty(sources.argument(idName))
                key = Self.nonEmpty(sources.argument(keyName))
            case .headers:
                id = Self.nonEmpty(sources.header(Self.headerName(idName)))
                key = Self.nonEmpty(sources.header(Self.headerName(keyName)))
            case .authorization:
                if let basic = sources.basic {
                    id = Self.nonEmpty(basic.user)
                    key = Self.nonEmpty(basic.password)
                } else {
                    id = sources.bearer
                }
            case .unknown: break
            }
            guard let id, let key else { return nil }
            return .appID(id, appKey: key)
        case .oidc:
            let token: String?
            switch location {
            case .query: token = Self.nonEmpty(sources.argument("access_token"))
            case .headers: token = Self.nonEmpty(sources.header("access_token"))
            default: token = nil
            }
            // RFC 6750: a bearer token in Authorization is always accepted.
            return (token ?? sources.bearer).map { .accessToken($0) }
        }
    }
}
