import NIOCore
import NIOHTTP1
import NIOPosix
import PorticoGateway
import Synchronization

/// Keep-alive HTTP/1.1 connections to one plain-HTTP Service Management API endpoint, written on NIO
/// channels: an authrep is one small GET whose answer is only a status and a few headers, so it skips a
/// general client's per-request machinery. One exchange at a time per connection; a connection that fails,
/// times out or is closed by the server is dropped, and the exchange reports "unreachable" (never resent).
/// Connections are kept per event loop: a gateway's call made on a client connection's loop uses a
/// connection of that loop, so the exchange never changes thread.
final class MeteringConnectionPool: Sendable {
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
    }

    let host: String
    let port: Int
    private let idle = Mutex<[ObjectIdentifier: [(channel: any Channel, since: NIODeadline)]]>([:])
    static let maximumIdle = 256
    /// Idle connections older than this are closed rather than reused (servers time them out: nginx 75 s).
    static let idleLifetime = TimeAmount.seconds(30)

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    func send(_ head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount) async -> Answer? {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        return await withCheckedContinuation { continuation in
            send(head, body: body, timeout: timeout, on: loop) { continuation.resume(returning: $0) }
        }
    }

    /// One exchange on a connection of `loop`; `completion` runs on that loop, never before this returns, with nil
    /// when the endpoint could not be reached or did not answer within `timeout`.
    func send(_ head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount, on loop: any EventLoop,
              completion: @escaping @Sendable (Answer?) -> Void) {
        if let reused = takeIdle(on: loop) {
            return exchange(on: reused, head, body: body, timeout: timeout, completion: completion)
        }
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHTTPClientHandlers()
                    try ch.pipeline.syncOperations.addHandler(MeteringExchangeHandler())
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.exchange(on: channel, head, body: body, timeout: timeout, completion: completion)
                case .failure:
                    // A connection that fails at once fails here synchronously: answer on the next tick.
                    loop.execute { completion(nil) }
                }
            }
    }

    private func exchange(on channel: any Channel, _ head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount,
                          completion: @escaping @Sendable (Answer?) -> Void) {
        let promise = channel.eventLoop.makePromise(of: MeteringExchangeHandler.Response.self)
        // A channel that closed meanwhile has no exchange handler left to answer: its failed write fails the exchange.
        channel.writeAndFlush(MeteringExchangeHandler.Exchange(head: head, body: body, timeout: timeout, promise: promise))
            .whenFailure { promise.fail($0) }
        promise.futureResult.whenComplete { result in
            switch result {
            case .success(let response):
                if response.keepAlive, channel.isActive { self.putIdle(channel) } else { channel.close(promise: nil) }
                completion(Answer(status: response.status, headers: response.headers))
            case .failure:
                channel.close(promise: nil)
                // A write to a closed channel fails at once, inside `send`: answer on the next tick.
                channel.eventLoop.execute { completion(nil) }
            }
        }
    }

    private func takeIdle(on loop: any EventLoop) -> (any Channel)? {
        let now = NIODeadline.now()
        return idle.withLock { all in
            while let last = all[ObjectIdentifier(loop)]?.popLast() {
                if last.channel.isActive, now - last.since < Self.idleLifetime { return last.channel }
                last.channel.close(promise: nil)
            }
            return nil
        }
    }

    private func putIdle(_ channel: any Channel) {
        let kept = idle.withLock { all -> Bool in
            let key = ObjectIdentifier(channel.eventLoop)
            guard all[key, default: []].count < Self.maximumIdle else { return false }
            all[key, default: []].append((channel, .now()))
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    func close() {
        for list in idle.withLock({ all in defer { all.removeAll() }; return Array(all.values) }) {
            for entry in list { entry.channel.close(promise: nil) }
        }
    }
}

/// Writes one request and completes its promise with the response's status and headers (the body is read
/// and dropped: APIcast asks for `no_body`), or fails it and closes the connection when no answer came within
/// the exchange's timeout. The timer belongs to the connection and is re-armed only when it fires, so an
/// exchange on a kept-alive connection schedules and cancels nothing.
final class MeteringExchangeHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    struct Exchange {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var timeout: TimeAmount
        var promise: EventLoopPromise<Response>
    }

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var keepAlive: Bool
    }

    private var pending: EventLoopPromise<Response>?
    private var head: HTTPResponseHead?
    private var context: ChannelHandlerContext?
    /// When the exchange in progress times out.
    private var deadline = NIODeadline.distantFuture
    private var timeout = TimeAmount.zero
    private var timer = ConnectionTimer()

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    private func armTimer(at when: NIODeadline) {
        guard let context else { return }
        timer.arm(at: when, on: context.eventLoop) { self.timerFired() }
    }

    private func timerFired() {
        timer.fired()
        guard let promise = pending else { return }
        guard NIODeadline.now() >= deadline else { return armTimer(at: deadline) }
        pending = nil
        head = nil
        promise.fail(ChannelError.connectTimeout(timeout))
        context?.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil else {
            exchange.promise.fail(ChannelError.inappropriateOperationForState)
            promise?.fail(ChannelError.inappropriateOperationForState)
            return
        }
        pending = exchange.promise
        timeout = exchange.timeout
        deadline = .now() + timeout
        armTimer(at: deadline)
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let h = head, let promise = pending else { return }
            head = nil
            pending = nil
            promise.succeed(Response(status: Int(h.status.code), headers: h.headers, keepAlive: h.isKeepAlive))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer.cancel()
        pending?.fail(ChannelError.ioOnClosedChannel)
        pending = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pending?.fail(error)
        pending = nil
        context.close(promise: nil)
    }
}
