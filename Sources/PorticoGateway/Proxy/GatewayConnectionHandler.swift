import Logging
import NIOCore
import NIOHTTP1

/// One client connection of a gateway listener, written directly on NIO: reads each request's head (its own
/// HTTP/1.1 reader on a connection, NIO's HTTP/2 codec on a stream), runs the pipeline (`Gateway.decide`) on
/// this connection's event loop, and either writes the local reply or streams the request to a pooled upstream
/// connection of the same loop and the upstream's response back, part by part, with backpressure both ways.
/// Bodies are never buffered whole, except a form body within the client body buffer, which credentials and
/// mapping rules read (as nginx does).
///
/// Everything here runs on the connection's event loop; requests on one connection are handled one at a
/// time: a pipelined request is held here until the response before it ended. (NIO's
/// `HTTPServerPipelineHandler` would do that by pausing reads after every request, two `epoll_ctl` calls per
/// request.)
final class GatewayConnectionHandler: ChannelInboundHandler, UpstreamDelegate, DrainableConnection {
    /// An HTTP/1 connection's bytes (`HTTP1RequestReader` reads them); an HTTP/2 stream's request parts reach
    /// `receive` through `HTTP2StreamAdapter` instead.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = HTTPServerResponsePart

    /// One piece of a client's request.
    enum ClientPart {
        case head(HTTP1RequestReader.Head)
        case body(ByteBuffer)
        case end
        /// The bytes are not a request the gateway accepts; the connection closes after answering `status`.
        case refused(HTTP1RequestReader.Refusal)
    }

    let gateway: Gateway
    let pools: UpstreamPools
    let executor: EventLoopTaskExecutor
    let recorder: GatewayRecorder
    let connections: ListenerConnections
    private var context: ChannelHandlerContext?
    private var pool: UpstreamPool?
    private var exchange: Exchange?
    /// Set when the listener drains: close once the current response ended.
    private var draining = false
    private var readingPaused = false
    /// Parts of requests the client sent before the current response ended.
    private var pipelined: [ClientPart] = []
    private var reader: HTTP1RequestReader
    /// The client's address and port, as text once per connection rather than once per request.
    private var remoteIP: String?
    private var remotePort: Int?
    /// The upstream read timeout of the exchange in progress.
    private var readTimer = ConnectionTimer()
    /// The buffers of the last upstream request head and response head, written again for the next ones: once the
    /// channel has written them they are ours alone and are cleared in place (two allocations each spared per
    /// request); one still held elsewhere is replaced by a new buffer when cleared.
    private var spareUpstreamHead = HTTP1Syntax.noBytes
    private var spareResponseHead = HTTP1Syntax.noBytes
    /// A spare buffer larger than this is let go rather than kept for the connection's life.
    static let spareLimit = 4096

    /// Bodies of local replies this large or larger are not read to their end; the connection closes instead.
    static let discardLimit: Int64 = 64 * 1024
    /// Request body bytes held while the pipeline decides or the upstream connects; beyond this the
    /// client is not read until the upstream takes them.
    static let pendingLimit = 256 * 1024
    /// Pipelined request parts held before the client is no longer read.
    static let pipelinedLimit = 64

    /// `http`, or `https` behind the listener's TLS.
    let scheme: String
    /// Responses go out as HTTP/1.x bytes (`HTTPResponseBytes`) rather than NIO's response parts (an HTTP/2 stream).
    let writesBytes: Bool

    init(gateway: Gateway, pools: UpstreamPools, executor: EventLoopTaskExecutor, recorder: GatewayRecorder, connections: ListenerConnections,
         scheme: String = "http", writesBytes: Bool = false) {
        self.scheme = scheme
        self.writesBytes = writesBytes
        // Heads up to the configured limit are read whole and answered 431 by the limits check (as before, at least
        // the 80 KB NIO's decoder allowed).
        self.reader = HTTP1RequestReader(headLimit: max(80 * 1024, gateway.settings.maximumHeaderBytes + 1024))
        self.gateway = gateway
        self.pools = pools
        self.executor = executor
        self.recorder = recorder
        self.connections = connections
    }

    /// One request and its response.
    final class Exchange {
        enum Phase {
            /// Reading a form body before deciding.
            case collectingForm
            case deciding
            case connecting
            /// The request goes to the upstream; its response comes back.
            case proxying
            /// A local reply was written; the rest of the request body is read and dropped.
            case replied
        }

        let head: HTTP1RequestReader.Head
        let started = NIODeadline.now()
        var request: GatewayRequest
        var phase: Phase = .deciding
        var keepAlive: Bool
        let declaredLength: Int64?
        let hasBody: Bool
        var received: Int64 = 0
        var requestEnded = false
        var formBody: ByteBuffer?
        var pending: [ByteBuffer] = []
        var pendingBytes = 0
        var decision: GatewayDecision?
        var plan: ProxyPlan?
        /// The request's head as it goes to the upstream (the same bytes for a retry).
        var upstreamHead = ByteBuffer()
        var upstreamChunked = false
        var lease: UpstreamPool.Lease?
        var attempt = 0
        var requestSent = false
        var responseStarted = false
        /// The upstream's response allows another request on its connection.
        var upstreamKeepAlive = false
        var upstreamStatus = 0
        /// How the proxied response's body goes to the client when it is written as bytes.
        var clientBody = ClientBodyFraming.asIs
        /// The response head as bytes, not yet written: the body read with it joins it when small (one write, not
        /// two), and it goes out before anything else is written or flushed (`writeHeldHead`).
        var heldHead: ByteBuffer?
        /// When the upstream last sent bytes (the end of its last read), or the request went to it.
        var lastActivity: NIODeadline
        /// The upstream read timeout of this exchange's plan (nginx's `proxy_read_timeout`).
        var readTimeout = TimeAmount.zero

        init(head: HTTP1RequestReader.Head, request: GatewayRequest) {
            self.head = head
            self.request = request
            self.lastActivity = started
            self.keepAlive = head.keepAlive
            self.declaredLength = head.chunked ? nil : head.contentLength
            self.hasBody = head.hasBody
        }

        /// A request whose body can be sent again (retries): none, or held whole.
        var replayable: Bool { !hasBody || formBody != nil }
    }

    /// The framing of a proxied body written as bytes: as it comes (a length was announced, or the body runs to the
    /// close), in chunks (no length, an HTTP/1.1 client), or not at all (HEAD, 204, 304).
    enum ClientBodyFraming {
        case asIs
        case chunked
        case none
    }

    // MARK: channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = pools.pool(for: context.eventLoop)
        let remote = context.channel.remoteAddress
        remoteIP = remote?.ipAddress
        remotePort = remote?.port
        connections.opened(self, channel: context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange {
            // The client went away: whatever the upstream was doing for it is abandoned.
            if let lease = exchange.lease {
                lease.handler.delegate = nil
                lease.channel.close(promise: nil)
            }
            if !exchange.responseStarted, exchange.phase == .proxying || exchange.phase == .connecting {
                record(exchange, status: 499, reason: "client_closed")
            }
            for slots in exchange.decision?.response.connectionSlots ?? [] { slots.leave() }
            self.exchange = nil
        }
        readTimer.cancel()
        connections.closed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        reader.feed(&bytes)
        do {
            while let event = try reader.next() {
                switch event {
                case .head(let head): receive(.head(head))
                case .body(let body): receive(.body(body))
                case .end: receive(.end)
                }
            }
        } catch {
            // Where the next request would start is unknown: nothing more is read from this connection.
            receive(.refused(error))
            setReading(false)
        }
    }

    /// A piece of the client's request, from this connection's bytes or an HTTP/2 stream.
    func receive(_ part: ClientPart) {
        guard let context else { return }
        // A pipelined request waits until the response before it ended (HTTP/1.1 answers in order).
        if !pipelined.isEmpty || (exchange?.requestEnded == true) {
            pipelined.append(part)
            if pipelined.count > Self.pipelinedLimit { setReading(false) }
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: ClientPart, context: ChannelHandlerContext) {
        switch part {
        case .refused(let refusal):
            if let exchange {
                // The request's own body did not parse: the response under way (if any) is cut short.
                exchange.keepAlive = false
                if !exchange.responseStarted, exchange.phase == .replied { return complete(exchange) }
                context.close(promise: nil)
                return
            }
            refuse(refusal, context: context)
        case .head(let head):
            begin(head, context: context)
        case .body(let part):
            guard let exchange else { return }
            exchange.received += Int64(part.readableBytes)
            switch exchange.phase {
            case .collectingForm:
                var part = part
                if exchange.formBody == nil { exchange.formBody = part } else { exchange.formBody!.writeBuffer(&part) }
            case .deciding, .connecting:
                exchange.pending.append(part)
                exchange.pendingBytes += part.readableBytes
                if exchange.pendingBytes > Self.pendingLimit { setReading(false) }
            case .proxying:
                exchange.lease?.handler.sendBody(part)
            case .replied:
                break
            }
        case .end:
            guard let exchange else { return }
            exchange.requestEnded = true
            switch exchange.phase {
            case .collectingForm:
                exchange.request.form = RequestArguments(encoded: exchange.formBody?.readableBytesView ?? ByteBuffer().readableBytesView)
                decide(exchange)
            case .deciding, .connecting:
                break
            case .proxying:
                exchange.lease?.handler.sendEnd()
                exchange.lease?.handler.flush()
                exchange.requestSent = true
            case .replied:
                // The reply was complete already; the connection is ready for the next request.
                complete(exchange)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let exchange, exchange.phase == .proxying { exchange.lease?.handler.flush() }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The client reads slower than the upstream answers: stop reading the upstream until it catches up.
        if let exchange, exchange.phase == .proxying { exchange.lease?.handler.setReading(context.channel.isWritable) }
        context.fireChannelWritabilityChanged()
    }

    /// The listener drains (SIGTERM): an idle connection closes now, a busy one after its response.
    func drain() {
        draining = true
        if exchange == nil { context?.close(promise: nil) }
    }

    /// A request that did not parse: answered with its status (400, or 431 for a head too long), then the connection
    /// closes, as NIO's protocol error handler did.
    private func refuse(_ refusal: HTTP1RequestReader.Refusal, context: ChannelHandlerContext) {
        pipelined = []
        var buffer = context.channel.allocator.buffer(capacity: 160)
        let body = Array(HTTPResponseStatus(statusCode: refusal.status).reasonPhrase.utf8)
        HTTPResponseBytes.write(status: refusal.status, version: .http1_1, headers: [("Content-Type", "text/plain; charset=utf-8")], body: body,
                                contentLength: body.count, keepAlive: false, into: &buffer)
        context.writeAndFlush(NIOAny(buffer), promise: nil)
        context.close(promise: nil)
        recorder.finished(status: refusal.status, reason: "bad_request", product: nil, request: nil, since: .now(),
                          accessLog: gateway.settings.accessLog, format: nil)
    }

    // MARK: request

    private func begin(_ head: HTTP1RequestReader.Head, context: ChannelHandlerContext) {
        let settings = gateway.settings
        let target = head.target
        var connectionTokens: [String] = []
        if let connection = head.field("connection") {
            for token in connection.split(separator: ",") { connectionTokens.append(token.trimmingSpaces.lowercased()) }
        }
        var request = GatewayRequest(method: head.method, host: Self.hostWithoutPort(head.field("host") ?? ""),
                                     path: Self.rawPath(target), rawQuery: Self.rawQuery(target), headers: head.fields,
                                     remoteAddress: remoteIP, remotePort: remotePort, scheme: scheme)
        // Policies and credentials see every header; only these are forwarded.
        request.headers = head.fields.filter { field in
            !HopByHop.isNotForwarded(field.0) && (connectionTokens.isEmpty || !connectionTokens.contains(field.0.lowercased()))
        }
        let exchange = Exchange(head: head, request: request)
        self.exchange = exchange
        let declaredLength = exchange.declaredLength
        let headBytes = head.size

        if request.path == "/_threescale/healthz" {
            return reply(LocalReply(status: 200, reason: "healthz"), exchange: exchange, actions: ResponseActions(), product: nil)
        }
        // Limits on the request head and body, with clean 4xx answers.
        if headBytes > settings.maximumHeaderBytes {
            return reply(LocalReply(status: 431, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Request Header Fields Too Large",
                                    reason: "header_too_large"), exchange: exchange, actions: ResponseActions(), product: nil, logRequest: false)
        }
        if settings.maximumBodyBytes > 0, let declaredLength, declaredLength > settings.maximumBodyBytes {
            return reply(LocalReply(status: 413, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Request Entity Too Large",
                                    reason: "body_too_large"), exchange: exchange, actions: ResponseActions(), product: nil, logRequest: false)
        }
        // Form bodies within the client body buffer take part in credentials and mapping rules (as in nginx).
        if Self.mayCarryForm(request.method),
           head.field("content-type")?.lowercased().contains("application/x-www-form-urlencoded") == true,
           let declaredLength, declaredLength > 0, declaredLength <= Int64(settings.clientBodyBufferBytes) {
            exchange.phase = .collectingForm
            return
        }
        decide(exchange)
    }

    private func decide(_ exchange: Exchange) {
        exchange.phase = .deciding
        advance(exchange, memo: DecisionMemo())
    }

    /// Runs the pipeline on this loop until it decides. Most requests (an authorization from the cache, a local
    /// reply) are decided at once; a call to metering is answered here on the loop (a plain-HTTP backend) or from a
    /// task, anything else is waited for in a task; after each, the pipeline goes on from where it stopped.
    private func advance(_ exchange: Exchange, memo: DecisionMemo) {
        guard self.exchange === exchange, let loop = context?.eventLoop else { return }
        var request = exchange.request, memo = memo
        let step = gateway.decideNow(&request, memo: &memo)
        if case .decided(let decision) = step { return decided(exchange, decision: decision, request: request) }
        let learnt = memo
        let target = NIOLoopBound((self, exchange), eventLoop: loop)
        @Sendable func goOn(_ memo: DecisionMemo) {
            if loop.inEventLoop {
                target.value.0.advance(target.value.1, memo: memo)
            } else {
                loop.execute { target.value.0.advance(target.value.1, memo: memo) }
            }
        }
        switch step {
        case .decided:
            break
        case .asks(let call):
            let gateway = self.gateway, endpoint = call.endpoint
            gateway.ask(call, executor: executor) { answer in
                gateway.count(answer, to: endpoint)
                var memo = learnt
                memo.answered(answer)
                goOn(memo)
            }
        case .waits(let wait):
            // Started at once on this thread (the loop's); it comes back to the loop once the wait is over.
            Task.immediate(executorPreference: executor) {
                var memo = learnt
                await wait(&memo)
                goOn(memo)
            }
        }
    }

    private func decided(_ exchange: Exchange, decision: GatewayDecision, request: GatewayRequest) {
        guard self.exchange === exchange, context != nil else { return }
        exchange.request = request
        exchange.decision = decision
        switch decision.action {
        case .reply(let local):
            gateway.responded(decision.response, status: local.status, executor: executor)
            reply(local, exchange: exchange, actions: decision.response, product: decision.product)
        case .proxy(let plan):
            exchange.plan = plan
            do {
                try prepareUpstreamHead(exchange, plan: plan)
            } catch {
                gateway.logger.warning("gateway.upstream_request_invalid", metadata: ["upstream": .string(plan.upstream.description), "error": .string("\(error)")])
                recorder.upstreamAnswered(status: 502, since: exchange.started, product: decision.product)
                gateway.responded(decision.response, status: 502, executor: executor)
                let local = LocalReply(status: 502, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Bad Gateway", reason: "upstream_request_invalid")
                return reply(local, exchange: exchange, actions: decision.response, product: decision.product)
            }
            if exchange.head.field("expect")?.lowercased() == "100-continue", !exchange.requestEnded {
                if writesBytes {
                    context?.writeAndFlush(NIOAny(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
                } else {
                    context?.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: exchange.head.version, status: .continue))), promise: nil)
                }
            }
            connect(exchange, fresh: false)
        }
    }

    // MARK: upstream

    private func connect(_ exchange: Exchange, fresh: Bool) {
        guard let plan = exchange.plan, let pool else { return }
        exchange.phase = .connecting
        // A kept-alive connection is taken at once (no callback to make, as for most requests).
        if !fresh, let lease = pool.takeIdle(plan.upstream, mutualTLS: plan.mutualTLS, proxy: plan.forwardProxy) { return attach(lease, exchange: exchange) }
        let timeout = TimeAmount.milliseconds(Int64(plan.connectTimeout * 1000))
        pool.acquire(plan.upstream, mutualTLS: plan.mutualTLS, proxy: plan.forwardProxy, connectTimeout: timeout, fresh: true) { result in
            switch result {
            case .success(let lease):
                guard self.exchange === exchange, exchange.phase == .connecting else {
                    pool.release(lease, url: plan.upstream, mutualTLS: plan.mutualTLS, proxy: plan.forwardProxy)
                    return
                }
                self.attach(lease, exchange: exchange)
            case .failure(let error):
                guard self.exchange === exchange else { return }
                self.upstreamFailed(error, exchange: exchange, connecting: true)
            }
        }
    }

    /// The request's head for the upstream, with its body's framing: a form body read whole and a declared length go
    /// as they are, a body of unknown length in chunks.
    private func prepareUpstreamHead(_ exchange: Exchange, plan: ProxyPlan) throws {
        var target = plan.path + (plan.query.map { "?" + $0 } ?? "")
        // Through a forward proxy, a plain-HTTP request names its origin (absolute form); HTTPS goes in a tunnel.
        let viaProxy = plan.forwardProxy.flatMap { plan.upstream.isTLS ? nil : $0 }
        if viaProxy != nil { target = "http://" + plan.upstream.hostHeader + target }
        let framing: UpstreamRequestHead.Framing
        if let form = exchange.formBody {
            framing = .length(Int64(form.readableBytes))
        } else if let length = exchange.declaredLength {
            framing = .length(length)
        } else if exchange.hasBody {
            framing = .chunked
        } else {
            framing = .none
        }
        exchange.upstreamChunked = if case .chunked = framing { true } else { false }
        var buffer = Self.takeSpare(&spareUpstreamHead, minimumCapacity: 512)
        try UpstreamRequestHead.make(method: exchange.head.method, target: target, host: plan.hostHeader,
                                     proxyAuthorization: viaProxy?.authorization, forwarded: exchange.request.headers,
                                     added: plan.addedHeaders, framing: framing, into: &buffer)
        exchange.upstreamHead = buffer
        if buffer.capacity <= Self.spareLimit { spareUpstreamHead = buffer }
    }

    private func attach(_ lease: UpstreamPool.Lease, exchange: Exchange) {
        guard let plan = exchange.plan else { return }
        exchange.lease = lease
        exchange.phase = .proxying
        lease.handler.delegate = self
        let handler = lease.handler
        handler.sendHead(exchange.upstreamHead, chunked: exchange.upstreamChunked, headOnly: exchange.head.isHEAD)
        if let form = exchange.formBody {
            handler.sendBody(form)
        } else {
            for part in exchange.pending { handler.sendBody(part) }
            setReading(true)
            exchange.pending = []
            exchange.pendingBytes = 0
        }
        if exchange.requestEnded {
            handler.sendEnd()
            exchange.requestSent = true
        }
        handler.flush()
        exchange.lastActivity = .now()
        exchange.readTimeout = .milliseconds(Int64(plan.readTimeout * 1000))
        armReadTimer(at: exchange.lastActivity + exchange.readTimeout)
    }

    /// Makes sure the connection's read timer fires no later than `deadline`.
    private func armReadTimer(at deadline: NIODeadline) {
        guard let context else { return }
        readTimer.arm(at: deadline, on: context.eventLoop) { self.readTimerFired() }
    }

    /// The read timeout counts from the last byte received from the upstream (nginx's `proxy_read_timeout`); an
    /// exchange that ended meanwhile leaves nothing to check, and the next one arms the timer again.
    private func readTimerFired() {
        readTimer.fired()
        guard let exchange, exchange.phase == .proxying else { return }
        let due = exchange.lastActivity + exchange.readTimeout
        if NIODeadline.now() < due { return armReadTimer(at: due) }
        exchange.lease?.handler.delegate = nil
        exchange.lease?.channel.close(promise: nil)
        exchange.lease = nil
        upstreamFailed(ChannelError.connectTimeout(exchange.readTimeout), exchange: exchange, connecting: false, timedOut: true)
    }

    func upstreamHead(_ head: HTTP1ResponseReader.Head) {
        guard let exchange, let context else { return }
        exchange.responseStarted = true
        exchange.upstreamStatus = head.status
        exchange.upstreamKeepAlive = head.keepAlive
        // The decision's fields are read where they are (the response actions are a large value, not copied here).
        let decision = exchange.decision
        if let limit = decision?.response.responseBodyLimit, let length = head.contentLength, length > limit {
            return refuseOversizedResponse(exchange)
        }
        let status = decision?.response.statusOverwrite[exchange.upstreamStatus] ?? exchange.upstreamStatus
        if draining || !exchange.keepAlive { exchange.keepAlive = false }
        // With no response policy to apply, the upstream's field lines go to the client as they came.
        if writesBytes, decision?.response.headerCommands.isEmpty != false, decision?.response.corsHeaders.isEmpty != false,
           decision?.response.extraHeaders.isEmpty != false {
            writeResponseHead(status: status, upstream: head, fields: nil, exchange: exchange, context: context)
            recorder.upstreamAnswered(status: exchange.upstreamStatus, since: exchange.started, product: decision?.product)
            return
        }
        let actions = decision?.response ?? ResponseActions()
        var fields: [(String, String)] = []
        for (name, value) in head.decodedFields() where !HopByHop.isNotReturned(name) { fields.append((name, value)) }
        if writesBytes {
            writeResponseHead(status: status, upstream: head, fields: Self.responseFields(fields, actions: actions, request: exchange.request),
                              exchange: exchange, context: context)
        } else {
            var responseHead = HTTPResponseHead(version: exchange.head.version, status: HTTPResponseStatus(statusCode: status),
                                                headers: Self.responseHeaders(fields, actions: actions, request: exchange.request))
            if !exchange.keepAlive { responseHead.headers.replaceOrAdd(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        }
        recorder.upstreamAnswered(status: exchange.upstreamStatus, since: exchange.started, product: exchange.decision?.product)
    }

    /// A proxied response's head as bytes: `fields`, or with nil the upstream's own field lines as they came, less
    /// the hop-by-hop ones. The body's framing is Portico's own (the upstream's `Content-Length` is kept when the
    /// body goes as it came; header policies cannot change how the body is delimited).
    private func writeResponseHead(status: Int, upstream: HTTP1ResponseReader.Head, fields: [(String, String)]?, exchange: Exchange,
                                   context: ChannelHandlerContext) {
        let version = exchange.head.version
        if exchange.head.isHEAD || status < 200 || status == 204 || status == 304 {
            exchange.clientBody = .none
        } else if upstream.contentLength != nil {
            exchange.clientBody = .asIs
        } else if version.major == 1, version.minor >= 1 {
            exchange.clientBody = .chunked
        } else {
            // An HTTP/1.0 client learns where a body of unknown length ends from the close.
            exchange.clientBody = .asIs
            exchange.keepAlive = false
        }
        var buffer = Self.takeSpare(&spareResponseHead, minimumCapacity: 256 + upstream.lines.readableBytes)
        HTTPResponseBytes.writeStatusLine(status: status, version: version, into: &buffer)
        if let fields {
            for (name, value) in fields where !HTTP1Syntax.sameFieldName(name, "content-length") {
                HTTPResponseBytes.writeField(name, value, into: &buffer)
            }
        } else {
            Self.writeFieldLines(of: upstream, into: &buffer)
        }
        if let length = upstream.contentLength, exchange.clientBody != .chunked, status != 204 {
            buffer.writeStaticString("Content-Length: ")
            HTTPResponseBytes.writeDecimal(Int(length), into: &buffer)
            buffer.writeStaticString("\r\n")
        }
        if exchange.clientBody == .chunked { buffer.writeStaticString("Transfer-Encoding: chunked\r\n") }
        HTTPResponseBytes.writeConnection(keepAlive: exchange.keepAlive, version: version, into: &buffer)
        buffer.writeStaticString("\r\n")
        exchange.heldHead = buffer
    }

    /// Body bytes read with the head that are copied into it rather than written on their own.
    static let joinedBodyLimit = 4096

    private func writeHeldHead(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let head = exchange.heldHead else { return }
        exchange.heldHead = nil
        context.write(NIOAny(head), promise: nil)
        if head.capacity <= Self.spareLimit { spareResponseHead = head }
    }

    /// An empty buffer: the spare one, cleared (in place when nothing else holds it any more), or a new one.
    private static func takeSpare(_ spare: inout ByteBuffer, minimumCapacity: Int) -> ByteBuffer {
        var buffer = spare
        spare = HTTP1Syntax.noBytes
        buffer.clear(minimumCapacity: minimumCapacity)
        return buffer
    }

    /// `payload_limits`: the upstream's answer is longer than allowed. Its connection is dropped (the body is
    /// not read) and the client gets 413; the request still counts as authorized and proxied.
    private func refuseOversizedResponse(_ exchange: Exchange) {
        if let lease = exchange.lease {
            exchange.lease = nil
            lease.handler.delegate = nil
            lease.channel.close(promise: nil)
        }
        exchange.responseStarted = false
        recorder.upstreamAnswered(status: exchange.upstreamStatus, since: exchange.started, product: exchange.decision?.product)
        if let actions = exchange.decision?.response { gateway.responded(actions, status: 413, executor: executor) }
        let local = LocalReply(status: 413, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Payload Too Large", reason: "payload_limits")
        reply(local, exchange: exchange, actions: exchange.decision?.response ?? ResponseActions(), product: exchange.decision?.product)
    }

    func upstreamBody(_ body: ByteBuffer) {
        guard let exchange, let context else { return }
        if exchange.head.isHEAD { return }
        guard writesBytes else { return context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        switch exchange.clientBody {
        case .none: return
        case .asIs:
            if exchange.heldHead != nil, body.readableBytes <= Self.joinedBodyLimit {
                exchange.heldHead!.writeImmutableBuffer(body)
                return
            }
            writeHeldHead(exchange, context: context)
            context.write(NIOAny(body), promise: nil)
        case .chunked:
            writeHeldHead(exchange, context: context)
            HTTP1Syntax.writeChunk(body, on: context)
        }
    }

    /// The end of a read from the upstream whose response is still under way (an ended one has left the connection).
    func upstreamReadComplete() {
        guard let context else { return }
        if let exchange {
            // The read timeout counts from here: once per read rather than once per part read.
            exchange.lastActivity = .now()
            writeHeldHead(exchange, context: context)
        }
        context.flush()
    }

    func upstreamWritabilityChanged(writable: Bool) {
        // The upstream takes the body slower than the client sends it: stop reading the client meanwhile.
        guard let exchange, exchange.phase == .proxying, !exchange.requestEnded else { return }
        setReading(writable)
    }

    func upstreamEnd() {
        guard let exchange, let context, let plan = exchange.plan else { return }
        if let lease = exchange.lease {
            exchange.lease = nil
            // A connection whose request was not sent to its end, or whose upstream said it closes, carries no other one.
            if exchange.requestSent, exchange.upstreamKeepAlive {
                pool?.release(lease, url: plan.upstream, mutualTLS: plan.mutualTLS, proxy: plan.forwardProxy)
            } else {
                lease.handler.delegate = nil
                lease.channel.close(promise: nil)
            }
        }
        writeHeldHead(exchange, context: context)
        if !writesBytes {
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
        } else if exchange.clientBody == .chunked {
            context.write(NIOAny(HTTP1Syntax.lastChunk), promise: nil)
        }
        context.flush()
        if let decision = exchange.decision { gateway.responded(decision.response, status: exchange.upstreamStatus, executor: executor) }
        record(exchange, status: exchange.decision?.response.statusOverwrite[exchange.upstreamStatus] ?? exchange.upstreamStatus, reason: "proxied")
        if exchange.requestEnded {
            complete(exchange)
        } else {
            // The upstream answered before reading the whole body; the rest is not worth reading.
            exchange.keepAlive = false
            complete(exchange)
        }
    }

    func upstreamFailed(_ error: any Error) {
        guard let exchange else { return }
        upstreamFailed(error, exchange: exchange, connecting: false)
    }

    private func upstreamFailed(_ error: any Error, exchange: Exchange, connecting: Bool, timedOut: Bool = false) {
        guard let plan = exchange.plan else { return }
        let lease = exchange.lease
        exchange.lease = nil
        if let lease {
            lease.handler.delegate = nil
            lease.channel.close(promise: nil)
        }
        if exchange.responseStarted {
            // Part of the response is with the client already: all that can be done is to cut it short.
            exchange.keepAlive = false
            record(exchange, status: exchange.upstreamStatus, reason: "upstream_cut")
            context?.close(promise: nil)
            return
        }
        let connectTimedOut: Bool
        if case ChannelError.connectTimeout = error, connecting { connectTimedOut = true } else { connectTimedOut = false }
        let timedOut = timedOut || connectTimedOut
        // A kept-alive connection the upstream had closed meanwhile: try once more on a new one.
        if let lease, lease.reused, exchange.replayable, !timedOut {
            exchange.requestSent = false
            return connect(exchange, fresh: true)
        }
        if exchange.attempt < plan.retries, exchange.replayable, !timedOut {
            exchange.attempt += 1
            exchange.requestSent = false
            return connect(exchange, fresh: true)
        }
        let status = timedOut ? 504 : 502
        gateway.logger.warning("gateway.upstream_failed", metadata: ["upstream": .string(plan.upstream.description), "error": .string("\(error)")])
        recorder.upstreamAnswered(status: status, since: exchange.started, product: exchange.decision?.product)
        if let actions = exchange.decision?.response { gateway.responded(actions, status: status, executor: executor) }
        let local = LocalReply(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: timedOut ? "Gateway Timeout" : "Bad Gateway",
                               reason: timedOut ? "upstream_timeout" : "upstream_error")
        reply(local, exchange: exchange, actions: exchange.decision?.response ?? ResponseActions(), product: exchange.decision?.product)
    }

    // MARK: response

    private func reply(_ local: LocalReply, exchange: Exchange, actions: ResponseActions, product: GatewayProduct?, logRequest: Bool = true) {
        guard let context else { return }
        exchange.phase = .replied
        let status = actions.statusOverwrite[local.status] ?? local.status
        let remaining = exchange.declaredLength.map { $0 - exchange.received } ?? (exchange.hasBody ? Int64.max : 0)
        if !exchange.requestEnded, remaining >= Self.discardLimit { exchange.keepAlive = false }
        if draining { exchange.keepAlive = false }
        let body = local.body.utf8
        let sendsBody = !exchange.head.isHEAD
        if writesBytes {
            // The whole reply in one buffer and one write.
            let fields = Self.responseFields(local.headers, actions: actions, request: logRequest ? exchange.request : nil)
                .filter { !HTTP1Syntax.sameFieldName($0.0, "content-length") }
            var buffer = context.channel.allocator.buffer(capacity: 160 + body.count + fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 })
            HTTPResponseBytes.write(status: status, version: exchange.head.version, headers: fields, body: sendsBody ? Array(body) : nil,
                                    contentLength: sendsBody ? body.count : 0, keepAlive: exchange.keepAlive, into: &buffer)
            context.writeAndFlush(NIOAny(buffer), promise: nil)
        } else {
            var head = HTTPResponseHead(version: exchange.head.version, status: HTTPResponseStatus(statusCode: status),
                                        headers: Self.responseHeaders(local.headers, actions: actions, request: logRequest ? exchange.request : nil))
            head.headers.replaceOrAdd(name: "Content-Length", value: String(sendsBody ? body.count : 0))
            if !exchange.keepAlive { head.headers.replaceOrAdd(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if !body.isEmpty, sendsBody {
                var buffer = context.channel.allocator.buffer(capacity: body.count)
                buffer.writeString(local.body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        record(exchange, status: status, reason: local.reason, product: product, logRequest: logRequest)
        if exchange.requestEnded || !exchange.keepAlive {
            complete(exchange)
        } else if readingPaused {
            setReading(true)
        }
    }

    /// The response ended: ready for the next request, or closed.
    private func complete(_ exchange: Exchange) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        if !exchange.keepAlive || draining {
            pipelined = []
            context?.close(promise: nil)
            return
        }
        // Requests pipelined behind this one, until one of them is still in progress.
        while self.exchange?.requestEnded != true, !pipelined.isEmpty, let context {
            handle(pipelined.removeFirst(), context: context)
        }
        if readingPaused, pipelined.count <= Self.pipelinedLimit { setReading(true) }
    }

    private func setReading(_ on: Bool) {
        guard let context, readingPaused == on else { return }
        readingPaused = !on
        context.channel.setOption(.autoRead, value: on).whenComplete { _ in }
        if on { context.read() }
    }

    private func record(_ exchange: Exchange, status: Int, reason: String, product: GatewayProduct? = nil, logRequest: Bool = true) {
        let product = product ?? exchange.decision?.product
        let accessLog = exchange.decision?.response.accessLog ?? gateway.settings.accessLog
        recorder.finished(status: status, reason: reason, product: product, request: logRequest ? exchange.request : nil, since: exchange.started,
                          accessLog: accessLog, format: exchange.decision?.response.accessLogFormat)
    }

    /// The field lines of an upstream response head read with `.lines`, as they came, except the hop-by-hop ones and
    /// `Content-Length` (the gateway frames the body itself). The reader checked every line already.
    static func writeFieldLines(of head: HTTP1ResponseReader.Head, into buffer: inout ByteBuffer) {
        head.forEachFieldLine { line, name in
            if HopByHop.isNotReturned(name) || HopByHop.isContentLength(name) { return }
            buffer.writeBytes(line)
            buffer.writeStaticString("\r\n")
        }
    }

    /// A response's header fields after the response policies: `headers` commands, CORS, and what other policies add.
    static func responseFields(_ base: [(String, String)], actions: ResponseActions, request: GatewayRequest?) -> [(String, String)] {
        var list = base
        if !actions.headerCommands.isEmpty {
            HeadersPolicy.apply(actions.headerCommands, to: &list, lookup: { request?.liquidValue($0, service: nil) })
        }
        if !actions.corsHeaders.isEmpty { list += actions.corsHeaders }
        if !actions.extraHeaders.isEmpty { list += actions.extraHeaders }
        return list
    }

    static func responseHeaders(_ base: [(String, String)], actions: ResponseActions, request: GatewayRequest?) -> HTTPHeaders {
        HTTPHeaders(responseFields(base, actions: actions, request: request))
    }

    // MARK: request target

    static func hostWithoutPort(_ authority: String) -> String {
        var authority = authority
        return authority.withUTF8 { bytes -> String in
            var end = bytes.count
            if bytes.first == UInt8(ascii: "["), let close = bytes.firstIndex(of: UInt8(ascii: "]")) {
                end = close + 1
            } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
                end = colon
            }
            let host = UnsafeBufferPointer(rebasing: bytes[..<end])
            // Most clients send the name in lower case already: no second string then.
            guard host.contains(where: { $0 >= 65 && $0 <= 90 }) else { return String(decoding: host, as: UTF8.self) }
            return String(decoding: host, as: UTF8.self).lowercased()
        }
    }

    /// Methods whose form body credentials and mapping rules read (a switch: an array literal here was an allocation per request).
    static func mayCarryForm(_ method: String) -> Bool {
        switch method {
        case "POST", "PUT", "PATCH": return true
        default: return false
        }
    }

    static func rawPath(_ target: String) -> String {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target.isEmpty ? "/" : target }
        return q == target.startIndex ? "/" : String(target[..<q])
    }

    static func rawQuery(_ target: String) -> String? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return String(target[target.utf8.index(after: q)...])
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and what the gateway sets itself. Names are compared without regard to
/// ASCII case and without building a lower-cased copy; the length picks the few candidates (every header of every
/// request and response goes through here).
enum HopByHop {
    /// Request headers the gateway does not pass on.
    static func isNotForwarded(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isNotForwarded(UnsafeRawBufferPointer($0)[...]) }
    }

    static func isNotForwarded(_ name: Slice<UnsafeRawBufferPointer>) -> Bool {
        switch name.count {
        case 2: return named(name, "te")
        case 4: return named(name, "host")
        case 6: return named(name, "expect")
        case 7: return named(name, "trailer") || named(name, "upgrade")
        case 9: return named(name, "x-real-ip")
        case 10: return named(name, "connection") || named(name, "keep-alive")
        case 14: return named(name, "content-length") || named(name, "x-3scale-debug")
        case 15: return named(name, "x-forwarded-for")
        case 16: return named(name, "proxy-connection") || named(name, "x-forwarded-host")
        case 17: return named(name, "transfer-encoding") || named(name, "x-forwarded-proto")
        case 18: return named(name, "proxy-authenticate")
        case 19: return named(name, "proxy-authorization")
        default: return false
        }
    }

    /// Upstream response headers the gateway does not pass on.
    static func isNotReturned(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isNotReturned(UnsafeRawBufferPointer($0)[...]) }
    }

    static func isNotReturned(_ name: Slice<UnsafeRawBufferPointer>) -> Bool {
        switch name.count {
        case 2: return named(name, "te")
        case 7: return named(name, "trailer") || named(name, "upgrade")
        case 10: return named(name, "connection") || named(name, "keep-alive")
        case 16: return named(name, "proxy-connection")
        case 17: return named(name, "transfer-encoding")
        default: return false
        }
    }

    static func isContentLength(_ name: Slice<UnsafeRawBufferPointer>) -> Bool { named(name, "content-length") }

    @inline(__always)
    private static func named(_ name: Slice<UnsafeRawBufferPointer>, _ lowercased: StaticString) -> Bool {
        HTTP1Syntax.equalsLowercased(name, lowercased)
    }
}
