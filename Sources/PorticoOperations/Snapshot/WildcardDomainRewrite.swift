import PorticoCore
import PorticoStore

/// Moves an installation to another wildcard domain: every product's production and staging gateway host
/// under the old domain (`…-apicast-production.old.example` → `…-apicast-production.new.example`), in the
/// products and in every proxy-config version. Tenant hosts need no rewrite: they are derived from each
/// tenant's subdomain and the running server's `WILDCARD_DOMAIN`. Hosts outside the old domain (custom
/// public base URLs) and everything else are left exactly as they were.
struct WildcardDomainRewrite: Sendable {
    let from: String
    let to: String

    /// The host of a URL (or a bare host) moved to the new domain; nil when it is not under the old one.
    func rewrittenHost(_ value: String) -> String? {
        let schemeEnd = value.range(of: "://").map(\.upperBound) ?? value.startIndex
        let authorityEnd = value[schemeEnd...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? value.endIndex
        let authority = value[schemeEnd..<authorityEnd]
        let hostEnd = authority.lastIndex(of: ":") ?? authority.endIndex
        let host = authority[..<hostEnd].lowercased()
        let suffix = "." + from.lowercased()
        guard host.hasSuffix(suffix) else { return nil }
        let label = host.dropLast(suffix.count)
        return String(value[..<schemeEnd]) + label + "." + to + String(authority[hostEnd...]) + String(value[authorityEnd...])
    }

    /// Rewrites the rows of `products` and `proxy_configs`; returns how many rows changed.
    func apply(to rows: inout [RecordTable: [RawRecord]]) throws -> Int {
        var changed = 0
        if var products = rows[.products] {
            for i in products.indices {
                var product: Product = try RecordCoding.decode(products[i])
                let endpoint = rewrittenHost(product.proxy.endpoint)
                let sandbox = rewrittenHost(product.proxy.sandboxEndpoint)
                guard endpoint != nil || sandbox != nil else { continue }
                product.proxy.endpoint = endpoint ?? product.proxy.endpoint
                product.proxy.sandboxEndpoint = sandbox ?? product.proxy.sandboxEndpoint
                products[i].data = try RecordCoding.encode(product)
                changed += 1
            }
            rows[.products] = products
        }
        if var configs = rows[.proxyConfigs] {
            for i in configs.indices {
                var config: ProxyConfig = try RecordCoding.decode(configs[i])
                guard let rewritten = rewrittenContent(config.content) else { continue }
                config.content = rewritten
                configs[i].data = try RecordCoding.encode(config)
                changed += 1
            }
            rows[.proxyConfigs] = configs
        }
        return changed
    }

    /// A proxy-config document with `proxy.endpoint`, `proxy.sandbox_endpoint` and `proxy.hosts` moved.
    func rewrittenContent(_ content: JSONValue) -> JSONValue? {
        guard case .object(var document) = content, case .object(var proxy)? = document["proxy"] else { return nil }
        var changed = false
        for field in ["endpoint", "sandbox_endpoint"] {
            if case .string(let url)? = proxy[field], let moved = rewrittenHost(url) {
                proxy[field] = .string(moved)
                changed = true
            }
        }
        if case .array(let hosts)? = proxy["hosts"] {
            let moved = hosts.map { host -> JSONValue in
                guard case .string(let h) = host, let m = rewrittenHost(h) else { return host }
                changed = true
                return .string(m)
            }
            proxy["hosts"] = .array(moved)
        }
        guard changed else { return nil }
        document["proxy"] = .object(proxy)
        return .object(document)
    }
}
