import Logging
import NIOCore
import NIOPosix

/// One gateway listener (staging or production): an `HTTPListener` whose connections are served by
/// `GatewayConnectionHandler`s, with upstream connections pooled per event loop.
public final class GatewayServer: Sendable {
    let gateway: Gateway
    let listener: HTTPListener
    let pools = UpstreamPools()
    let recorder: GatewayRecorder

    let scheme: String

    /// With `tls`, the listener serves HTTPS (and requests carry the `https` scheme: `X-Forwarded-Proto`, Liquid).
    public init(gateway: Gateway, host: String, port: Int, logger: Logger, group: MultiThreadedEventLoopGroup = .singleton, tls: GatewayTLS? = nil) {
        self.gateway = gateway
        self.listener = HTTPListener(host: host, port: port, group: group, tls: tls, handlerWritesBytes: true)
        self.recorder = GatewayRecorder(logger: logger, extendedMetrics: gateway.settings.extendedMetrics)
        self.scheme = tls == nil ? "http" : "https"
    }

    /// Binds, calls `onServing`, and serves until `beginShutdown` (or cancellation), then drains.
    public func run(onServing: @Sendable () -> Void) async throws {
        let (gateway, pools, recorder, scheme) = (self.gateway, self.pools, self.recorder, self.scheme)
        try await listener.run(makeHandler: { _, executor, connections, writesBytes in
            GatewayConnectionHandler(gateway: gateway, pools: pools, executor: executor, recorder: recorder, connections: connections, scheme: scheme,
                                     writesBytes: writesBytes)
        }, onServing: onServing)
        pools.closeAll()
    }

    /// Stops accepting connections; `run` then lets the requests in flight finish and returns.
    public func beginShutdown() { listener.beginShutdown() }
}
