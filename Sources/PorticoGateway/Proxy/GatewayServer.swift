import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One gateway listener (staging or production) on NIO: HTTP/1.1 with keep-alive and pipelining, each
/// connection served by a `GatewayConnectionHandler` on its event loop, upstream connections pooled per
/// loop. `run` returns once the listener was closed (`beginShutdown`) and the connections in flight have
/// finished their responses (or the drain timeout passed).
public final class GatewayServer: Sendable {
    let gateway: Gateway
    let host: String
    let port: Int
    let pools = UpstreamPools()
    let recorder: GatewayRecorder
    let connections = GatewayConnections()
    let group: MultiThreadedEventLoopGroup
    private let executors = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])
    private let listener = Mutex<(any Channel)?>(nil)
    private let stopping = Mutex(false)
    /// How long requests in flight may take to finish once the listener drains.
    static let drainTimeout = TimeAmount.seconds(30)

    public init(gateway: Gateway, host: String, port: Int, logger: Logger, group: MultiThreadedEventLoopGroup = .singleton) {
        self.gateway = gateway
        self.host = host
        self.port = port
        self.recorder = GatewayRecorder(logger: logger)
        self.group = group
    }

    func executor(for loop: any EventLoop) -> EventLoopTaskExecutor {
        executors.withLock { all in
            if let made = all[ObjectIdentifier(loop)] { return made }
            let made = EventLoopTaskExecutor(loop: loop)
            all[ObjectIdentifier(loop)] = made
            return made
        }
    }

    /// Binds, calls `onServing`, and serves until `beginShutdown` (or cancellation), then drains.
    public func run(onServing: @Sendable () -> Void) async throws {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        GatewayConnectionHandler(gateway: gateway, pools: pools, executor: executor(for: channel.eventLoop), recorder: recorder,
                                                 connections: connections))
                }
            }
            .bind(host: host, port: port).get()
        listener.withLock { $0 = channel }
        if stopping.withLock({ $0 }) { channel.close(promise: nil) }
        onServing()
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        await connections.drain(timeout: Self.drainTimeout)
        pools.closeAll()
    }

    /// Stops accepting connections; `run` then lets the requests in flight finish and returns.
    public func beginShutdown() {
        stopping.withLock { $0 = true }
        listener.withLock { $0 }?.close(promise: nil)
    }
}

/// The open client connections of a listener, so a drain can reach each of them.
final class GatewayConnections: Sendable {
    private let open = Mutex<[ObjectIdentifier: (channel: any Channel, handler: NIOLoopBound<GatewayConnectionHandler>)]>([:])

    func opened(_ handler: NIOLoopBound<GatewayConnectionHandler>, channel: any Channel) {
        open.withLock { $0[ObjectIdentifier(channel)] = (channel, handler) }
    }

    func closed(_ channel: any Channel) {
        _ = open.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Idle connections close now, busy ones after their response; whatever is still open at the timeout is closed.
    func drain(timeout: TimeAmount) async {
        let all = open.withLock { Array($0.values) }
        for entry in all {
            let handler = entry.handler
            handler.eventLoop.execute { handler.value.drain() }
        }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for entry in all { try? await entry.channel.closeFuture.get() }
                return true
            }
            group.addTask {
                (try? await Task.sleep(nanoseconds: UInt64(timeout.nanoseconds))) == nil
            }
            if await group.next() == false {
                for entry in open.withLock({ Array($0.values) }) { entry.channel.close(promise: nil) }
            }
            group.cancelAll()
        }
    }
}
