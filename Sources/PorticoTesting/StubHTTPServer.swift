import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A real HTTP/1.1 server on a free loopback port, answering with a closure and recording what it received:
/// the upstream API and the fake Service Management API of gateway end-to-end tests.
public final class StubHTTPServer: Sendable {
    public struct Received: Sendable {
        public var method: String
        /// Path and query as sent.
        public var uri: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        public var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }
        /// Decoded query parameters.
        public var query: [String: String] {
            guard let q = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
            var out: [String: String] = [:]
            for pair in q.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                out[StubHTTPServer.decode(kv[0])] = kv.count > 1 ? StubHTTPServer.decode(kv[1]) : ""
            }
            return out
        }
    }

    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// Answer this many milliseconds later (without holding the server's event loop): a slow upstream.
        public var delayMilliseconds: Int64
        public init(status: Int, headers: [(String, String)] = [], body: String = "", delayMilliseconds: Int64 = 0) {
            self.status = status
            self.headers = headers
            self.body = Array(body.utf8)
            self.delayMilliseconds = delayMilliseconds
        }
    }

    public typealias Handler = @Sendable (Received) -> Reply

    private let channel: any Channel
    public let port: Int

    /// Serves HTTPS with this certificate and key (PEM files); with `clientCA`, only clients presenting a
    /// certificate signed by that CA get an answer (an upstream that wants mutual TLS).
    public struct TLS: Sendable {
        public var certificate: String
        public var key: String
        public var clientCA: String?
        public init(certificate: String, key: String, clientCA: String? = nil) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }

    public init(tls: TLS? = nil, handler: @escaping Handler) throws {
        let recorder = Recorder(handler: handler)
        var sslContext: NIOSSLContext?
        if let tls {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem)))
            if let ca = tls.clientCA {
                configuration.certificateVerification = .noHostnameVerification
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            sslContext = try NIOSSLContext(configuration: configuration)
        }
        let context = sslContext
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                recorder.connections.withLock { $0 += 1 }
                if let context {
                    do { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                return channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(StubHandler(respond: { request in
                        recorder.append(request)
                        return recorder.handler.withLock { $0 }(request)
                    }))
                }
            }
        channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        recorderBox = recorder
    }

    private let recorderBox: Recorder

    final class Recorder: Sendable {
        let items = Mutex<[Received]>([])
        let connections = Mutex(0)
        let handler: Mutex<Handler>
        init(handler: @escaping Handler) { self.handler = Mutex(handler) }
        func append(_ r: Received) { items.withLock { $0.append(r) } }
    }

    public var requests: [Received] { recorderBox.items.withLock { $0 } }
    /// Connections accepted so far.
    public var connectionCount: Int { recorderBox.connections.withLock { $0 } }
    public func clearRequests() { recorderBox.items.withLock { $0.removeAll() } }
    public func setHandler(_ handler: @escaping Handler) { recorderBox.handler.withLock { $0 = handler } }
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The address for a client that checks the certificate's name (`localhost` in `TestCertificates`).
    public var httpsURL: String { "https://localhost:\(port)" }

    public func stop() { try? channel.close().wait() }

    static func decode<S: StringProtocol>(_ s: S) -> String {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "+") { out.append(UInt8(ascii: " ")); continue }
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
                continue
            }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private final class StubHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let respond: @Sendable (StubHTTPServer.Received) -> StubHTTPServer.Reply
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    /// A reply said `Connection: close`: requests pipelined behind it are not processed (RFC 9112 §9.6).
    var closing = false

    init(respond: @escaping @Sendable (StubHTTPServer.Received) -> StubHTTPServer.Reply) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let reply = respond(.init(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body))
            self.head = nil
            guard reply.delayMilliseconds > 0 else { return write(reply, for: head, context: context) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(reply.delayMilliseconds)) {
                bound.value.0.write(reply, for: head, context: bound.value.1)
            }
        }
    }

    private func write(_ reply: StubHTTPServer.Reply, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(reply.headers)
        // A reply that names its transfer coding is sent in chunks (NIO's encoder frames it), anything else with a length.
        if !headers.contains(name: "content-length"), !headers.contains(name: "transfer-encoding") {
            headers.add(name: "Content-Length", value: String(reply.body.count))
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: reply.status), headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: reply.body)))), promise: nil) }
        let closes = headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
        if closes { closing = true }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        // A reply that says `Connection: close` ends its connection, as a real server's would.
        if closes { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
