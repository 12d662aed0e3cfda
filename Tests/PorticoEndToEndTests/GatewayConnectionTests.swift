import Foundation
import PorticoTesting
import Testing

/// How the gateway's own HTTP server treats connections: pipelined requests, upstream connections that are
/// kept alive or closed, and 100 Continue, against the real binary.
@Suite struct GatewayConnectionTests {
    typealias H = GatewayHarness

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let h = try H(services: [H.service(id: 1)])
        defer { h.stop() }
        try await h.waitReady()
        let requests = (1...3).map { i in
            "GET /item/\(i)?user_key=k HTTP/1.1\r\nHost: localhost\r\n\(i == 3 ? "Connection: close\r\n" : "")\r\n"
        }.joined()
        let answer = try HTTP.raw(port: h.gatewayPort, requests)
        #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
        let first = try #require(answer.range(of: "GET /item/1?user_key=k"))
        let second = try #require(answer.range(of: "GET /item/2?user_key=k"))
        let third = try #require(answer.range(of: "GET /item/3?user_key=k"))
        #expect(first.lowerBound < second.lowerBound && second.lowerBound < third.lowerBound)
    }

    @Test func anUpstreamThatClosesItsConnectionsIsNotReusedForBodies() async throws {
        // Every answer closes its connection: a request body that cannot be sent twice must never meet a
        // connection the upstream already closed.
        let h = try H(services: [H.service(id: 1, rules: [H.rule("POST", "/")])],
                      upstream: { r in .init(status: 200, headers: [("Connection", "close")], body: "got \(r.body.count)") })
        defer { h.stop() }
        try await h.waitReady()
        for i in 1...5 {
            let body = String(repeating: "b", count: 1000 * i)
            let r = try h.call("/?user_key=k", method: "POST", headers: [("Content-Type", "application/octet-stream")], body: body)
            #expect(r.status == 200 && r.body == "got \(body.utf8.count)")
        }
        #expect(h.upstream.requests.count == 5)
    }

    @Test func keptAliveUpstreamConnectionsAreReused() async throws {
        let h = try H(services: [H.service(id: 1)])
        defer { h.stop() }
        try await h.waitReady()
        // Upstream connections are pooled per event loop, and the gateway runs one loop per processor: each
        // client connection (one per curl call) lands on some loop, whose pool then has a connection to reuse.
        let loops = ProcessInfo.processInfo.activeProcessorCount
        for _ in 1...(3 * loops) { #expect(try h.call("/?user_key=k").status == 200) }
        #expect(h.upstream.requests.count == 3 * loops)
        #expect(h.upstream.connectionCount <= loops)
        #expect(h.backend.connectionCount <= loops)  // the authreps too
    }

    @Test func aClientExpecting100ContinueGetsItOnceTheRequestIsAuthorized() async throws {
        let h = try H(services: [H.service(id: 1, rules: [H.rule("POST", "/")])],
                      upstream: { r in .init(status: 201, body: "got \(r.body.count)") })
        defer { h.stop() }
        try await h.waitReady()
        let body = String(repeating: "c", count: 200_000)  // curl announces bodies this large with Expect: 100-continue
        let accepted = try h.call("/?user_key=k", method: "POST", headers: [("Content-Type", "application/octet-stream")], body: body)
        #expect(accepted.status == 201 && accepted.body == "got \(body.utf8.count)")
        let refused = try h.call("/", method: "POST", headers: [("Content-Type", "application/octet-stream")], body: body)
        #expect(refused.status == 401)  // no credentials: answered without reading the body
    }

    /// The upstream connection speaks HTTP/1.1 as bytes: a chunked answer, a chunked request body and the answer to
    /// a HEAD (a length, no body) each reach the other side whole, and the connections carry the next request.
    @Test func chunkedBodiesAndHEADAnswersCrossTheGatewayIntact() async throws {
        let h = try H(services: [H.service(id: 1, rules: [H.rule("GET", "/"), H.rule("POST", "/"), H.rule("HEAD", "/")])],
                      upstream: { r in
                          if r.method == "POST" { return .init(status: 200, body: "got \(r.body.count): \(String(decoding: r.body, as: UTF8.self))") }
                          if r.path == "/chunked" { return .init(status: 200, headers: [("Transfer-Encoding", "chunked")], body: "a chunked answer") }
                          return .init(status: 200, headers: [("Content-Length", "1000")], body: r.method == "HEAD" ? "" : String(repeating: "x", count: 1000))
                      })
        defer { h.stop() }
        try await h.waitReady()
        let chunked = try h.call("/chunked?user_key=k")
        #expect(chunked.status == 200 && chunked.body == "a chunked answer")
        let answers = try HTTP.raw(port: h.gatewayPort,
                                   "POST /upload?user_key=k HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                                   + "HEAD /head?user_key=k HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                   + "GET /after?user_key=k HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(answers.contains("got 11: hello world"))
        // The HEAD's answer announces 1000 bytes and carries none; the GET after it gets its 1000.
        #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
        #expect(answers.components(separatedBy: "content-length: 1000").count + answers.components(separatedBy: "Content-Length: 1000").count - 2 == 2)
        #expect(answers.hasSuffix(String(repeating: "x", count: 1000)))
        #expect(h.upstream.requests.map(\.method) == ["GET", "POST", "HEAD", "GET"])
    }

    /// An upstream's response fields reach the client as they came (repeated ones too), less the hop-by-hop ones;
    /// with a response policy they are rewritten first.
    @Test func upstreamResponseFieldsPassOnLessHopByHop() async throws {
        let headers: [String: Any] = ["name": "headers", "configuration": ["response": [["op": "set", "header": "X-Policy", "value": "on"]]]]
        let upstream: StubHTTPServer.Handler = { _ in
            .init(status: 200, headers: [("X-Upstream", "a  b"), ("Set-Cookie", "one=1"), ("Set-Cookie", "two=2"), ("Keep-Alive", "timeout=5"),
                                         ("Upgrade", "h2c")], body: "ok")
        }
        let h = try H(services: [H.service(id: 1), H.service(id: 2, proxy: ["hosts": ["policy.test"]], chain: [headers, ["name": "apicast", "configuration": [:]]])],
                      upstream: upstream)
        defer { h.stop() }
        try await h.waitReady()
        for host in ["localhost", "policy.test"] {
            let answer = try HTTP.raw(port: h.gatewayPort, "GET /?user_key=k HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("\r\n\r\nok"), "\(host): \(answer)")
            #expect(answer.contains("\r\nX-Upstream: a  b\r\n") && answer.contains("\r\nSet-Cookie: one=1\r\n") && answer.contains("\r\nSet-Cookie: two=2\r\n"),
                    "\(host): \(answer)")
            #expect(!answer.lowercased().contains("keep-alive: timeout") && !answer.lowercased().contains("upgrade:"), "\(host): \(answer)")
            #expect(answer.components(separatedBy: "Content-Length: 2").count == 2, "one length: \(answer)")
            #expect(answer.contains("X-Policy: on") == (host == "policy.test"))
        }
    }

    /// The gateway reads its clients' HTTP/1 bytes itself: a request whose end is ambiguous (Content-Length with
    /// Transfer-Encoding, the classic smuggling shape) or that is not HTTP/1.x gets 400 and the connection closes,
    /// and nothing reaches the upstream; a request answered before it is not affected.
    @Test func ambiguousAndMalformedRequestsAre400AndCloseTheConnection() async throws {
        let h = try H(services: [H.service(id: 1, rules: [H.rule("GET", "/"), H.rule("POST", "/")])])
        defer { h.stop() }
        try await h.waitReady()
        let smuggled = try HTTP.raw(port: h.gatewayPort,
                                    "GET /first?user_key=k HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                    + "POST /?user_key=k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    + "0\r\n\r\nGET /smuggled?user_key=k HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(smuggled.hasPrefix("HTTP/1.1 200 OK"))
        #expect(smuggled.contains("HTTP/1.1 400 Bad Request"))
        #expect(smuggled.contains("Connection: close"))
        #expect(h.upstream.requests.map(\.path) == ["/first"])
        let garbage = try HTTP.raw(port: h.gatewayPort, "HELLO THERE\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400 Bad Request"))
    }

    /// Header values that would break the wire never reach it: a request header a policy sets with a CR/LF is a 502
    /// (nothing is sent to the upstream), a response header with one is left out; and an HTTP/1.0 client gets a
    /// body of unknown length delimited by the close rather than in chunks it could not read.
    @Test func valuesThatWouldBreakTheWireAreKeptOffIt() async throws {
        func headers(_ phase: String, _ name: String) -> [String: Any] {
            ["name": "headers", "configuration": [phase: [["op": "set", "header": name, "value": "a\r\nX-Injected: 1", "value_type": "plain"]]]]
        }
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        var requestSide = H.service(id: 1, chain: [headers("request", "X-Bad"), apicast])
        var responseSide = H.service(id: 2, chain: [headers("response", "X-Bad"), apicast])
        var p1 = requestSide["proxy"] as? [String: Any] ?? [:], p2 = responseSide["proxy"] as? [String: Any] ?? [:]
        p1["hosts"] = ["request.test"]
        p2["hosts"] = ["response.test"]
        requestSide["proxy"] = p1
        responseSide["proxy"] = p2
        let h = try H(services: [requestSide, responseSide], upstream: { r in
            .init(status: 200, headers: [("Transfer-Encoding", "chunked")], body: "streamed to \(r.path)")
        })
        defer { h.stop() }
        try await h.waitReady()
        let refused = try h.call("/?user_key=k", host: "request.test")
        #expect(refused.status == 502)
        #expect(h.upstream.requests.isEmpty)
        let answer = try HTTP.raw(port: h.gatewayPort, "GET /old?user_key=k HTTP/1.0\r\nHost: response.test\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.0 200 OK"))
        #expect(!answer.contains("X-Injected") && !answer.contains("X-Bad"))
        #expect(!answer.lowercased().contains("transfer-encoding"))
        #expect(answer.hasSuffix("\r\n\r\nstreamed to /old"))
    }
}
