import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PorticoCore

/// Loads configuration from a 3scale admin portal (or Portico's admin API) the way APIcast's remote v2
/// loader does (reference/gateway.md §5): `THREESCALE_PORTAL_ENDPOINT` with the access token as userinfo,
/// `GET /admin/api/account/proxy_configs/<env>.json?version=latest&page=N&per_page=500[&host=H]` page by page,
/// or a single `GET <endpoint>/<env>.json[?host=H]` when the endpoint has a path (the master-style endpoint).
/// With pinned versions (`APICAST_SERVICE_<ID>_CONFIGURATION_VERSION`) it asks product by product instead:
/// the products of `APICAST_SERVICES_LIST`, or every product from `GET /admin/api/services.json` page by page,
/// each from `GET /admin/api/services/<id>/proxy/configs/<env>/<version|latest>.json`.
public struct PortalConfigurationLoader: Sendable {
    public let baseURL: String
    let authorization: String?
    let hasPath: Bool
    public let environment: String
    let client: HTTPClient
    let userAgent: String
    static let pageSize = 500
    /// Product id → pinned version (`latest` or a number); empty means one request for every product's latest.
    let pinnedVersions: [String: String]
    /// `APICAST_SERVICES_LIST`: with pinned versions, only these products are asked for.
    let serviceIDs: [String]

    /// Whether a `THREESCALE_PORTAL_ENDPOINT` has a path after its authority (the master-style endpoint).
    public static func endpointHasPath(_ endpoint: String) -> Bool {
        guard let schemeEnd = endpoint.firstRange(of: "://") else { return false }
        var rest = Substring(endpoint[schemeEnd.upperBound...])
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if let at = rest.firstIndex(of: "@"), rest[..<at].firstIndex(of: "/") == nil { rest = rest[rest.index(after: at)...] }
        return rest.contains("/")
    }

    public init(endpoint: String, environment: String, client: HTTPClient, userAgent: String, pinnedVersions: [String: String] = [:],
                serviceIDs: [String] = []) throws(GatewayConfigurationError) {
        self.pinnedVersions = pinnedVersions
        self.serviceIDs = serviceIDs
        guard let schemeEnd = endpoint.firstRange(of: "://") else { throw GatewayConfigurationError("THREESCALE_PORTAL_ENDPOINT must be an http(s) URL") }
        var rest = endpoint[schemeEnd.upperBound...]
        var authorization: String?
        if let at = rest.firstIndex(of: "@"), rest[..<at].firstIndex(of: "/") == nil {
            authorization = Self.basicAuthorization(userinfo: rest[..<at])
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

    /// `Authorization: Basic` for a URL's user information (`user:password`, or a token alone as the user with an
    /// empty password), percent-decoded; also a forward proxy's `Proxy-Authorization`.
    static func basicAuthorization(userinfo: Substring) -> String {
        let decoded = String(userinfo).removingPercentEncoding ?? String(userinfo)
        let credentials = decoded.contains(":") ? decoded : decoded + ":"
        return "Basic " + Data(credentials.utf8).base64EncodedString()
    }

    /// Every product's newest configuration, or only those serving `host` (lazy loading).
    public func load(host: String? = nil) async throws -> GatewayConfiguration {
        if !pinnedVersions.isEmpty, !hasPath { return try await loadPerProduct(host: host) }
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

    /// Product by product, each at its pinned version (or its latest); a product that cannot be fetched fails the
    /// whole load, so the configuration in use is kept (as for any other answer that is not 200).
    func loadPerProduct(host: String?) async throws -> GatewayConfiguration {
        var ids = serviceIDs.filter { !$0.isEmpty }
        if ids.isEmpty {
            var page = 1
            while true {
                let url = "\(baseURL)/admin/api/services.json?page=\(page)&per_page=\(Self.pageSize)"
                guard let list = try await fetch(url)["services"]?.arrayValue else { throw GatewayConfigurationError("\(url) did not answer with services") }
                ids += list.compactMap { ($0["service"] ?? $0)["id"]?.stringValue }
                guard list.count == Self.pageSize, page < 1000 else { break }
                page += 1
            }
        }
        var contents: [JSONValue] = []
        for id in ids {
            let version = pinnedVersions[id] ?? "latest"
            let url = "\(baseURL)/admin/api/services/\(RequestArguments.encode(id))/proxy/configs/\(environment)/\(version).json"
            guard let content = try await fetch(url)["proxy_config"]?["content"] else {
                throw GatewayConfigurationError("\(url) did not answer with a proxy_config")
            }
            contents.append(content)
        }
        let configuration = try GatewayConfiguration.parse(.object(["services": .array(contents)]))
        guard let host else { return configuration }
        return GatewayConfiguration(products: configuration.products.filter { $0.hosts.contains(host) }, rejected: configuration.rejected)
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
