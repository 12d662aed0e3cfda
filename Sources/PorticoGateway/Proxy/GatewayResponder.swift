import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// One gateway listener (staging or production) over Hummingbird: turns the HTTP request into a
/// `GatewayRequest`, runs the pipeline, and either writes the local reply or streams the request to the
/// upstream and the upstream's response back, without buffering bodies.
public struct GatewayResponder: HTTPResponder {
    public typealias Context = GatewayRequestContext
    let gateway: Gateway
    let httpClient: HTTPClient
    let logger: Logger

    public init(gateway: Gateway, httpClient: HTTPClient, logger: Logger) {
        self.gateway = gateway
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Hop-by-hop headers (RFC 9110 §7.6.1) and what the gateway sets itself.
    static let notForwarded: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade", "host", "content-length", "x-3scale-debug", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
    ]
    static let notReturned: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]

    public func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        var request = request
        if request.uri.path == "/_threescale/healthz" { return Response(status: .ok) }

        // Limits on the request head and body, with clean 4xx answers.
        var headBytes = (request.head.path?.utf8.count ?? 0) + 16
        var connectionTokens: Set<String> = []
        var forward: [(String, String)] = []
        for field in request.headers {
            headBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4
            let lowered = field.name.canonicalName
            if lowered == "connection" { for t in field.value.split(separator: ",") { connectionTokens.insert(t.trimmingSpaces.lowercased()) } }
        }
        for field in request.headers where !Self.notForwarded.contains(field.name.canonicalName) && !connectionTokens.contains(field.name.canonicalName) {
            forward.append((field.name.rawName, field.value))
        }
        if headBytes > gateway.settings.maximumHeaderBytes {
            return finish(LocalReply(status: 431, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Request Header Fields Too Large", reason: "header_too_large"),
                          actions: ResponseActions(), product: nil, request: nil, started: started)
        }
        let declaredLength = request.headers[.contentLength].flatMap { Int64($0) }
        let limit = gateway.settings.maximumBodyBytes
        if limit > 0, let declaredLength, declaredLength > limit {
            return finish(LocalReply(status: 413, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Request Entity Too Large", reason: "body_too_large"),
                          actions: ResponseActions(), product: nil, request: nil, started: started)
        }

        let authority = request.head.authority ?? ""
        var gatewayRequest = GatewayRequest(method: request.method.rawValue, host: Self.hostWithoutPort(authority), path: Self.rawPath(request.head.path),
                                            rawQuery: Self.rawQuery(request.head.path), headers: request.headers.map { ($0.name.rawName, $0.value) },
                                            remoteAddress: context.remoteAddress?.ipAddress, remotePort: context.remoteAddress?.port)
        // Policies and credentials see every header; only these are forwarded.
        gatewayRequest.headers = forward
        // Form bodies within the client body buffer take part in credentials and mapping rules (as in nginx).
        var buffered: ByteBuffer?
        if ["POST", "PUT", "PATCH"].contains(gatewayRequest.method),
           request.headers[.contentType]?.lowercased().contains("application/x-www-form-urlencoded") == true,
           let declaredLength, declaredLength <= gateway.settings.clientBodyBufferBytes {
            let body = try await request.collectBody(upTo: gateway.settings.clientBodyBufferBytes)
            gatewayRequest.form = RequestArguments(encoded: body.readableBytesView)
            buffered = body
        }

        let decision = await gateway.decide(&gatewayRequest)
        switch decision.action {
        case .reply(let reply):
            if let deferred = decision.response.deferredAuthrep { gateway.deferred.enqueue(deferred, upstreamStatus: reply.status) }
            return finish(reply, actions: decision.response, product: decision.product, request: gatewayRequest, started: started)
        case .proxy(let plan):
            return await proxy(plan, request: request, buffered: buffered, declaredLength: declaredLength, gatewayRequest: gatewayRequest,
                               decision: decision, started: started)
        }
    }

    func proxy(_ plan: ProxyPlan, request: Request, buffered: ByteBuffer?, declaredLength: Int64?, gatewayRequest: GatewayRequest,
               decision: GatewayDecision, started: ContinuousClock.Instant) async -> Response {
        var outgoing = HTTPClientRequest(url: "\(plan.upstream.scheme == "wss" ? "https" : plan.upstream.scheme == "ws" ? "http" : plan.upstream.scheme)://"
                                         + "\(plan.upstream.host.contains(":") ? "[\(plan.upstream.host)]" : plan.upstream.host):\(plan.upstream.port)"
                                         + plan.path + (plan.query.map { "?" + $0 } ?? ""))
        outgoing.method = HTTPMethod(rawValue: gatewayRequest.method)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: plan.hostHeader)
        for (name, value) in gatewayRequest.headers { headers.add(name: name, value: value) }
        for (name, value) in plan.addedHeaders { headers.replaceOrAdd(name: name, value: value) }
        outgoing.headers = headers
        let replayable: Bool
        if let buffered {
            outgoing.body = .bytes(buffered)
            replayable = true
        } else if declaredLength == 0 || (declaredLength == nil && request.headers[.transferEncoding] == nil) {
            replayable = true
        } else {
            outgoing.body = .stream(request.body, length: declaredLength.map { .known($0) } ?? .unknown)
            replayable = false
        }

        let upstreamStarted = ContinuousClock.now
        var attempt = 0
        while true {
            do {
                let response = try await httpClient.execute(outgoing, deadline: .now() + .milliseconds(Int64(plan.readTimeout * 1000)), logger: nil)
                let status = decision.response.statusOverwrite[Int(response.status.code)] ?? Int(response.status.code)
                Timer(label: "upstream_response_time_seconds").recordInterval(since: upstreamStarted)
                Counter(label: "upstream_status", dimensions: [("status", String(response.status.code))]).increment()
                if let deferred = decision.response.deferredAuthrep { gateway.deferred.enqueue(deferred, upstreamStatus: Int(response.status.code)) }
                var fields: [(String, String)] = []
                for header in response.headers where !Self.notReturned.contains(header.name.lowercased()) { fields.append((header.name, header.value)) }
                var body = ResponseBody(asyncSequence: response.body)
                if gatewayRequest.method == "HEAD" { body = ResponseBody() }
                return finishProxied(status: status, upstreamHeaders: fields, body: body, actions: decision.response, product: decision.product,
                                     request: gatewayRequest, started: started)
            } catch {
                let timedOut = (error as? HTTPClientError) == .deadlineExceeded || (error as? HTTPClientError) == .readTimeout
                    || (error as? HTTPClientError) == .connectTimeout
                if attempt < plan.retries, replayable, !timedOut {
                    attempt += 1
                    continue
                }
                let status = timedOut ? 504 : 502
                logger.warning("gateway.upstream_failed", metadata: ["upstream": .string(plan.upstream.description), "error": .string("\(error)")])
                Counter(label: "upstream_status", dimensions: [("status", String(status))]).increment()
                if let deferred = decision.response.deferredAuthrep { gateway.deferred.enqueue(deferred, upstreamStatus: status) }
                let reply = LocalReply(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                       body: timedOut ? "Gateway Timeout" : "Bad Gateway", reason: timedOut ? "upstream_timeout" : "upstream_error")
                return finish(reply, actions: decision.response, product: decision.product, request: gatewayRequest, started: started)
            }
        }
    }

    // MARK: response

    func responseHeaders(_ base: [(String, String)], actions: ResponseActions, request: GatewayRequest?) -> HTTPFields {
        var list = base
        if !actions.headerCommands.isEmpty {
            HeadersPolicy.apply(actions.headerCommands, to: &list, lookup: { request?.liquidValue($0, service: nil) })
        }
        list += actions.corsHeaders
        list += actions.extraHeaders
        var fields = HTTPFields()
        for (name, value) in list {
            if let n = HTTPFields.Element.Name(name) { fields.append(HTTPFields.Element(name: n, value: value)) }
        }
        return fields
    }

    func finish(_ reply: LocalReply, actions: ResponseActions, product: GatewayProduct?, request: GatewayRequest?, started: ContinuousClock.Instant) -> Response {
        let status = actions.statusOverwrite[reply.status] ?? reply.status
        let body = reply.body.isEmpty ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: reply.body))
        record(status: status, reason: reply.reason, product: product, request: request, started: started, accessLog: actions.accessLog)
        return Response(status: .init(code: status), headers: responseHeaders(reply.headers, actions: actions, request: request), body: body)
    }

    func finishProxied(status: Int, upstreamHeaders: [(String, String)], body: ResponseBody, actions: ResponseActions, product: GatewayProduct?,
                       request: GatewayRequest, started: ContinuousClock.Instant) -> Response {
        record(status: status, reason: "proxied", product: product, request: request, started: started, accessLog: actions.accessLog)
        return Response(status: .init(code: status), headers: responseHeaders(upstreamHeaders, actions: actions, request: request), body: body)
    }

    func record(status: Int, reason: String, product: GatewayProduct?, request: GatewayRequest?, started: ContinuousClock.Instant, accessLog: Bool) {
        Counter(label: "apicast_status", dimensions: [("status", String(status))]).increment()
        Timer(label: "total_response_time_seconds").recordInterval(since: started)
        guard accessLog, let request else { return }
        logger.info("gateway.access", metadata: [
            "http.method": .string(request.method), "http.host": .string(request.host), "http.path": .string(request.path),
            "http.query": .string(AccessLogRedaction.redacted(request.forwardedQuery, product: product)), "http.status": .stringConvertible(status),
            "gateway.reason": .string(reason), "service.id": .string(product?.id ?? ""),
            "client.address": .string(request.remoteAddress ?? ""),
            "duration_ms": .stringConvertible(Timer.nanoseconds(since: started) / 1_000_000),
        ])
    }

    // MARK: request target

    static func hostWithoutPort(_ authority: String) -> String {
        var host = Substring(authority)
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") { return String(host[...close]).lowercased() }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        return host.lowercased()
    }

    static func rawPath(_ target: String?) -> String {
        guard let target else { return "/" }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        return path.isEmpty ? "/" : path
    }

    static func rawQuery(_ target: String?) -> String? {
        guard let target, let q = target.firstIndex(of: "?") else { return nil }
        return String(target[target.index(after: q)...])
    }
}

/// Credentials never reach the access log: their values are replaced.
enum AccessLogRedaction {
    static let alwaysSecret: Set<String> = ["user_key", "app_key", "access_token", "provider_key", "service_token", "client_secret"]

    static func redacted(_ query: String?, product: GatewayProduct?) -> String {
        guard let query, !query.isEmpty else { return "" }
        var secret = alwaysSecret
        switch product?.credentials.mode {
        case .userKey(let name)?: secret.insert(name)
        case .appID(_, let keyName)?: secret.insert(keyName)
        default: break
        }
        return query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let name = pair.split(separator: "=", maxSplits: 1).first.map { RequestArguments.decode($0.utf8).lowercased() } ?? ""
            return secret.contains(name) ? "\(pair.split(separator: "=", maxSplits: 1).first ?? "")=[REDACTED]" : String(pair)
        }.joined(separator: "&")
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) { recordNanoseconds(Self.nanoseconds(since: start)) }

    static func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }
}
