import Logging
import Synchronization

/// APIcast's lazy loader: the configuration of a host is fetched when a request for it arrives and kept
/// for `cacheMilliseconds` (0: fetched for every request, as the embedded staging gateway does). Unknown
/// hosts are not cached negatively, as in APIcast.
public final class LazyConfiguration: Sendable {
    let load: @Sendable (String) async throws -> GatewayConfiguration
    let cacheMilliseconds: Int64
    private let fetchedAt = Mutex<[String: Int64]>([:])

    public init(cacheSeconds: Int, load: @escaping @Sendable (String) async throws -> GatewayConfiguration) {
        self.load = load
        self.cacheMilliseconds = Int64(cacheSeconds) * 1000
    }

    func refresh(host: String, store: GatewayConfigurationStore, nowMilliseconds: Int64, logger: Logger) async {
        if cacheMilliseconds != 0, let at = fetchedAt.withLock({ $0[host] }), cacheMilliseconds < 0 || nowMilliseconds - at < cacheMilliseconds { return }
        do {
            let loaded = try await load(host)
            store.update { current in
                var products = current.products.filter { !$0.hosts.contains(host) }
                let fresh = loaded.products.filter { $0.hosts.contains(host) }
                products.removeAll { p in fresh.contains { $0.id == p.id } }
                return GatewayConfiguration(products: products + fresh, rejected: loaded.rejected)
            }
            fetchedAt.withLock { $0[host] = nowMilliseconds }
        } catch {
            // Keep serving what is known; the next request tries again.
            logger.error("gateway.configuration_load_failed", metadata: ["host": .string(host), "error": .string("\(error)")])
        }
    }
}
