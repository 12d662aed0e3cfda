// The floor of a proxy on SwiftNIO, for docs/performance.md: a TCP relay that gives each client connection its own
// connection to the upstream and copies bytes both ways, flushing at the end of each read. No HTTP parsing, no
// decision, no metering: whatever a proxy on NIO does, it does at least this much (two channels, a read and a write
// on each per request). With one event-loop thread, as the gateway runs in scripts/bench-gateway.
//
//   NIOFloorRelay <listen port> <upstream port>     (both on 127.0.0.1)
//
// Not a proxy for use: it never closes half-open connections cleanly and trusts the upstream to answer in order.
import NIOCore
import NIOPosix

/// The upstream side of one client connection: what the upstream sends goes to the client.
final class UpstreamSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let client: any Channel

    init(client: any Channel) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { client.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { client.flush() }
    func channelInactive(context: ChannelHandlerContext) { client.close(promise: nil) }
}

/// The client side: connects to the upstream when the client connects; bytes read before that wait for it.
final class ClientSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let upstreamPort: Int
    private var upstream: (any Channel)?
    private var early: [ByteBuffer] = []

    init(upstreamPort: Int) { self.upstreamPort = upstreamPort }

    func channelActive(context: ChannelHandlerContext) {
        let client = context.channel
        let side = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UpstreamSide(client: client)) }
            }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .whenComplete { result in
                guard case .success(let channel) = result else { return client.close(promise: nil) }
                side.value.upstream = channel
                for bytes in side.value.early { channel.write(bytes, promise: nil) }
                side.value.early = []
                channel.flush()
            }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let upstream { upstream.write(bytes, promise: nil) } else { early.append(bytes) }
    }

    func channelReadComplete(context: ChannelHandlerContext) { upstream?.flush() }
    func channelInactive(context: ChannelHandlerContext) { upstream?.close(promise: nil) }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    fatalError("usage: NIOFloorRelay <listen port> <upstream port>")
}
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ClientSide(upstreamPort: upstreamPort)) }
    }
    .bind(host: "127.0.0.1", port: listenPort).get()
try await server.closeFuture.get()
