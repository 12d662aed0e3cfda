import NIOPosix
import PorticoCore
import PorticoGateway
import Synchronization

/// What the management port's APIcast routes (`/status/info`, `/config`, `/boot`) act on: the configuration
/// store of this process's production (or only) gateway listener, and how that listener gets configuration.
/// The gateway role registers itself here once built; until then those routes answer as APIcast does without
/// a configuration.
final class GatewayManagement: Sendable {
    struct Target: Sendable {
        /// The listener whose configuration `GET /config` shows and `PUT /config` replaces.
        var store: GatewayConfigurationStore
        /// Every gateway of the process (their after-response work is what `/status/info` counts).
        var gateways: [Gateway]
        /// Filters and resolves a configuration sent to `PUT /config` as the gateway's own loader would. nil when
        /// admin feeds the store in this process: the configuration then changes through the admin API only.
        var prepare: (@Sendable (GatewayConfiguration) async -> GatewayConfiguration)?
        /// `POST /boot`: loads the configuration the way the gateway booted (file or portal endpoint).
        var boot: (@Sendable () async throws -> GatewayConfiguration)?
    }

    private let target = Mutex<Target?>(nil)
    /// Set once the listeners drain (SIGTERM): `/status/info`'s `worker.exiting`.
    private let exiting = Atomic<Bool>(false)

    func attach(_ target: Target) { self.target.withLock { $0 = target } }
    var current: Target? { target.withLock { $0 } }

    func markExiting() { exiting.store(true, ordering: .relaxed) }

    /// APIcast's `/status/info` shape. Portico has no nginx timers: `timers.pending` counts the after-response
    /// work waiting (deferred authreps queued, batches waiting for their interval), `timers.running` the authreps
    /// in flight; `worker.count` is the number of event loops, all in this one process (`worker.id` 0).
    var info: JSONValue {
        var pending = 0, running = 0
        for gateway in current?.gateways ?? [] {
            let backlog = gateway.deferred.backlog
            pending += backlog.queued + gateway.batcher.pendingProducts.count
            running += backlog.inFlight
        }
        let workers = MultiThreadedEventLoopGroup.singleton.makeIterator().reduce(0) { count, _ in count + 1 }
        return .object([
            "timers": .object(["pending": .int(Int64(pending)), "running": .int(Int64(running))]),
            "worker": .object(["exiting": .bool(exiting.load(ordering: .relaxed)), "count": .int(Int64(workers)), "id": .int(0)]),
        ])
    }
}
