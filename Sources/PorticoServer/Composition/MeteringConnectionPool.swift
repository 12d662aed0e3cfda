import NIOCore
import NIOHTTP1
import NIOPosix
import PorticoGateway
import Synchronization

/// Keep-alive HTTP/1.1 connections to one plain-HTTP Service Management API endpoint, written on NIO
/// channels: an authrep is one small GET whose answer is only a status and a few headers, so it skips a
/// general client's per-request machinery. Connections are kept per event loop: a gateway's call made on a
/// client connection's loop uses a connection of that loop, so the exchange never changes thread.
///
/// The exchanges an event loop starts in one tick are pipelined on one connection and flushed together at the
/// end of the tick: a gateway under load finishes several requests per wake-up, and one write (and one wake-up
/// of the backend) for all their authreps costs a fraction of one each. A connection that fails or times out is
/// dropped and its exchanges report "unreachable" (never resent: the server may have counted them); exchanges
/// behind a response that closed the connection were not processed (RFC 9112 §9.6) and are sent again (each time
/// at least the first exchange on a connection is answered, so this ends).
final class MeteringConnectionPool: Sendable {
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
    }

    /// The connection taking the exchanges of the current tick of one event loop: an open one, or one being opened
    /// (its exchanges wait to be written once it is).
    private struct Batch {
        enum Connection {
            case open(any Channel)
            case opening(Opening)
        }
        var connection: Connection
        var exchanges: Int

        /// Writes what the batch holds (a connection being opened writes its exchanges when it opens).
        func flush() {
            if case .open(let channel) = connection { channel.flush() }
        }
    }

    /// Exchanges waiting for their connection to open; used on its event loop only.
    private final class Opening: @unchecked Sendable {
        var waiting: [(request: MeteringExchangeHandler.Request, resends: Int, completion: @Sendable (Answer?) -> Void)] = []
    }

    let host: String
    let port: Int
    private let idle = Mutex<[ObjectIdentifier: [(channel: any Channel, since: NIODeadline)]]>([:])
    private let batches = Mutex<[ObjectIdentifier: Batch]>([:])
    static let maximumIdle = 256
    /// Exchanges pipelined on one connection in one tick at most; more go to another connection.
    static let pipelineDepth = 32
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
        send(MeteringExchangeHandler.Request(head: head, body: body, timeout: timeout), on: loop, resends: 0, completion: completion)
    }

    private func send(_ request: MeteringExchangeHandler.Request, on loop: any EventLoop, resends: Int,
                      completion: @escaping @Sendable (Answer?) -> Void) {
        guard loop.inEventLoop else {
            loop.execute { self.send(request, on: loop, resends: resends, completion: completion) }
            return
        }
        switch joinBatch(on: loop) {
        case .open(let channel)?:
            return exchange(on: channel, request, resends: resends, flush: false, completion: completion)
        case .opening(let opening)?:
            // The batch's connection is being opened: the exchange waits for it.
            opening.waiting.append((request, resends, completion))
            return
        case nil:
            break
        }
        if let idle = takeIdle(on: loop) {
            startBatch(Batch(connection: .open(idle), exchanges: 1), on: loop)
            return exchange(on: idle, request, resends: resends, flush: false, completion: completion)
        }
        let opening = Opening()
        opening.waiting.append((request, resends, completion))
        startBatch(Batch(connection: .opening(opening), exchanges: 1), on: loop)
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHTTPClientHandlers()
                    try ch.pipeline.syncOperations.addHandler(MeteringExchangeHandler { [weak ch] in
                        if let ch { self.putIdle(ch) }
                    })
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                // The batch takes no more exchanges once its connection opened or failed (that can happen before
                // the end of the tick that started it, when the tick ran out of time for its tasks).
                self.batches.withLock { all in
                    if case .opening(let current)? = all[ObjectIdentifier(loop)]?.connection, current === opening { all[ObjectIdentifier(loop)] = nil }
                }
                let waiting = opening.waiting
                opening.waiting = []
                switch result {
                case .success(let channel):
                    for w in waiting { self.exchange(on: channel, w.request, resends: w.resends, flush: false, completion: w.completion) }
                    channel.flush()
                case .failure:
                    // A connection that fails at once fails here synchronously: answer on the next tick.
                    loop.execute { for w in waiting { w.completion(nil) } }
                }
            }
    }

    private func exchange(on channel: any Channel, _ request: MeteringExchangeHandler.Request, resends: Int, flush: Bool,
                          completion: @escaping @Sendable (Answer?) -> Void) {
        let promise = channel.eventLoop.makePromise(of: MeteringExchangeHandler.Response.self)
        // A channel that closed meanwhile has no exchange handler left to answer: its failed write fails the exchange.
        let exchange = MeteringExchangeHandler.Exchange(request: request, promise: promise)
        let written = flush ? channel.writeAndFlush(exchange) : channel.write(exchange)
        written.whenFailure { promise.fail($0) }
        promise.futureResult.whenComplete { result in
            switch result {
            case .success(let response):
                completion(Answer(status: response.status, headers: response.headers))
            case .failure(MeteringExchangeHandler.NotProcessed.closedBefore) where resends < Self.pipelineDepth:
                self.send(request, on: channel.eventLoop, resends: resends + 1, completion: completion)
            case .failure:
                channel.close(promise: nil)
                // A write to a closed channel fails at once, inside `send`: answer on the next tick.
                channel.eventLoop.execute { completion(nil) }
            }
        }
    }

    /// The connection of this tick's batch, while it has room for another exchange.
    private func joinBatch(on loop: any EventLoop) -> Batch.Connection? {
        batches.withLock { all -> Batch.Connection? in
            guard var batch = all[ObjectIdentifier(loop)], batch.exchanges < Self.pipelineDepth else { return nil }
            if case .open(let channel) = batch.connection, !channel.isActive { return nil }
            batch.exchanges += 1
            all[ObjectIdentifier(loop)] = batch
            return batch.connection
        }
    }

    /// `batch` takes the rest of this tick's exchanges; they are flushed together once the loop has handled this
    /// tick's events (a connection being opened writes its exchanges when it opens).
    private func startBatch(_ batch: Batch, on loop: any EventLoop) {
        let previous = batches.withLock { all in all.updateValue(batch, forKey: ObjectIdentifier(loop)) }
        if let previous {
            // The previous connection of this tick is full: it goes out now.
            previous.flush()
        } else {
            loop.execute { self.endBatch(on: loop) }
        }
    }

    private func endBatch(on loop: any EventLoop) {
        batches.withLock { all in all.removeValue(forKey: ObjectIdentifier(loop)) }?.flush()
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

    /// Called by a connection's handler when its last pending exchange was answered and the connection stays open.
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

/// Writes requests, pipelined, and completes each one's promise with its response's status and headers in
/// order (bodies are read and dropped: APIcast asks for `no_body`). When the oldest exchange gets no answer
/// within its timeout, every pending one fails and the connection closes. The timer belongs to the connection and
/// is re-armed only when it fires, so an exchange on a kept-alive connection schedules and cancels nothing.
final class MeteringExchangeHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    struct Request: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var timeout: TimeAmount
    }

    struct Exchange {
        var request: Request
        var promise: EventLoopPromise<Response>
    }

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var keepAlive: Bool
    }

    /// Exchanges behind a response that closed the connection: the server did not process them.
    enum NotProcessed: Error { case closedBefore }

    private struct Pending {
        var promise: EventLoopPromise<Response>
        var deadline: NIODeadline
        var timeout: TimeAmount
    }

    /// Written and not yet answered, oldest first.
    private var pending = CircularBuffer<Pending>(initialCapacity: 4)
    private var head: HTTPResponseHead?
    private var context: ChannelHandlerContext?
    private var timer = ConnectionTimer()
    /// The connection answered everything written to it and stays open.
    private let becameIdle: () -> Void

    init(becameIdle: @escaping () -> Void) {
        self.becameIdle = becameIdle
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    private func armTimer(at when: NIODeadline) {
        guard let context else { return }
        timer.arm(at: when, on: context.eventLoop) { self.timerFired() }
    }

    private func timerFired() {
        timer.fired()
        guard let oldest = pending.first else { return }
        guard NIODeadline.now() >= oldest.deadline else { return armTimer(at: oldest.deadline) }
        failAll(ChannelError.connectTimeout(oldest.timeout))
        context?.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        head = nil
        while let next = pending.popFirst() { next.promise.fail(error) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        let request = exchange.request
        let deadline = NIODeadline.now() + request.timeout
        pending.append(Pending(promise: exchange.promise, deadline: deadline, timeout: request.timeout))
        armTimer(at: deadline)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let h = head, let answered = pending.popFirst() else { return }
            head = nil
            answered.promise.succeed(Response(status: Int(h.status.code), headers: h.headers, keepAlive: h.isKeepAlive))
            if !h.isKeepAlive {
                failAll(NotProcessed.closedBefore)
                context.close(promise: nil)
            } else if pending.isEmpty {
                becameIdle()
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer.cancel()
        failAll(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }
}
