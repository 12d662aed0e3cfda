import Logging
import NIOCore
import NIOHTTP1
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
        self.listener = HTTPListener(host: host, port: port, group: group, tls: tls, codec: .none)
        self.recorder = GatewayRecorder(logger: logger, extendedMetrics: gateway.settings.extendedMetrics)
        self.scheme = tls == nil ? "http" : "https"
    }

    /// Binds, calls `onServing`, and serves until `beginShutdown` (or cancellation), then drains.
    public func run(onServing: @Sendable () -> Void) async throws {
        let (gateway, pools, recorder, scheme) = (self.gateway, self.pools, self.recorder, self.scheme)
        try await listener.run(makeHandler: { _, executor, connections, writesBytes in
            let handler = GatewayConnectionHandler(gateway: gateway, pools: pools, executor: executor, recorder: recorder, connections: connections,
                                                   scheme: scheme, writesBytes: writesBytes)
            // An HTTP/1 connection's handler reads its bytes; an HTTP/2 stream's request parts are handed over.
            return writesBytes ? [handler] : [HTTP2StreamAdapter(handler), handler]
        }, onServing: onServing)
        pools.closeAll()
    }

    /// Stops accepting connections; `run` then lets the requests in flight finish and returns.
    public func beginShutdown() { listener.beginShutdown() }
}

/// On an HTTP/2 stream, hands the request parts NIO's HTTP/2-to-HTTP/1 codec makes to the stream's
/// `GatewayConnectionHandler`, which otherwise reads an HTTP/1 connection's bytes. Responses go back as NIO's parts.
final class HTTP2StreamAdapter: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    let handler: GatewayConnectionHandler

    init(_ handler: GatewayConnectionHandler) { self.handler = handler }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): handler.receive(.head(HTTP1RequestReader.Head(head)))
        case .body(let body): handler.receive(.body(body))
        case .end: handler.receive(.end)
        }
    }
}

extension HTTP1RequestReader.Head {
    /// A request head NIO decoded (an HTTP/2 stream's).
    init(_ head: HTTPRequestHead) {
        let fields = head.headers.map { ($0.name, $0.value) }
        self.init(method: head.method.rawValue, target: head.uri, version: head.version, fields: fields, keepAlive: head.isKeepAlive,
                  contentLength: head.headers.first(name: "content-length").flatMap { Int64($0) },
                  chunked: head.headers.contains(name: "transfer-encoding"),
                  size: fields.reduce(head.uri.utf8.count + 16) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 })
    }
}
