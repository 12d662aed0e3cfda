import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Keep-alive connections to upstreams, one pool per event loop: a downstream connection only ever borrows
/// upstream channels of its own loop, so a proxied request never changes thread and needs no locks.
/// Connections are keyed by scheme, host and port; an idle one is reused newest first and closed once it
/// has been idle longer than upstreams usually keep them (nginx: 75 s).
final class UpstreamPool {
    let eventLoop: any EventLoop
    /// Idle connections by key, oldest first. A list is a reference, so taking and giving back a connection changes
    /// it in place (changing an array inside a dictionary goes through an accessor that allocates, twice a request).
    private final class IdleList {
        var entries: [(channel: any Channel, handler: UpstreamHandler, since: NIODeadline)] = []
    }
    private var idle: [String: IdleList] = [:]
    private let tls: UpstreamTLS
    static let idleLifetime = TimeAmount.seconds(30)
    static let maximumIdlePerUpstream = 512

    init(eventLoop: any EventLoop, tls: UpstreamTLS) {
        self.eventLoop = eventLoop
        self.tls = tls
    }

    struct Lease {
        var channel: any Channel
        var handler: UpstreamHandler
        /// Taken from the idle list: the upstream may have closed it meanwhile, so a failure before any
        /// answer is retried once on a new connection.
        var reused: Bool
    }

    /// Connections with an `upstream_mtls` identity, or through a forward proxy, are kept apart from plain ones to
    /// the same upstream.
    static func key(_ url: UpstreamURL, _ mutualTLS: UpstreamMTLSPolicy?, _ proxy: ForwardProxy?) -> String {
        var key = url.poolKey
        if url.isTLS, let mutualTLS { key += mutualTLS.poolSuffix }
        if let proxy { key += proxy.poolSuffix }
        return key
    }

    /// Lends an idle connection to `url`, or connects a new one (through `proxy` when given: directly to it for
    /// `http`, through a `CONNECT` tunnel for `https`); `then` runs on this pool's event loop.
    func acquire(_ url: UpstreamURL, mutualTLS: UpstreamMTLSPolicy? = nil, proxy: ForwardProxy? = nil, connectTimeout: TimeAmount,
                 fresh: Bool = false, then: @escaping (Result<Lease, any Error>) -> Void) {
        eventLoop.preconditionInEventLoop()
        if !fresh, let lease = takeIdle(url, mutualTLS: mutualTLS, proxy: proxy) { return then(.success(lease)) }
        let handler = NIOLoopBound(UpstreamHandler(), eventLoop: eventLoop)
        let tls = self.tls
        /// TLS (for `https`) and the exchange handler; inside the tunnel once it is open.
        @Sendable func addProtocolHandlers(_ channel: any Channel) throws {
            if url.isTLS {
                let hostname = UpstreamTLS.isIPAddress(url.host) ? nil : url.host
                let context = try mutualTLS?.context ?? tls.context()
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: hostname))
            }
            try channel.pipeline.syncOperations.addHandler(handler.value)
        }
        let tunnel = (proxy != nil && url.isTLS)
            ? NIOLoopBound(ConnectTunnelHandler(target: url, authorization: proxy?.authorization, timeout: connectTimeout,
                                                established: eventLoop.makePromise()), eventLoop: eventLoop)
            : nil
        ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tunnel { try channel.pipeline.syncOperations.addHandler(tunnel.value) } else { try addProtocolHandlers(channel) }
                }
            }
            .connect(host: proxy?.host ?? url.host, port: proxy?.port ?? url.port)
            .assumeIsolated()
            .flatMap { channel -> EventLoopFuture<any Channel> in
                guard let tunnel else { return channel.eventLoop.makeSucceededFuture(channel) }
                return tunnel.value.established.futureResult.assumeIsolated().flatMapThrowing { () -> any Channel in
                    do { try addProtocolHandlers(channel) } catch {
                        channel.close(promise: nil)
                        throw error
                    }
                    return channel
                }.nonisolated()
            }
            .whenComplete { result in
                then(result.map { Lease(channel: $0, handler: handler.value, reused: false) })
            }
    }

    /// The newest idle connection to `url` still open and not too old, if any (the others found on the way are closed).
    func takeIdle(_ url: UpstreamURL, mutualTLS: UpstreamMTLSPolicy? = nil, proxy: ForwardProxy? = nil) -> Lease? {
        eventLoop.preconditionInEventLoop()
        guard let list = idle[Self.key(url, mutualTLS, proxy)] else { return nil }
        let now = NIODeadline.now()
        while let last = list.entries.popLast() {
            if last.channel.isActive, now - last.since < Self.idleLifetime, !last.handler.closed {
                return Lease(channel: last.channel, handler: last.handler, reused: true)
            }
            last.channel.close(promise: nil)
        }
        return nil
    }

    /// Returns a connection whose exchange ended cleanly and may be reused.
    func release(_ lease: Lease, url: UpstreamURL, mutualTLS: UpstreamMTLSPolicy? = nil, proxy: ForwardProxy? = nil) {
        eventLoop.preconditionInEventLoop()
        let key = Self.key(url, mutualTLS, proxy)
        let list: IdleList
        if let known = idle[key] {
            list = known
        } else {
            list = IdleList()
            idle[key] = list
        }
        guard lease.channel.isActive, !lease.handler.closed, list.entries.count < Self.maximumIdlePerUpstream else {
            lease.channel.close(promise: nil)
            return
        }
        lease.handler.delegate = nil
        list.entries.append((lease.channel, lease.handler, .now()))
    }

    func closeAll() {
        for list in idle.values { for entry in list.entries { entry.channel.close(promise: nil) } }
        idle.removeAll()
    }
}

/// The pools of every event loop, created on first use.
public final class UpstreamPools: Sendable {
    private let pools = Mutex<[ObjectIdentifier: NIOLoopBound<UpstreamPool>]>([:])
    let tls = UpstreamTLS()

    public init() {}

    func pool(for loop: any EventLoop) -> UpstreamPool {
        let id = ObjectIdentifier(loop)
        let bound = pools.withLock { all -> NIOLoopBound<UpstreamPool> in
            if let existing = all[id] { return existing }
            let made = NIOLoopBound(UpstreamPool(eventLoop: loop, tls: tls), eventLoop: loop)
            all[id] = made
            return made
        }
        return bound.value
    }

    /// Closes every idle upstream connection (shutdown).
    public func closeAll() {
        for bound in pools.withLock({ Array($0.values) }) {
            bound.eventLoop.execute { bound.value.closeAll() }
        }
    }
}

/// TLS towards `https` upstreams: the system's trust roots, full verification, SNI with the upstream's name
/// (as async-http-client did for the gateway before, and as a browser would).
final class UpstreamTLS: Sendable {
    private let made = Mutex<Result<NIOSSLContext, any Error>?>(nil)

    func context() throws -> NIOSSLContext {
        try made.withLock { cached in
            if let cached { return try cached.get() }
            let result = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }
            cached = result
            return try result.get()
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// What an upstream connection reports to the downstream exchange that borrowed it.
protocol UpstreamDelegate: AnyObject {
    func upstreamHead(_ head: HTTP1ResponseReader.Head)
    func upstreamBody(_ body: ByteBuffer)
    func upstreamEnd()
    func upstreamReadComplete()
    func upstreamFailed(_ error: any Error)
    func upstreamWritabilityChanged(writable: Bool)
}

/// The last handler of an upstream channel, speaking HTTP/1.1 as bytes: writes the request of the exchange that
/// borrowed the connection (a head prepared by `UpstreamRequestHead`, then its body, chunk-encoded when its length
/// is unknown) and reads the response with `HTTP1ResponseReader`, forwarding head, body slices and end to that
/// exchange. Only touched on its channel's event loop.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The exchange being served: set for one exchange and cleared when its response ends, when the connection closes
    /// or fails, when it goes back to the pool, and when the client goes away. Held strongly: a weak reference would
    /// give every client connection's handler a side table, and each of its retains and releases the slow path.
    var delegate: (any UpstreamDelegate)?
    private var context: ChannelHandlerContext?
    /// Response heads are kept as their lines: most pass to the client as they came.
    private var reader = HTTP1ResponseReader(keeping: .lines)
    /// The request's body goes out in chunks (its length is unknown).
    private var chunkedBody = false
    /// The channel closed or failed; never lend it again.
    private(set) var closed = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes a request head; `chunked` when it announced `Transfer-Encoding: chunked`, `headOnly` for a HEAD request
    /// (its answer has no body).
    func sendHead(_ head: ByteBuffer, chunked: Bool, headOnly: Bool) {
        chunkedBody = chunked
        if headOnly { reader.expectAnswerToHEAD() }
        context?.write(NIOAny(head), promise: nil)
    }

    func sendBody(_ body: ByteBuffer) {
        guard let context, body.readableBytes > 0 else { return }
        guard chunkedBody else { return context.write(NIOAny(body), promise: nil) }
        HTTP1Syntax.writeChunk(body, on: context)
    }

    func sendEnd() {
        if chunkedBody { context?.write(NIOAny(HTTP1Syntax.lastChunk), promise: nil) }
        chunkedBody = false
    }

    func flush() { context?.flush() }

    func setReading(_ on: Bool) {
        guard let context else { return }
        context.channel.setOption(.autoRead, value: on).whenComplete { _ in }
        if on { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        reader.feed(&bytes)
        do {
            while !closed, let event = try reader.next() {
                // Bytes nobody asked for (an answer on an idle connection) mean the connection cannot be trusted.
                guard let delegate else { throw HTTP1ResponseReader.Malformed("the upstream sent a response no request was waiting for") }
                switch event {
                case .head(let head): delegate.upstreamHead(head)
                case .body(let body): delegate.upstreamBody(body)
                case .end:
                    self.delegate = nil
                    delegate.upstreamEnd()
                }
            }
        } catch {
            fail(error, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(writable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let delegate = self.delegate
        self.delegate = nil
        do {
            // A body that runs to the end of the connection ends here.
            if case .end? = try reader.closed() {
                delegate?.upstreamEnd()
            } else {
                delegate?.upstreamFailed(ChannelError.eof)
            }
        } catch {
            delegate?.upstreamFailed(error)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        closed = true
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(error)
        context.close(promise: nil)
    }
}

/// Opens a `CONNECT` tunnel through a forward proxy to an `https` upstream: sends the request once the
/// connection is up, reads the proxy's answer head, and on a 2xx leaves the pipeline (TLS to the upstream goes
/// through the tunnel next). Any other answer, a closed connection or no answer within the timeout fails it.
final class ConnectTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let target: UpstreamURL
    let authorization: String?
    let timeout: TimeAmount
    let established: EventLoopPromise<Void>
    private var sent = false
    private var done = false
    private var answer = ByteBuffer()
    private var timer: Scheduled<Void>?
    /// A proxy's answer head larger than this is refused.
    static let answerLimit = 16 * 1024

    init(target: UpstreamURL, authorization: String?, timeout: TimeAmount, established: EventLoopPromise<Void>) {
        self.target = target
        self.authorization = authorization
        self.timeout = timeout
        self.established = established
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { send(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    private func send(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let authority = (target.host.contains(":") ? "[\(target.host)]" : target.host) + ":\(target.port)"
        var head = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        head += "\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.fail(context, ChannelError.connectTimeout(self.timeout))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        guard !done else { return }
        answer.writeBuffer(&part)
        let bytes = answer.readableBytesView
        guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else {
            if answer.readableBytes > Self.answerLimit { fail(context, UpstreamTunnelError("the proxy's answer to CONNECT is too long")) }
            return
        }
        let statusLine = String(decoding: bytes[bytes.startIndex..<end.lowerBound].prefix { $0 != 13 }, as: UTF8.self)
        let code = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard (200..<300).contains(code), end.upperBound == bytes.endIndex else {
            return fail(context, UpstreamTunnelError("the proxy answered CONNECT with \"\(statusLine)\""))
        }
        done = true
        timer?.cancel()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        established.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, UpstreamTunnelError("the proxy closed the connection before the tunnel was open"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, error)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        guard !done else { return }
        done = true
        timer?.cancel()
        established.fail(error)
        context.close(promise: nil)
    }
}

struct UpstreamTunnelError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
