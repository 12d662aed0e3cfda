import Synchronization

/// Which started roles are serving; `/status/ready` is 200 only when all of them are.
public final class ReadinessState: Sendable {
    private let state: Mutex<(expected: Set<String>, serving: Set<String>)>

    public init(expected: Set<String>) { state = Mutex((expected, [])) }

    public func markServing(_ role: String) { state.withLock { _ = $0.serving.insert(role) } }
    public func markStopped(_ role: String) { state.withLock { _ = $0.serving.remove(role) } }

    public var isReady: Bool { state.withLock { !$0.expected.isEmpty && $0.expected.isSubset(of: $0.serving) } }
    public var summary: [(String, Bool)] { state.withLock { s in s.expected.sorted().map { ($0, s.serving.contains($0)) } } }
}
