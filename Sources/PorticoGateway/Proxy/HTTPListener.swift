import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// A connection handler that can be asked to finish: close when idle, or after the response in progress.
/// Called on the connection's event loop.
public protocol DrainableConnection: AnyObject {
    func drain()
}

/// An HTTP/1.1 listener on NIO's event loops (over TLS, HTTP/2 too when the client negotiates it with ALPN),
/// shared by the gateway's listeners and the metering port: binds,
/// gives each connection the HTTP/1 codec its `Codec` says (never pipelining assistance: handlers answer pipelined
/// requests in order themselves, which spares two `epoll_ctl` calls per request) and the handlers `makeHandler`
/// returns, and on `beginShutdown` stops accepting, lets each connection finish its response and returns
/// once all are closed (or the drain timeout passed).
public final class HTTPListener: Sendable {
    /// `writesBytes`: the handlers are on an HTTP/1.x connection of a listener whose `codec` is not `.nio`, and
    /// write their responses as `ByteBuffer`s (and with `.none`, read the connection's bytes); otherwise they are
    /// on an HTTP/2 stream or a `.nio` listener's connection and speak NIO's request and response parts. The
    /// handlers are added in order, last in the pipeline.
    public typealias MakeHandler = @Sendable (_ channel: any Channel, _ executor: EventLoopTaskExecutor, _ connections: ListenerConnections,
                                              _ writesBytes: Bool) throws -> [any ChannelHandler]

    /// What an HTTP/1.x connection's pipeline holds before the listener's handlers.
    public enum Codec: Sendable {
        /// NIO's request decoder, response encoder and protocol error handler.
        case nio
        /// NIO's request decoder only: the handler writes responses as bytes and answers unparseable requests.
        case requestDecoder
        /// Nothing: the handler reads and writes the connection's bytes itself.
        case none
    }
    let host: String
    let port: Int
    let group: MultiThreadedEventLoopGroup
    /// HTTPS: each connection starts with a TLS handshake.
    let tls: NIOSSLContext?
    /// The HTTP/1.x codec of the connections (plain, or TLS without HTTP/2); HTTP/2 streams always get NIO's parts.
    let codec: Codec
    let connections = ListenerConnections()
    let executors = EventLoopTaskExecutors()
    private let listener = Mutex<(any Channel)?>(nil)
    private let stopping = Mutex(false)
    /// How long requests in flight may take to finish once the listener drains.
    public static let drainTimeout = TimeAmount.seconds(30)

    public init(host: String, port: Int, group: MultiThreadedEventLoopGroup = .singleton, tls: GatewayTLS? = nil, codec: Codec = .nio) {
        self.host = host
        self.port = port
        self.group = group
        self.tls = tls?.context
        self.codec = codec
    }

    /// Binds, calls `onServing`, and serves until `beginShutdown` (or cancellation), then drains.
    public func run(makeHandler: @escaping MakeHandler, onServing: @Sendable () -> Void) async throws {
        let connections = self.connections
        let executors = self.executors
        let tls = self.tls
        let codec = self.codec
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                @Sendable func http1(_ channel: any Channel) -> EventLoopFuture<Void> {
                    channel.eventLoop.makeCompletedFuture {
                        switch codec {
                        case .nio: try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                        case .requestDecoder: try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
                        case .none: break
                        }
                        try channel.pipeline.syncOperations.addHandlers(makeHandler(channel, executors.executor(for: channel.eventLoop), connections,
                                                                                    codec != .nio))
                    }
                }
                guard let tls else { return http1(channel) }
                do { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                // ALPN: HTTP/2 when the client offers it, each stream handled as one HTTP/1.1-shaped exchange
                // by the same handler; HTTP/1.1 otherwise.
                return channel.configureHTTP2SecureUpgrade(h2ChannelConfigurator: { channel in
                    channel.configureHTTP2Pipeline(mode: .server, inboundStreamInitializer: { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                            try stream.pipeline.syncOperations.addHandlers(makeHandler(stream, executors.executor(for: stream.eventLoop), connections, false))
                        }
                    }).map { _ in }
                }, http1ChannelConfigurator: http1)
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
    }

    /// Stops accepting connections; `run` then lets the requests in flight finish and returns.
    public func beginShutdown() {
        stopping.withLock { $0 = true }
        listener.withLock { $0 }?.close(promise: nil)
    }
}

/// The open connections of a listener, so a drain can reach each of them.
public final class ListenerConnections: Sendable {
    private let open = Mutex<[ObjectIdentifier: (channel: any Channel, drain: @Sendable () -> Void)]>([:])

    /// Registers a connection; call from the handler's `handlerAdded`.
    public func opened(_ handler: any DrainableConnection, channel: any Channel) {
        let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        open.withLock { $0[ObjectIdentifier(channel)] = (channel, { bound.eventLoop.execute { bound.value.drain() } }) }
    }

    /// Call from the handler's `channelInactive`.
    public func closed(_ channel: any Channel) {
        _ = open.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Idle connections close now, busy ones after their response; whatever is still open at the timeout is closed.
    func drain(timeout: TimeAmount) async {
        let all = open.withLock { Array($0.values) }
        for entry in all { entry.drain() }
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
