import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PorticoCore

/// Loads configuration from a 3scale admin portal (or Portico's admin API) the way APIcast's remote v2
/// loader does (reference/gateway.md §5): `THREESCALE_PORTAL_ENDPOINT` with the access token as userinfo,
/// `GET /admin/api/account/proxy_configs/<env>.json?version=latest&page=N&per_page=500[&host=H]` page by page,
/// or a single `GET <endpoint>/<env>.json[?host=H]` when the endpoint has a path (the master-style endpoint).
public struct PortalConfigurationLoader: Sendable {
    public let baseURL: String
    let authorization: String?
    let hasPath: Bool
    public let environment: String
    let client: HTTPClient
    let userAgent: String
    static let pageSize = 500

    public init(endpoint: String, environment: String, client: HTTPClient, userAgent: String) throws(GatewayConfigurationError) {
        guard let schemeEnd = endpoint.firstRange(of: "://") else { throw GatewayConfigurationError("THREESCALE_PORTAL_ENDPOINT must be an http(s) URL") }
        var rest = endpoint[schemeEnd.upperBound...]
        var authorization: String?
        if let at = rest.firstIndex(of: "@"), rest[..<at].firstIndex(of: "/") == nil {
            let userinfo = String(rest[..<at]).removingPercentEncoding ?? String(rest[..<at])
            let credentials = userinfo.contains(":") ? userinfo : userinfo + ":"
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
            rest = rest[rest.index(after: at)...]
        }
        var authorityAndPath = String(rest)
        while authorityAndPath.hasSuffix("/") { authorityAndPath.removeLast() }
        // A path after the authority selects the single-request (master-style) endpoint.
        self.hasPath = authorityAndPath.contains("/")
        let base = String(endpoint[..<schemeEnd.upperBound]) + authorityAndPath
        self.baseURL = base
        self.authorization = authorization
        self.environment = environment
        self.client = client
        self.userAgent = userAgent
    }

    /// Every product's newest configuration, or only those serving `host` (lazy loading).
    public func load(host: String? = nil) async throws -> GatewayConfiguration {
        let hostQuery = host.map { "host=" + RequestArguments.encode($0) }
        if hasPath {
            let url = "\(baseURL)/\(environment).json" + (hostQuery.map { "?" + $0 } ?? "")
            return try GatewayConfiguration.parse(try await fetch(url))
        }
        var contents: [JSONValue] = []
        var page = 1
        while true {
            let query = (hostQuery.map { [$0] } ?? []) + ["version=latest", "page=\(page)", "per_page=\(Self.pageSize)"]
            let url = "\(baseURL)/admin/api/account/proxy_configs/\(environment).json?" + query.joined(separator: "&")
            let document = try await fetch(url)
            guard let list = document["proxy_configs"]?.arrayValue else {
                throw GatewayConfigurationError("\(url) did not answer with proxy_configs")
            }
            contents += list.compactMap { $0["proxy_config"]?["content"] }
            // porta ≥ 2.10 pages; a full page means there may be more.
            guard list.count == Self.pageSize, page < 1000 else { break }
            page += 1
        }
        return try GatewayConfiguration.parse(.object(["services": .array(contents)]))
    }

    func fetch(_ url: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: userAgent)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(30))
        } catch {
            throw GatewayConfigurationError("could not reach the portal endpoint (\(Self.redacted(url))): \(error)")
        }
        let body = try await response.body.collect(upTo: 256 * 1024 * 1024)
        guard response.status.code == 200 else {
            throw GatewayConfigurationError("the portal endpoint answered \(response.status.code) (\(response.status.reasonPhrase)) for \(Self.redacted(url)); check the access token and its scopes")
        }
        do {
            return try JSONParser.parse(Array(buffer: body))
        } catch {
            throw GatewayConfigurationError("the portal endpoint's answer is not JSON: \(error.description)")
        }
    }

    static func redacted(_ url: String) -> String {
        url.split(separator: "?").first.map(String.init) ?? url
    }
}
