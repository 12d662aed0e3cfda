import NIOCore
import NIOPosix
import Synchronization

/// A forward HTTP proxy on a free loopback port, for gateway tests: a `CONNECT host:port` request opens a tunnel
/// to that address (bytes relayed both ways); any other request is answered by the proxy itself with 200 and
/// `proxied <request target>`, which shows the request arrived in absolute form. Records each request head.
public final class ForwardProxyStub: Sendable {
    private let channel: any Channel
    public let port: Int

    public init() throws {
        let box = Recorder()
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProxyFrontHandler(record: { head in box.record(head) }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        recorder = box
    }

    private let recorder: Recorder
    /// The request heads received (request line and headers, CRLF-separated), in order.
    public var received: [String] { recorder.heads.withLock { $0 } }

    final class Recorder: Sendable {
        let heads = Mutex<[String]>([])
        func record(_ head: String) { heads.withLock { $0.append(head) } }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public func stop() { try? channel.close().wait() }
}

/// Reads one request head; answers it or opens the tunnel, then relays.
private final class ProxyFrontHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let record: @Sendable (String) -> Void
    var buffer = ByteBuffer()
    var partner: (any Channel)?
    var tunnelling = false

    init(record: @escaping @Sendable (String) -> Void) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        if tunnelling {
            partner?.writeAndFlush(part, promise: nil)
            return
        }
        buffer.writeBuffer(&part)
        let bytes = buffer.readableBytesView
        guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else { return }
        let head = String(decoding: bytes[bytes.startIndex..<end.lowerBound], as: UTF8.self)
        record(head)
        buffer.clear()
        let requestLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
        let fields = requestLine.split(separator: " ")
        guard fields.count == 3 else { return context.close(promise: nil) }
        if fields[0] == "CONNECT" {
            let authority = fields[1]
            guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) else { return context.close(promise: nil) }
            var host = String(authority[..<colon])
            if host == "localhost" { host = "127.0.0.1" }
            tunnelling = true
            let front = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let client = context.channel
            ClientBootstrap(group: context.eventLoop)
                .channelInitializer { back in
                    back.eventLoop.makeCompletedFuture { try back.pipeline.syncOperations.addHandler(ProxyBackHandler(front: client)) }
                }
                .connect(host: host, port: port)
                .whenComplete { result in
                    let (handler, context) = front.value
                    switch result {
                    case .success(let back):
                        handler.partner = back
                        context.writeAndFlush(handler.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n")), promise: nil)
                    case .failure:
                        context.writeAndFlush(handler.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")), promise: nil)
                        context.close(promise: nil)
                    }
                }
        } else {
            let body = "proxied \(fields[1])"
            let reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.close(promise: nil)
        context.fireChannelInactive()
    }
}

/// The upstream side of a tunnel: relays to the client's connection.
private final class ProxyBackHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let front: any Channel

    init(front: any Channel) { self.front = front }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        front.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        front.close(promise: nil)
        context.fireChannelInactive()
    }
}
