import NIOCore
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
/// of the backend) for all their authreps costs a fraction of one each. Exchanges nobody waits for (deferred
/// authreps) may gather for a little longer (`gathering`): on a loaded gateway a millisecond collects the
/// authreps of a dozen requests or more into one write, where each write is also a wake-up of the backend on
/// another core. An exchange someone waits for that joins such a batch has it written at the end of its tick.
///
/// A connection that fails or times out is dropped and its exchanges report "unreachable" (never resent: the
/// server may have counted them); exchanges behind a response that closed the connection were not processed
/// (RFC 9112 §9.6) and are sent again (each time at least the first exchange on a connection is answered, so
/// this ends).
final class MeteringConnectionPool: Sendable {
    /// Answers an exchange: the endpoint's answer, or `MeteringAnswer.unreachable`.
    typealias Completion = @Sendable (MeteringAnswer) -> Void

    /// A connection and the handler that writes its requests and reads its answers.
    struct Connection: @unchecked Sendable {
        var channel: any Channel
        var handler: MeteringExchangeHandler
    }

    /// The connection taking the exchanges of the current tick of one event loop: an open one, or one being opened
    /// (its exchanges wait to be written once it is).
    private struct Batch {
        enum State {
            case open(Connection)
            case opening(Opening)
        }
        var state: State
        var exchanges: Int
        /// The batch is written at the end of the tick, not after a gathering time.
        var prompt: Bool

        /// Writes what the batch holds (a connection being opened writes its exchanges when it opens).
        func flush() {
            if case .open(let connection) = state { connection.channel.flush() }
        }
    }

    /// Exchanges waiting for their connection to open; used on its event loop only.
    private final class Opening: @unchecked Sendable {
        var waiting: [(request: ByteBuffer, timeout: TimeAmount, resends: Int, completion: Completion)] = []
    }

    let host: String
    let port: Int
    /// Idle connections by event loop, most recently used last; each loop's list is changed in place (a list held
    /// in the dictionary by value would be copied on every change: once per batch).
    private let idle = Mutex<[ObjectIdentifier: IdleList]>([:])

    private final class IdleList: @unchecked Sendable {
        var entries: [(connection: Connection, since: NIODeadline)] = []
    }
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

    /// `request` is a whole HTTP/1.1 request (head and body) as bytes.
    func send(_ request: ByteBuffer, timeout: TimeAmount) async -> MeteringAnswer {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        return await withCheckedContinuation { continuation in
            send(request, timeout: timeout, on: loop) { continuation.resume(returning: $0) }
        }
    }

    /// One exchange on a connection of `loop`; `completion` runs on that loop, never before this returns, with
    /// `.unreachable` when the endpoint could not be reached or did not answer within `timeout`. With a `gathering`
    /// time the request may wait that long to be written together with later ones (for exchanges nobody waits for).
    func send(_ request: ByteBuffer, timeout: TimeAmount, on loop: any EventLoop, gathering: TimeAmount = .zero,
              completion: @escaping Completion) {
        send(request, timeout: timeout, on: loop, gathering: gathering, resends: 0, completion: completion)
    }

    private func send(_ request: ByteBuffer, timeout: TimeAmount, on loop: any EventLoop, gathering: TimeAmount = .zero, resends: Int,
                      completion: @escaping Completion) {
        guard loop.inEventLoop else {
            loop.execute { self.send(request, timeout: timeout, on: loop, gathering: gathering, resends: resends, completion: completion) }
            return
        }
        switch joinBatch(on: loop, prompt: gathering <= .zero) {
        case .open(let connection)?:
            return exchange(on: connection, request, timeout: timeout, resends: resends, completion: completion)
        case .opening(let opening)?:
            // The batch's connection is being opened: the exchange waits for it.
            opening.waiting.append((request, timeout, resends, completion))
            return
        case nil:
            break
        }
        if let idle = takeIdle(on: loop) {
            startBatch(Batch(state: .open(idle), exchanges: 1, prompt: gathering <= .zero), on: loop, gathering: gathering)
            return exchange(on: idle, request, timeout: timeout, resends: resends, completion: completion)
        }
        let opening = Opening()
        opening.waiting.append((request, timeout, resends, completion))
        startBatch(Batch(state: .opening(opening), exchanges: 1, prompt: gathering <= .zero), on: loop, gathering: gathering)
        let handler = NIOLoopBound(MeteringExchangeHandler(), eventLoop: loop)
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Once per connection (not per exchange): what to do when it goes idle, and with an exchange the
                    // server did not process (resent, on another connection).
                    handler.value.becameIdle = { channel, handler in self.putIdle(Connection(channel: channel, handler: handler)) }
                    handler.value.resend = { request, timeout, resends, completion in
                        self.send(request, timeout: timeout, on: loop, resends: resends, completion: completion)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                // The batch takes no more exchanges once its connection opened or failed (that can happen before
                // the end of the tick that started it, when the tick ran out of time for its tasks).
                self.batches.withLock { all in
                    if case .opening(let current)? = all[ObjectIdentifier(loop)]?.state, current === opening { all[ObjectIdentifier(loop)] = nil }
                }
                let waiting = opening.waiting
                opening.waiting = []
                switch result {
                case .success(let channel):
                    let connection = Connection(channel: channel, handler: handler.value)
                    for w in waiting { self.exchange(on: connection, w.request, timeout: w.timeout, resends: w.resends, completion: w.completion) }
                    channel.flush()
                case .failure:
                    // A connection that fails at once fails here synchronously: answer on the next tick.
                    loop.execute { for w in waiting { w.completion(.unreachable) } }
                }
            }
    }

    private func exchange(on connection: Connection, _ request: ByteBuffer, timeout: TimeAmount, resends: Int,
                          completion: @escaping Completion) {
        // A connection that closed meanwhile takes nothing: answer on the next tick.
        if !connection.handler.send(request, timeout: timeout, resends: resends, completion: completion) {
            connection.channel.eventLoop.execute { completion(.unreachable) }
        }
    }

    /// The connection of the current batch, while it has room for another exchange. A `prompt` exchange joining a
    /// gathering batch has it written at the end of this tick.
    private func joinBatch(on loop: any EventLoop, prompt: Bool) -> Batch.State? {
        let joined = batches.withLock { all -> (state: Batch.State, hastened: Bool)? in
            guard var batch = all[ObjectIdentifier(loop)], batch.exchanges < Self.pipelineDepth else { return nil }
            if case .open(let connection) = batch.state, !connection.handler.isUsable { return nil }
            batch.exchanges += 1
            let hastened = prompt && !batch.prompt
            if hastened { batch.prompt = true }
            all[ObjectIdentifier(loop)] = batch
            return (batch.state, hastened)
        }
        if joined?.hastened == true { loop.execute { self.endBatch(on: loop) } }
        return joined?.state
    }

    /// `batch` takes the exchanges that follow; they are flushed together once the loop has handled this tick's
    /// events, or after `gathering` (a connection being opened writes its exchanges when it opens). Whenever a batch
    /// exists, an end is scheduled for it: its own, or that of the full batch it replaced (which may end it
    /// sooner; sooner only means fewer exchanges per write).
    private func startBatch(_ batch: Batch, on loop: any EventLoop, gathering: TimeAmount) {
        let previous = batches.withLock { all in all.updateValue(batch, forKey: ObjectIdentifier(loop)) }
        if let previous {
            // The previous connection is full: it goes out now.
            previous.flush()
            if batch.prompt, !previous.prompt { loop.execute { self.endBatch(on: loop) } }
        } else if batch.prompt {
            loop.execute { self.endBatch(on: loop) }
        } else {
            loop.scheduleTask(in: gathering) { self.endBatch(on: loop) }
        }
    }

    private func endBatch(on loop: any EventLoop) {
        batches.withLock { all in all.removeValue(forKey: ObjectIdentifier(loop)) }?.flush()
    }

    private func takeIdle(on loop: any EventLoop) -> Connection? {
        guard let list = idle.withLock({ $0[ObjectIdentifier(loop)] }), !list.entries.isEmpty else { return nil }
        // The list is only changed on its loop, which this is.
        let now = NIODeadline.now()
        while let last = list.entries.popLast() {
            if last.connection.handler.isUsable, now - last.since < Self.idleLifetime { return last.connection }
            last.connection.channel.close(promise: nil)
        }
        return nil
    }

    /// Called by a connection's handler when its last pending exchange was answered and the connection stays open.
    private func putIdle(_ connection: Connection) {
        let key = ObjectIdentifier(connection.channel.eventLoop)
        let list = idle.withLock { all in
            if let known = all[key] { return known }
            let made = IdleList()
            all[key] = made
            return made
        }
        guard list.entries.count < Self.maximumIdle else { return connection.channel.close(promise: nil) }
        list.entries.append((connection, .now()))
    }

    func close() {
        for list in idle.withLock({ all in defer { all.removeAll() }; return Array(all.values) }) {
            // Each list on its own loop (the only place it changes).
            list.entries.first?.connection.channel.eventLoop.execute {
                for entry in list.entries { entry.connection.channel.close(promise: nil) }
                list.entries.removeAll()
            }
        }
    }
}

/// Writes requests (whole, as bytes), pipelined, and answers each one's completion with its response in order
/// (`MeteringResponseParser`: status, connection and `3scale-*` headers; bodies are dropped, APIcast asks for
/// `no_body`). When the oldest exchange gets no answer within its timeout, every pending one fails and the
/// connection closes. The timer belongs to the connection and is re-armed only when it fires, so an exchange on a
/// kept-alive connection schedules and cancels nothing. Only used on its channel's event loop.
///
/// An exchange keeps its request: when a response closes the connection, the exchanges written behind it were not
/// processed (RFC 9112 §9.6) and go to `resend`, up to `MeteringConnectionPool.pipelineDepth` times each (each time
/// at least the first exchange on a connection is answered, so this ends); any other failure answers
/// `.unreachable` (never resent: the server may have counted them).
final class MeteringExchangeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias Completion = MeteringConnectionPool.Completion

    private struct Pending {
        var completion: Completion
        var request: ByteBuffer
        var resends: Int
        var deadline: NIODeadline
        var timeout: TimeAmount
    }

    /// Written and not yet answered, oldest first.
    private var pending = CircularBuffer<Pending>(initialCapacity: 4)
    private var parser = MeteringResponseParser()
    private var context: ChannelHandlerContext?
    private var timer = ConnectionTimer()
    /// The connection failed or is closing: it takes no more exchanges.
    private var finished = false
    /// The connection answered everything written to it and stays open.
    var becameIdle: (any Channel, MeteringExchangeHandler) -> Void = { _, _ in }
    /// Sends again an exchange the server did not process: request, timeout, resends so far, completion.
    var resend: (ByteBuffer, TimeAmount, Int, @escaping Completion) -> Void = { _, _, _, completion in completion(.unreachable) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// The connection can take another exchange.
    var isUsable: Bool { !finished && context?.channel.isActive == true }

    /// Writes `request` (flushed by the caller) and answers `completion` on this loop once its response is read, or
    /// the connection fails; false, with `completion` never called, when the connection takes no more exchanges.
    func send(_ request: ByteBuffer, timeout: TimeAmount, resends: Int = 0, completion: @escaping Completion) -> Bool {
        guard isUsable, let context else { return false }
        let deadline = NIODeadline.now() + timeout
        pending.append(Pending(completion: completion, request: request, resends: resends, deadline: deadline, timeout: timeout))
        armTimer(at: deadline)
        context.write(wrapOutboundOut(request), promise: nil)
        return true
    }

    private func armTimer(at when: NIODeadline) {
        guard let context else { return }
        timer.arm(at: when, on: context.eventLoop) { self.timerFired() }
    }

    private func timerFired() {
        timer.fired()
        guard let oldest = pending.first else { return }
        guard NIODeadline.now() >= oldest.deadline else { return armTimer(at: oldest.deadline) }
        fail()
    }

    /// Every pending exchange is answered `.unreachable` and the connection closes.
    private func fail() {
        finished = true
        while let next = pending.popFirst() { next.completion(.unreachable) }
        context?.close(promise: nil)
    }

    /// A response closed the connection: the exchanges behind it were not processed and are sent again.
    private func closedAfterResponse() {
        finished = true
        while let next = pending.popFirst() {
            if next.resends < MeteringConnectionPool.pipelineDepth {
                resend(next.request, next.timeout, next.resends + 1, next.completion)
            } else {
                next.completion(.unreachable)
            }
        }
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        parser.feed(&bytes)
        var answered = false
        do {
            while let response = try parser.next() {
                guard let exchange = pending.popFirst() else { throw MeteringResponseParser.Malformed("a response came with no request pending") }
                answered = true
                exchange.completion(MeteringAnswer(status: response.status, header: response.header))
                if !response.keepAlive { return closedAfterResponse() }
            }
        } catch {
            return fail()
        }
        if answered, pending.isEmpty, !finished { becameIdle(context.channel, self) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer.cancel()
        finished = true
        while let next = pending.popFirst() { next.completion(.unreachable) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail()
    }
}
