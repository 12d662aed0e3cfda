import AsyncHTTPClient
import NIOCore
import PorticoCore

/// OpenID Connect discovery for products whose configuration carries no `oidc` entry: the issuer's
/// `/.well-known/openid-configuration`, then its `jwks_uri` (JSON content types only, as in APIcast).
/// Client credentials in the issuer endpoint's userinfo are never sent to these URLs.
public struct OIDCDiscovery: Sendable {
    let client: HTTPClient

    public init(client: HTTPClient) { self.client = client }

    static func issuerURL(_ endpoint: String) -> String {
        guard let scheme = endpoint.firstRange(of: "://") else { return endpoint }
        var rest = endpoint[scheme.upperBound...]
        if let at = rest.firstIndex(of: "@"), rest[..<at].firstIndex(of: "/") == nil { rest = rest[rest.index(after: at)...] }
        var url = String(endpoint[..<scheme.upperBound]) + rest
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    public func verifier(issuerEndpoint: String) async throws(GatewayConfigurationError) -> OIDCVerifier {
        let issuer = Self.issuerURL(issuerEndpoint)
        let configuration = try await fetch(issuer + "/.well-known/openid-configuration")
        guard let jwksURI = configuration["jwks_uri"]?.stringValue else {
            throw GatewayConfigurationError("the OpenID configuration of \(issuer) has no jwks_uri")
        }
        let jwks = try await fetchText(jwksURI)
        return try await OIDCVerifier.make(configuration: configuration, jwks: jwks)
    }

    func fetch(_ url: String) async throws(GatewayConfigurationError) -> JSONValue {
        let text = try await fetchText(url)
        do { return try JSONParser.parse(text) } catch { throw GatewayConfigurationError("\(url) did not answer with JSON") }
    }

    func fetchText(_ url: String) async throws(GatewayConfigurationError) -> String {
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 4 << 20)
            let type = response.headers.first(name: "content-type")?.lowercased() ?? ""
            guard response.status.code == 200 else { throw GatewayConfigurationError("\(url) answered \(response.status.code)") }
            guard type.contains("application/json") || type.contains("application/jwk-set+json") else {
                throw GatewayConfigurationError("\(url) answered \(type), not JSON")
            }
            return String(buffer: body)
        } catch let error as GatewayConfigurationError {
            throw error
        } catch {
            throw GatewayConfigurationError("could not reach \(url): \(error)")
        }
    }
}
