import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import PorticoCore
import Synchronization
import _CryptoExtras

/// `token_introspection` (reference/gateway.md §6.2): before the request is authorized, the bearer token is
/// checked with the identity provider's RFC 7662 endpoint, so a token revoked before it expires is refused.
/// `auth_type` `client_id+client_secret` names the endpoint and the client; `use_3scale_oidc_issuer_endpoint`
/// takes the client from the product's `oidc_issuer_endpoint` (`https://client:secret@idp/realms/x`) and the
/// endpoint from the issuer's configuration (`introspection_endpoint`). `client_secret_jwt` and `private_key_jwt`
/// authenticate the client with a signed assertion instead of Basic credentials (RFC 7523: HS256 with the client
/// secret, or RS256 with the PEM private key of `certificate`). A token that is not `active`, or an
/// endpoint that does not answer 200 with JSON, gets the product's authentication-failed error (fail closed).
/// Active answers are cached for `max_ttl_tokens` seconds at most (and never past the token's `exp`), up to
/// `max_cached_tokens` tokens; with `max_cached_tokens` 0 (the default) every request is introspected.
public struct TokenIntrospectionPolicy: Sendable {
    enum Client: Sendable {
        case fromIssuerEndpoint
        case explicit(id: String, secret: String, url: String)
        /// `client_secret_jwt` / `private_key_jwt`: the client proves itself with an assertion signed by `signer`.
        case assertion(id: String, url: String, signer: ClientAssertionSigner)
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
        case let type where type == "client_secret_jwt" || type == "private_key_jwt":
            guard let id = c["client_id"]?.stringValue, !id.isEmpty, let url = c["introspection_url"]?.stringValue,
                  url.hasPrefix("http://") || url.hasPrefix("https://")
            else { throw GatewayConfigurationError("client_id and an http(s) introspection_url are required") }
            let audience = c["client_jwt_assertion_audience"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? url
            let lifetime = c["client_jwt_assertion_expires_in"].flatMap { $0.isNull ? nil : $0.stringValue }.flatMap { Int64($0) } ?? 60
            guard (1...3600).contains(lifetime) else { throw GatewayConfigurationError("client_jwt_assertion_expires_in must be 1 to 3600 seconds") }
            let key: ClientAssertionSigner.Key
            if type == "client_secret_jwt" {
                guard let secret = c["client_secret"]?.stringValue, !secret.isEmpty else { throw GatewayConfigurationError("client_secret_jwt needs a client_secret") }
                key = .hmac(secret)
            } else {
                key = .rsa(try Self.privateKey(type: c["certificate_type"]?.stringValue ?? "path", c["certificate"]?.stringValue ?? ""))
            }
            client = .assertion(id: id, url: url, signer: ClientAssertionSigner(key: key, clientID: id, audience: audience, lifetimeSeconds: lifetime))
        case let other:
            throw GatewayConfigurationError("auth_type \(other) is not one of client_id+client_secret, use_3scale_oidc_issuer_endpoint, client_secret_jwt, private_key_jwt")
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

    /// `private_key_jwt`'s RSA key: `certificate` is a data URL (`certificate_type: embedded`, as porta's policy
    /// editor uploads it) or a file path (`path`), holding a PEM private key.
    static func privateKey(type: String, _ certificate: String) throws(GatewayConfigurationError) -> _RSA.Signing.PrivateKey {
        let pem = try PEMSource.read(type: type, certificate, field: "certificate")
        do { return try _RSA.Signing.PrivateKey(pemRepresentation: pem) } catch {
            throw GatewayConfigurationError("certificate does not hold a PEM RSA private key of 2048 bits or more (private_key_jwt signs with RS256)")
        }
    }

    /// The endpoint and client credentials for a product, or why there are none.
    func endpoint(for product: GatewayProduct) -> Result<(url: String, client: IntrospectionClient), GatewayConfigurationError> {
        switch client {
        case .explicit(let id, let secret, let url): return .success((url, .basic(id: id, secret: secret)))
        case .assertion(let id, let url, let signer): return .success((url, .assertion(id: id, signer: signer)))
        case .fromIssuerEndpoint:
            guard let issuer = product.oidcIssuerEndpoint, let credentials = Self.userinfo(issuer) else {
                return .failure(GatewayConfigurationError("the product's oidc_issuer_endpoint carries no client credentials"))
            }
            guard let url = product.oidc?.introspectionEndpoint else {
                return .failure(GatewayConfigurationError("the issuer's configuration has no introspection_endpoint"))
            }
            return .success((url, .basic(id: credentials.id, secret: credentials.secret)))
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

/// How the gateway authenticates to the introspection endpoint.
public enum IntrospectionClient: Sendable {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    case basic(id: String, secret: String)
    /// `client_id`, `client_assertion_type` and a fresh signed `client_assertion` in the form (RFC 7523).
    case assertion(id: String, signer: ClientAssertionSigner)
}

/// Signs the short-lived client assertions of `client_secret_jwt` (HS256) and `private_key_jwt` (RS256):
/// `iss` and `sub` the client id, `aud` the configured audience, a random `jti`, `iat` now and `exp` after the
/// configured lifetime. Signed with swift-crypto directly: a client secret shorter than SHA-256's output is what
/// the identity provider issued, so it is used as it is rather than refused.
public struct ClientAssertionSigner: Sendable {
    enum Key: Sendable {
        case hmac(String)
        case rsa(_RSA.Signing.PrivateKey)
    }

    let key: Key
    let clientID: String
    let audience: String
    let lifetimeSeconds: Int64

    public func assertion(nowSeconds: Int64) throws -> String {
        let algorithm: String
        switch key {
        case .hmac: algorithm = "HS256"
        case .rsa: algorithm = "RS256"
        }
        let header: JSONValue = .object(["alg": .string(algorithm), "typ": "JWT"])
        let claims: JSONValue = .object([
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(audience), "jti": .string(UUID().uuidString),
            "iat": .int(nowSeconds), "exp": .int(nowSeconds + lifetimeSeconds),
        ])
        let input = Self.base64URL(Data(header.serializedString.utf8)) + "." + Self.base64URL(Data(claims.serializedString.utf8))
        let signature: Data
        switch key {
        case .hmac(let secret):
            signature = Data(HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8))))
        case .rsa(let privateKey):
            signature = try privateKey.signature(for: SHA256.hash(data: Data(input.utf8)), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        return input + "." + Self.base64URL(signature)
    }

    static func base64URL(_ data: Data) -> String {
        var text = data.base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}

/// Asks an RFC 7662 introspection endpoint about a token.
public protocol TokenIntrospector: Sendable {
    /// The endpoint's JSON answer; throws when it cannot be reached or does not answer 200 with JSON.
    func introspect(token: String, url: String, client: IntrospectionClient) async throws -> JSONValue
}

public struct HTTPTokenIntrospector: TokenIntrospector {
    let http: HTTPClient
    static let timeout: TimeAmount = .seconds(5)

    public init(client: HTTPClient) { self.http = client }

    public func introspect(token: String, url: String, client: IntrospectionClient) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        var form = "token=\(Self.formEscaped(token))&token_type_hint=access_token"
        switch client {
        case .basic(let id, let secret):
            let basic = Data("\(Self.formEscaped(id)):\(Self.formEscaped(secret))".utf8).base64EncodedString()
            request.headers.add(name: "Authorization", value: "Basic " + basic)
        case .assertion(let id, let signer):
            let assertion = try signer.assertion(nowSeconds: Int64(Date().timeIntervalSince1970))
            form += "&client_id=\(Self.formEscaped(id))&client_assertion_type=\(Self.formEscaped(Self.assertionType))&client_assertion=\(assertion)"
        }
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: form))
        let response = try await http.execute(request, timeout: Self.timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200 else { throw GatewayConfigurationError("the introspection endpoint answered \(response.status.code)") }
        return try JSONParser.parse(Array(buffer: body))
    }

    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic authentication.
    static func formEscaped(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
