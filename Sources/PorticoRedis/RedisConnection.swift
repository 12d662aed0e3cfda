import NIOCore
import NIOPosix
import NIOSSL

/// Why a Redis call failed. Every case says whether the commands may have reached the server, because a
/// caller must never repeat a write that may already have been applied.
public enum RedisError: Error, Sendable, CustomStringConvertible {
    /// No connection could be made; nothing was sent.
    case unavailable(String)
    /// The connection broke or timed out after the commands were written: they may or may not have run.
    case outcomeUnknown(String)
    /// The server answered with an error reply.
    case server(String)
    /// The reply had an unexpected shape.
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .unavailable(let s): return "Redis is unavailable: \(s)"
        case .outcomeUnknown(let s): return "the Redis connection failed before the reply arrived: \(s)"
        case .server(let s): return "Redis replied with an error: \(s)"
        case .unexpectedReply(let s): return "unexpected Redis reply: \(s)"
        }
    }

    /// True when the commands certainly did not run, so sending them again cannot apply them twice.
    public var certainlyNotApplied: Bool {
        if case .unavailable = self { return true }
        return false
    }
}

/// One connection to redis-server. Commands from any task are pipelined: each call writes its commands and
/// waits for as many replies, which arrive in order.
public final class RedisConnection: Sendable {
    let channel: any Channel
    public let commandTimeout: TimeAmount

    init(channel: any Channel, commandTimeout: TimeAmount) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    public var isActive: Bool { channel.isActive }

    /// Opens a TCP connection, logs in and selects the database. Fails with `.unavailable` when the server cannot
    /// be reached within `connectTimeout` or refuses the credentials.
    public static func connect(host: String, port: Int, username: String?, password: String?, database: Int,
                               eventLoopGroup: any EventLoopGroup, connectTimeout: TimeAmount = .seconds(2),
                               commandTimeout: TimeAmount = .seconds(5), clientName: String? = nil,
                               tls: NIOSSLContext? = nil) async throws -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: RedisTLS.serverName(host)))
                        }
                        try channel.pipeline.syncOperations.addHandler(RedisChannelHandler())
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw RedisError.unavailable("cannot connect to \(host):\(port): \(error)")
        }
        let connection = RedisConnection(channel: channel, commandTimeout: commandTimeout)
        var setup: [[String]] = []
        if let password {
            setup.append(username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if database != 0 { setup.append(["SELECT", String(database)]) }
        if let clientName { setup.append(["CLIENT", "SETNAME", clientName]) }
        if !setup.isEmpty {
            do {
                for reply in try await connection.send(setup) {
                    if case .error(let message) = reply { throw RedisError.unavailable("\(host):\(port) refused the login or database: \(message)") }
                }
            } catch {
                connection.close()
                if let e = error as? RedisError, e.certainlyNotApplied { throw e }
                throw RedisError.unavailable("\(host):\(port): \(error)")
            }
        }
        return connection
    }

    /// Sends the commands in one write and returns their replies in order. Error replies are returned as
    /// `.error` values, not thrown: within a pipeline one failing command does not void the others.
    public func send(_ commands: [[String]]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        // Room for the whole pipeline at once: an authrep's counter script alone has a couple of hundred arguments.
        // (Appending to an array and copying it once measured cheaper than writing each piece into the ByteBuffer.)
        var size = 0
        for command in commands {
            size += 16
            for part in command { size += part.utf8.count + 16 }
        }
        var buffer = channel.allocator.buffer(capacity: size)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for command in commands { RESPEncoder.encodeCommand(command, into: &bytes) }
        buffer.writeBytes(bytes)
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        let request = RedisChannelHandler.Request(bytes: buffer, replyCount: commands.count, promise: promise, timeout: commandTimeout)
        // If the channel closed before the handler saw the request, nothing was written: the waiting promise is
        // failed here as certainly-not-applied (a promise completes once; later failures are ignored).
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in promise.fail(RedisError.unavailable("the connection closed: \(error)")) }
        channel.writeAndFlush(request, promise: written)
        return try await promise.futureResult.get()
    }

    /// Sends one command and returns its reply, throwing error replies as `.server`.
    @discardableResult
    public func command(_ parts: String...) async throws -> RESPValue {
        let reply = try await send([parts])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    public func close() {
        channel.close(promise: nil)
    }
}

/// Matches replies to the requests that wait for them, in order, on the connection's event loop.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    struct Request: Sendable {
        var bytes: ByteBuffer
        var replyCount: Int
        var promise: EventLoopPromise<[RESPValue]>
        var timeout: TimeAmount
    }

    private struct Waiting {
        var remaining: Int
        var promise: EventLoopPromise<[RESPValue]>
        var timer: Scheduled<Void>?
    }

    private var decoder = RESPDecoder()
    private var waiting = CircularBuffer<Waiting>()
    /// Replies collected so far for the first waiting request. Kept outside `waiting`: appending through the
    /// buffer's subscript copied the array on every reply, quadratic for a pipeline of a million commands.
    private var headReplies: [RESPValue] = []
    private var closed = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard !closed else {
            request.promise.fail(RedisError.unavailable("the connection is closed"))
            promise?.fail(RedisError.unavailable("the connection is closed"))
            return
        }
        // A reply that does not come within the timeout leaves the stream's position unknown; the only safe
        // recovery is closing the connection, which fails every waiting request as outcome-unknown.
        let channel = context.channel
        let timer = context.eventLoop.scheduleTask(in: request.timeout) {
            channel.close(promise: nil)
        }
        if waiting.isEmpty { headReplies.reserveCapacity(request.replyCount) }
        waiting.append(Waiting(remaining: request.replyCount, promise: request.promise, timer: timer))
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { decoder.feed($0) }
        do {
            while let value = try decoder.next() {
                guard !waiting.isEmpty else {
                    failAll(RedisError.unexpectedReply("a reply arrived that no command asked for"))
                    context.close(promise: nil)
                    return
                }
                headReplies.append(value)
                waiting[waiting.startIndex].remaining -= 1
                if waiting[waiting.startIndex].remaining == 0 {
                    let done = waiting.removeFirst()
                    let replies = headReplies
                    headReplies = []
                    if let next = waiting.first { headReplies.reserveCapacity(next.remaining) }
                    done.timer?.cancel()
                    done.promise.succeed(replies)
                }
            }
        } catch {
            failAll(RedisError.outcomeUnknown("the server sent bytes that are not RESP (\(error))"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        failAll(RedisError.outcomeUnknown("the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisError.outcomeUnknown("\(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        headReplies = []
        while let w = waiting.popFirst() {
            w.timer?.cancel()
            w.promise.fail(error)
        }
    }
}

extension CircularBuffer {
    mutating func popFirst() -> Element? { isEmpty ? nil : removeFirst() }
}
