import Foundation
import JWTKit
import PorticoCore

/// Verifies OpenID Connect access tokens the way APIcast does (reference/gateway.md §3.2): the header's
/// `alg` must be one the issuer signs with and its `kid` one of the issuer's keys (with a matching `alg`
/// when the key names one); the signature is checked with jwt-kit; `iss` must be the issuer, `sub` and
/// `aud` present, `exp` in the future, `nbf` passed, `typ` (when present) `Bearer`.
public final class OIDCVerifier: Sendable {
    public let issuer: String
    /// The issuer's RFC 7662 endpoint (`introspection_endpoint` of its configuration), for `token_introspection`.
    public let introspectionEndpoint: String?
    let allowedAlgorithms: Set<String>?
    let keys: JWTKeyCollection
    /// Key id → the key's own `alg`, when it declares one.
    let keyAlgorithms: [String: String?]

    public struct Verified: Sendable {
        public var clientID: String
        public var expiresAt: Int64
        /// The token's claims, for policies (`jwt_claim_check`).
        public var claims: JSONValue
    }

    /// The claims are read by the gateway itself; jwt-kit only checks the signature.
    struct SignatureOnly: JWTPayload {
        init(from decoder: any Decoder) throws {}
        func encode(to encoder: any Encoder) throws {}
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    init(issuer: String, allowedAlgorithms: Set<String>?, keys: JWTKeyCollection, keyAlgorithms: [String: String?], introspectionEndpoint: String? = nil) {
        self.issuer = issuer
        self.introspectionEndpoint = introspectionEndpoint
        self.allowedAlgorithms = allowedAlgorithms
        self.keys = keys
        self.keyAlgorithms = keyAlgorithms
    }

    /// From an `oidc[]` entry of the configuration: `{issuer, config: {id_token_signing_alg_values_supported}, keys: {kid: {pem, alg}}}`.
    public static func make(entry: JSONValue) async throws(GatewayConfigurationError) -> OIDCVerifier {
        guard let issuer = entry["issuer"]?.stringValue ?? entry["config"]?["issuer"]?.stringValue else {
            throw GatewayConfigurationError("the oidc entry has no issuer")
        }
        let collection = JWTKeyCollection()
        var algorithms: [String: String?] = [:]
        for (kid, key) in entry["keys"]?.objectValue?.entries ?? [] {
            guard let pem = key["pem"]?.stringValue else { continue }
            let alg = key["alg"]?.stringValue
            do {
                try await add(pem: Self.normalizedPEM(pem), alg: alg, kid: kid, to: collection)
            } catch {
                throw GatewayConfigurationError("key \(kid) of issuer \(issuer) is not a usable RSA or EC public key")
            }
            algorithms[kid] = alg
        }
        let allowed = entry["config"]?["id_token_signing_alg_values_supported"]?.arrayValue.map { Set($0.compactMap(\.stringValue)) }
        return OIDCVerifier(issuer: issuer, allowedAlgorithms: allowed, keys: collection, keyAlgorithms: algorithms,
                            introspectionEndpoint: entry["config"]?["introspection_endpoint"]?.stringValue)
    }

    /// From discovery: the issuer's configuration document and its JWKS document.
    public static func make(configuration: JSONValue, jwks: String) async throws(GatewayConfigurationError) -> OIDCVerifier {
        guard let issuer = configuration["issuer"]?.stringValue else { throw GatewayConfigurationError("the OpenID configuration has no issuer") }
        let collection = JWTKeyCollection()
        var algorithms: [String: String?] = [:]
        if let keys = (try? JSONParser.parse(jwks))?["keys"]?.arrayValue {
            for key in keys {
                guard let kid = key["kid"]?.stringValue else { continue }
                algorithms[kid] = key["alg"]?.stringValue
                guard let one = String(data: Data(JSONValue.object(["keys": .array([key])]).serialized()), encoding: .utf8) else { continue }
                _ = try? await collection.add(jwksJSON: one)
            }
        }
        let allowed = configuration["id_token_signing_alg_values_supported"]?.arrayValue.map { Set($0.compactMap(\.stringValue)) }
        return OIDCVerifier(issuer: issuer, allowedAlgorithms: allowed, keys: collection, keyAlgorithms: algorithms,
                            introspectionEndpoint: configuration["introspection_endpoint"]?.stringValue)
    }

    /// APIcast stores keys as base64 bodies without armour at times; accept both.
    static func normalizedPEM(_ pem: String) -> String {
        if pem.contains("-----BEGIN") { return pem }
        return "-----BEGIN PUBLIC KEY-----\n\(pem)\n-----END PUBLIC KEY-----"
    }

    static func add(pem: String, alg: String?, kid: String, to collection: JWTKeyCollection) async throws {
        let id = JWKIdentifier(string: kid)
        switch alg {
        case "ES256"?: await collection.add(ecdsa: try ES256PublicKey(pem: pem), kid: id)
        case "ES384"?: await collection.add(ecdsa: try ES384PublicKey(pem: pem), kid: id)
        case "ES512"?: await collection.add(ecdsa: try ES512PublicKey(pem: pem), kid: id)
        case "RS384"?: await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha384, kid: id)
        case "RS512"?: await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha512, kid: id)
        case "RS256"?: await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256, kid: id)
        default:
            if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
                await collection.add(rsa: rsa, digestAlgorithm: .sha256, kid: id)
            } else if let ec = try? ES256PublicKey(pem: pem) {
                await collection.add(ecdsa: ec, kid: id)
            } else {
                await collection.add(ecdsa: try ES512PublicKey(pem: pem), kid: id)
            }
        }
    }

    static func decodeSegment(_ s: Substring) -> JSONValue? {
        var b64 = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else { return nil }
        return try? JSONParser.parse(Array(data))
    }

    /// The token's client id (from `claim`, default `azp`; an array gives its first element), or nil.
    public func verify(_ token: String, clientIDClaim: String, nowSeconds: Int64) async -> Verified? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.decodeSegment(parts[0]), let claims = Self.decodeSegment(parts[1]) else { return nil }
        guard let alg = header["alg"]?.stringValue, alg != "none", allowedAlgorithms?.contains(alg) ?? true else { return nil }
        guard let kid = header["kid"]?.stringValue, let keyAlg = keyAlgorithms[kid] else { return nil }
        if let keyAlg, keyAlg != alg { return nil }
        guard (try? await keys.verify(token, as: SignatureOnly.self)) != nil else { return nil }
        guard claims["iss"]?.stringValue == issuer, claims["sub"] != nil, claims["aud"] != nil else { return nil }
        guard let exp = claims["exp"]?.stringValue.flatMap({ Double($0) }), Int64(exp) > nowSeconds else { return nil }
        if let nbf = claims["nbf"]?.stringValue.flatMap({ Double($0) }), Int64(nbf) > nowSeconds { return nil }
        if let iat = claims["iat"]?.stringValue.flatMap({ Double($0) }), iat <= 0 { return nil }
        if let typ = claims["typ"], typ.stringValue != "Bearer" { return nil }
        let raw = claims[clientIDClaim]
        guard let clientID = raw?.stringValue ?? raw?.arrayValue?.first?.stringValue, !clientID.isEmpty else { return nil }
        return Verified(clientID: clientID, expiresAt: Int64(exp), claims: claims)
    }
}
