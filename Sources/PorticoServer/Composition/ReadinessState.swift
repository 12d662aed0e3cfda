import PorticoGateway
import Synchronization

/// Which started roles are serving; `/status/ready` is 200 only when all of them are.
public final class ReadinessState: Sendable {
    private let state: Mutex<(expected: Set<String>, serving: Set<String>)>

    public init(expected: Set<String>) { state = Mutex((expected, [])) }

    public func markServing(_ role: String) { state.withLock { _ = $0.serving.insert(role) } }
    public func markStopped(_ role: String) { state.withLock { _ = $0.serving.remove(role) } }

    public var isReady: Bool { state.withLock { !$0.expected.isEmpty && $0.expected.isSubset(of: $0.serving) } }
    public var summary: [(String, Bool)] { state.withLock { s in s.expected.sorted().map { ($0, s.serving.contains($0)) } } }

    /// The configuration stores of this process's gateway listeners (APIcast's readiness rules apply to them).
    private let gatewayStores = Mutex<[GatewayConfigurationStore]>([])
    public func watch(_ store: GatewayConfigurationStore) { gatewayStores.withLock { $0.append(store) } }

    public enum GatewayState: Sendable { case none, notConfigured, noServices, configured }
    public var gatewayState: GatewayState {
        let stores = gatewayStores.withLock { $0 }
        if stores.isEmpty { return .none }
        if stores.contains(where: { !$0.isLoaded }) { return .notConfigured }
        return stores.allSatisfy { $0.configuration.products.isEmpty } ? .noServices : .configured
    }
}
