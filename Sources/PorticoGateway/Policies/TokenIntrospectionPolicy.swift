import AsyncHTTPClient
import Foundation
import NIOCore
import PorticoCore
import Synchronization

/// `token_introspection` (reference/gateway.md §6.2): before the request is authorized, the bearer token is
/// checked with the identity provider's RFC 7662 endpoint, so a token revoked before it expires is refused.
/// `auth_type` `client_id+client_secret` names the endpoint and the client; `use_3scale_oidc_issuer_endpoint`
/// takes the client from the product's `oidc_issuer_endpoint` (`https://client:secret@idp/realms/x`) and the
/// endpoint from the issuer's configuration (`introspection_endpoint`). A token that is not `active`, or an
/// endpoint that does not answer 200 with JSON, gets the product's authentication-failed error (fail closed).
/// Active answers are cached for `max_ttl_tokens` seconds at most (and never past the token's `exp`), up to
/// `max_cached_tokens` tokens; with `max_cached_tokens` 0 (the default) every request is introspected.
public struct TokenIntrospectionPolicy: Sendable {
    enum Client: Sendable {
        case fromIssuerEndpoint
        case explicit(id: String, secret: String, url: String)
    }

    let client: Client
    let maxTTLSeconds: Int64?
    let maxCachedTokens: Int
    let cache: IntrospectionCache

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        switch c["auth_type"]?.stringValue ?? "client_id+client_secret" {
        case "use_3scale_oidc_issuer_endpoint":
            client = .fromIssuerEndpoint
        case "client_id+client_secret":
            guard let id = c["client_id"]?.stringValue, !id.isEmpty, let secret = c["client_secret"]?.stringValue,
                  let url = c["introspection_url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://")
            else { throw GatewayConfigurationError("client_id, client_secret and an http(s) introspection_url are required") }
            client = .explicit(id: id, secret: secret, url: url)
        case let other:
            throw GatewayConfigurationError("auth_type \(other) is not supported by Portico (use client_id+client_secret or use_3scale_oidc_issuer_endpoint)")
        }
        if let raw = c["max_ttl_tokens"], !raw.isNull {
            guard let v = raw.stringValue.flatMap({ Int64($0) }), (1...3600).contains(v) else { throw GatewayConfigurationError("max_ttl_tokens must be 1 to 3600") }
            maxTTLSeconds = v
        } else {
            maxTTLSeconds = nil
        }
        let cached = c["max_cached_tokens"].flatMap { $0.isNull ? nil : $0.stringValue }.flatMap { Int($0) } ?? 0
        guard (0...10_000).contains(cached) else { throw GatewayConfigurationError("max_cached_tokens must be 0 to 10000") }
        maxCachedTokens = cached
        cache = IntrospectionCache()
    }

    /// The endpoint and client credentials for a product, or why there are none.
    func endpoint(for product: GatewayProduct) -> Result<(url: String, id: String, secret: String), GatewayConfigurationError> {
        switch client {
        case .explicit(let id, let secret, let url): return .success((url, id, secret))
        case .fromIssuerEndpoint:
            guard let issuer = product.oidcIssuerEndpoint, let credentials = Self.userinfo(issuer) else {
                return .failure(GatewayConfigurationError("the product's oidc_issuer_endpoint carries no client credentials"))
            }
            guard let url = product.oidc?.introspectionEndpoint else {
                return .failure(GatewayConfigurationError("the issuer's configuration has no introspection_endpoint"))
            }
            return .success((url, credentials.id, credentials.secret))
        }
    }

    /// `client:secret` of `https://client:secret@host/…`, percent-decoded.
    static func userinfo(_ endpoint: String) -> (id: String, secret: String)? {
        guard let scheme = endpoint.firstRange(of: "://") else { return nil }
        let rest = endpoint[scheme.upperBound...]
        guard let at = rest.firstIndex(of: "@"), rest[..<at].firstIndex(of: "/") == nil else { return nil }
        let parts = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]).removingPercentEncoding ?? String(parts[0]), String(parts[1]).removingPercentEncoding ?? String(parts[1]))
    }

    /// A token's cache lifetime in milliseconds from the introspection answer; nil: do not cache.
    func cacheMilliseconds(answer: JSONValue, nowMilliseconds now: Int64) -> Int64? {
        guard maxCachedTokens > 0 else { return nil }
        var ttl = maxTTLSeconds.map { $0 * 1000 }
        if let exp = answer["exp"]?.stringValue.flatMap({ Double($0) }) {
            let untilExpiry = Int64(exp * 1000) - now
            ttl = min(ttl ?? untilExpiry, untilExpiry)
        }
        guard let ttl, ttl > 0 else { return nil }
        return ttl
    }
}

/// Active tokens of one policy instance with their expiry (milliseconds), bounded in size.
final class IntrospectionCache: Sendable {
    private let entries = Mutex<[String: Int64]>([:])

    func isActive(_ token: String, nowMilliseconds now: Int64) -> Bool {
        entries.withLock { all in
            guard let until = all[token] else { return false }
            if until <= now { all[token] = nil; return false }
            return true
        }
    }

    func remember(_ token: String, untilMilliseconds until: Int64, limit: Int, nowMilliseconds now: Int64) {
        entries.withLock { all in
            if all.count >= limit {
                all = all.filter { $0.value > now }
                // Still full of live tokens: forget the one closest to expiry.
                if all.count >= limit, let soonest = all.min(by: { $0.value < $1.value })?.key { all[soonest] = nil }
            }
            all[token] = until
        }
    }
}

/// Asks an RFC 7662 introspection endpoint about a token.
public protocol TokenIntrospector: Sendable {
    /// The endpoint's JSON answer; throws when it cannot be reached or does not answer 200 with JSON.
    func introspect(token: String, url: String, clientID: String, clientSecret: String) async throws -> JSONValue
}

public struct HTTPTokenIntrospector: TokenIntrospector {
    let client: HTTPClient
    static let timeout: TimeAmount = .seconds(5)

    public init(client: HTTPClient) { self.client = client }

    public func introspect(token: String, url: String, clientID: String, clientSecret: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        let basic = Data("\(Self.formEscaped(clientID)):\(Self.formEscaped(clientSecret))".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic " + basic)
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "token=\(Self.formEscaped(token))&token_type_hint=access_token"))
        let response = try await client.execute(request, timeout: Self.timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200 else { throw GatewayConfigurationError("the introspection endpoint answered \(response.status.code)") }
        return try JSONParser.parse(Array(buffer: body))
    }

    /// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic authentication.
    static func formEscaped(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
