import NIOCore
import NIOHTTP1
import PorticoCore
import PorticoGateway
import PorticoMetering

/// One connection to the metering port: collects each request (the report endpoint takes up to Rack's
/// 4 MiB of form data), answers it with `ServiceManagementAPI` in a task on the connection's own event
/// loop, and writes the reply. The raw target is passed on, so percent-encoded ids stay intact. Requests a
/// client pipelines are answered in order, one at a time.
final class MeteringConnectionHandler: ChannelInboundHandler, DrainableConnection {
    typealias InboundIn = HTTPServerRequestPart
    /// Whole responses (`HTTPResponseBytes`): the listener has no response encoder for this port.
    typealias OutboundOut = ByteBuffer

    let api: ServiceManagementAPI
    let executor: EventLoopTaskExecutor
    let connections: ListenerConnections
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    /// A request was read to its end and is being answered.
    private var answering = false
    private var pipelined: [HTTPServerRequestPart] = []
    private var readingPaused = false
    private var draining = false

    /// The report endpoint accepts 4 MiB of form data, like Rack; a little more is read so the limit error is precise.
    static let maximumBodyBytes = RackParameters.maximumBytes + 1
    static let pipelinedLimit = 64

    init(api: ServiceManagementAPI, executor: EventLoopTaskExecutor, connections: ListenerConnections) {
        self.api = api
        self.executor = executor
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connections.opened(self, channel: context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        connections.closed(context.channel)
        context.fireChannelInactive()
    }

    /// The request decoder failed: a request that does not parse as HTTP gets a 400 unless a response is due
    /// first, and the connection closes either way (there is no telling where the next request would start).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError, !answering, pipelined.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: 80)
            buffer.writeStaticString(HTTPResponseBytes.badRequest)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        context.close(promise: nil)
    }

    func drain() {
        draining = true
        if !answering, head == nil { context?.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if answering || !pipelined.isEmpty {
            pipelined.append(part)
            if pipelined.count > Self.pipelinedLimit, !readingPaused {
                readingPaused = true
                context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
            }
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let h):
            head = h
            body = nil
            tooLarge = false
        case .body(var chunk):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > Self.maximumBodyBytes {
                tooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            answering = true
            if tooLarge {
                let document = ServiceManagementXML.error(code: "bad_request", message: "total query size exceeds limit")
                return respond(MeteringResponse(status: 400, headers: [("Content-Type", ServiceManagementXML.contentType)], body: Array(document.utf8)),
                               to: head, keepAlive: false)
            }
            var request = MeteringRequest(method: head.method.rawValue, target: head.uri, contentType: head.headers.first(name: "content-type"),
                                          body: body.map { Array(buffer: $0) } ?? [], options: head.headers.first(name: "3scale-options"))
            body = nil
            request.authorization = head.headers.first(name: "authorization")
            request.userAgent = head.headers.first(name: "user-agent")
            request.remoteAddress = context.channel.remoteAddress?.ipAddress
            let api = self.api
            let me = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            Task(executorPreference: executor) {
                let reply = await api.handle(request)
                if loop.inEventLoop {
                    me.value.respond(reply, to: head, keepAlive: head.isKeepAlive)
                } else {
                    loop.execute { me.value.respond(reply, to: head, keepAlive: head.isKeepAlive) }
                }
            }
        }
    }

    private func respond(_ reply: MeteringResponse, to request: HTTPRequestHead, keepAlive: Bool) {
        guard let context else { return }
        let keepAlive = keepAlive && !draining
        let sendsBody = request.method != .HEAD
        var buffer = context.channel.allocator.buffer(capacity: 192 + reply.headers.count * 48 + (sendsBody ? reply.body.count : 0))
        HTTPResponseBytes.write(status: reply.status, version: request.version, headers: reply.headers, body: sendsBody ? reply.body : nil,
                                contentLength: reply.body.count, keepAlive: keepAlive, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        answering = false
        guard keepAlive else {
            pipelined = []
            context.close(promise: nil)
            return
        }
        while !answering, !pipelined.isEmpty { handle(pipelined.removeFirst(), context: context) }
        if readingPaused, pipelined.count <= Self.pipelinedLimit {
            readingPaused = false
            context.channel.setOption(.autoRead, value: true).whenComplete { _ in }
            context.read()
        }
    }
}
