import Foundation
import PorticoTesting
import Testing

/// The acceptance cases of reference/gateway.md §9.2 against the real binary running as a lone gateway,
/// with a fake Service Management API and an upstream on loopback. Case numbers are §9.2's.
@Suite(.serialized) struct GatewayProcessTests {
    typealias H = GatewayHarness

    static let limitsExceeded: StubHTTPServer.Handler = { _ in
        .init(status: 409, headers: [("3scale-rejection-reason", "limits_exceeded"), ("3scale-limit-reset", "60"), ("3scale-limit-max-value", "5")])
    }

    @Test func case1_2_3_missingCredentialsAndNoMatch() async throws {
        let custom: [String: Any] = ["hosts": ["custom.test"], "error_auth_missing": "who are you", "error_status_auth_missing": 418,
                                     "error_headers_auth_missing": "text/x-custom", "error_no_match": "nothing here", "error_status_no_match": 412]
        let h = try H(services: [H.service(id: 1, rules: [H.rule("GET", "/v1")]), H.service(id: 2, version: "2", proxy: custom, rules: [H.rule("GET", "/v1")])])
        defer { h.stop() }
        try await h.waitReady()
        // 1: no credentials, defaults then custom body/status/content type.
        let missing = try h.call("/v1")
        #expect(missing.status == 401)
        #expect(missing.body == "Authentication parameters missing")
        #expect(missing.header("content-type") == "text/plain; charset=utf-8")
        let custom1 = try h.call("/v1", host: "custom.test")
        #expect(custom1.status == 418 && custom1.body == "who are you" && custom1.header("content-type") == "text/x-custom")
        // 2: app_key alone is incomplete for version 2.
        #expect(try h.call("/v1?app_key=k", host: "custom.test").status == 418)
        // 3: credentials are checked before rules; with credentials and no match, the no-match error and no metering call.
        #expect(try h.call("/nope").status == 401)
        let noMatch = try h.call("/nope?app_id=a&app_key=k", host: "custom.test")
        #expect(noMatch.status == 412 && noMatch.body == "nothing here")
        let defaultNoMatch = try h.call("/nope?user_key=k")
        #expect(defaultNoMatch.status == 404 && defaultNoMatch.body == "No Mapping Rule matched")
        #expect(h.backend.requests.isEmpty)
    }

    @Test func case4_5_6_denials() async throws {
        let custom: [String: Any] = ["hosts": ["custom.test"], "error_limits_exceeded": "pay up", "error_status_limits_exceeded": 402,
                                     "error_auth_failed": "nope", "error_status_auth_failed": 401]
        let h = try H(services: [H.service(id: 1), H.service(id: 2, proxy: custom)], backend: Self.limitsExceeded)
        defer { h.stop() }
        try await h.waitReady()
        // 4: limits exceeded → 429 with Retry-After; custom status and body honoured.
        let limited = try h.call("/?user_key=k")
        #expect(limited.status == 429 && limited.body == "Limits exceeded" && limited.header("retry-after") == "60")
        let custom429 = try h.call("/?user_key=k", host: "custom.test")
        #expect(custom429.status == 402 && custom429.body == "pay up")
        // 5: limits_exceeded on a disabled metric (max value 0) is auth-failed.
        h.backend.setHandler { _ in .init(status: 409, headers: [("3scale-rejection-reason", "limits_exceeded"), ("3scale-limit-max-value", "0")]) }
        let disabled = try h.call("/?user_key=k2")
        #expect(disabled.status == 403 && disabled.body == "Authentication failed")
        // 6: a bad key → 403; custom status/body.
        h.backend.setHandler { _ in .init(status: 403, headers: [("3scale-rejection-reason", "user_key_invalid")]) }
        #expect(try h.call("/?user_key=bad").status == 403)
        let customDenied = try h.call("/?user_key=bad", host: "custom.test")
        #expect(customDenied.status == 401 && customDenied.body == "nope")
    }

    @Test func case7_exactAuthrepCall() async throws {
        let h = try H(services: [H.service(id: 42, rules: [H.rule("GET", "/", delta: 2)])])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=value").status == 200)
        let call = try #require(h.backend.requests.first)
        #expect(call.path == "/transactions/authrep.xml")
        #expect(call.query == ["service_token": "token-42", "service_id": "42", "usage[hits]": "2", "user_key": "value"])
        #expect(call.header("3scale-options") == "rejection_reason_header=1&limit_headers=1&no_body=1")
        #expect(call.header("host") == "backend.test")
        #expect(call.header("user-agent")?.hasPrefix("APIcast/") == true)
    }

    @Test func rateLimitHeadersPolicy() async throws {
        let chain: [[String: Any]] = [["name": "rate_limit_headers", "configuration": [:]], ["name": "apicast", "configuration": [:]]]
        let h = try H(services: [H.service(id: 1, chain: chain)], backend: { _ in
            .init(status: 200, headers: [("3scale-limit-max-value", "10"), ("3scale-limit-remaining", "9"), ("3scale-limit-reset", "60")])
        })
        defer { h.stop() }
        try await h.waitReady()
        let r = try h.call("/?user_key=k")
        #expect(r.header("ratelimit-limit") == "10" && r.header("ratelimit-remaining") == "9" && r.header("ratelimit-reset") == "60")
        #expect(try h.call("/?user_key=k").header("ratelimit-limit") == "10")  // from the cache
    }

    @Test func edgeLimiting() async throws {
        let limited: [String: Any] = ["name": "rate_limit", "configuration": [
            "fixed_window_limiters": [["key": ["name": "{{ remote_addr }}", "name_type": "liquid", "scope": "service"], "count": 2, "window": 60]],
            "limits_exceeded_error": ["status_code": 503]]]
        let redis: [String: Any] = ["name": "rate_limit", "configuration": ["redis_url": "redis://127.0.0.1:1", "fixed_window_limiters": [
            ["key": ["name": "all"], "count": 5, "window": 60]]]]
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        let h = try H(services: [H.service(id: 1, chain: [limited, apicast]), H.service(id: 2, proxy: ["hosts": ["shared.test"]], chain: [redis, apicast])])
        defer { h.stop() }
        try await h.waitReady()
        try await H.awayFromWindowStart()
        #expect(try h.call("/?user_key=k").status == 200)
        #expect(try h.call("/?user_key=k").status == 200)
        let third = try h.call("/?user_key=k")
        #expect(third.status == 503 && third.body == "Limits exceeded")
        _ = try await h.meteringCalls(atLeast: 2)
        try await Task.sleep(for: .milliseconds(200))
        #expect(h.backend.requests.count == 2)  // one synchronous and one deferred authrep; the limited request never reached metering
        // Shared limits whose Redis does not answer: configuration_error (500 by default), never unlimited.
        let unavailable = try h.call("/?user_key=k", host: "shared.test")
        #expect(unavailable.status == 500 && unavailable.body == "Configuration error")
    }

    /// `redis_url`: two gateways count against the same limits in a real redis-server.
    @Test(.enabled(if: RedisServerProcess.isAvailable)) func edgeLimitsSharedThroughRedis() async throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let limited: [String: Any] = ["name": "rate_limit", "configuration": ["redis_url": redis.url,
            "fixed_window_limiters": [["key": ["name": "everyone", "scope": "global"], "count": 3, "window": 60]],
            "leaky_bucket_limiters": [["key": ["name": "{{ headers.X-Client }}", "name_type": "liquid"], "rate": 1000, "burst": 10]]]]
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        let first = try H(services: [H.service(id: 1, chain: [limited, apicast])])
        defer { first.stop() }
        let second = try H(services: [H.service(id: 1, chain: [limited, apicast])])
        defer { second.stop() }
        try await first.waitReady()
        try await second.waitReady()
        try await H.awayFromWindowStart()
        let statuses = try [first, second, first, second].map { try $0.call("/?user_key=k", headers: [("X-Client", "c1")]).status }
        #expect(statuses == [200, 200, 200, 429], "the third request over both gateways used the shared window")
    }

    /// Waits until the upstream received `count` requests for `path` (a slow request is in progress).
    static func upstreamReceived(_ h: H, path: String, count: Int) async throws {
        for _ in 0..<500 where h.upstream.requests.filter({ $0.path == path }).count < count { try await Task.sleep(for: .milliseconds(10)) }
        #expect(h.upstream.requests.filter { $0.path == path }.count >= count)
    }

    /// An upstream that answers `/slow` only after a minute (the client gives up long before: its request holds a
    /// connection slot meanwhile), `/medium` after a fifth of a second, anything else at once.
    static let slowUpstream: StubHTTPServer.Handler = { r in
        .init(status: 200, body: r.path, delayMilliseconds: r.path == "/slow" ? 60_000 : r.path == "/medium" ? 200 : 0)
    }

    /// Runs a blocking call on a thread of its own. In a detached task it held one of Swift's cooperative threads
    /// (two on a 2-core machine) for its whole six seconds; with other suites' blocking calls on the other one,
    /// the test could not go on until the held request had ended, and saw no refusal.
    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in Thread { continuation.resume(returning: body()) }.start() }
    }

    /// Calls `path` until it answers 200 (a slot given back asynchronously), at most about three seconds.
    static func eventuallyOK(_ h: H, _ path: String) async throws -> Int {
        var status = try h.call(path).status
        for _ in 0..<60 where status != 200 {
            try await Task.sleep(for: .milliseconds(50))
            status = try h.call(path).status
        }
        return status
    }

    /// `connection_limiters`: a request in progress holds its slot until its response ended or its client went
    /// away, on one gateway and, with `redis_url`, across gateways. (The held request's client gives up after
    /// six seconds, which is how long the test has to see the refusal, however slow the machine.)
    @Test func connectionLimiters() async throws {
        let limited: [String: Any] = ["name": "rate_limit", "configuration": [
            "connection_limiters": [["key": ["name": "everyone"], "conn": 1, "burst": 0, "delay": 0]]]]
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        let h = try H(services: [H.service(id: 1, chain: [limited, apicast])], upstream: Self.slowUpstream)
        defer { h.stop() }
        try await h.waitReady()
        // The slot comes back when a response ends.
        #expect(try h.call("/medium?user_key=k").status == 200)
        #expect(try h.call("/fast?user_key=k").status == 200)
        // A request in progress holds it; its client going away gives it back.
        let port = h.gatewayPort
        async let held = Self.onOwnThread {
            (try? HTTP.send("http://127.0.0.1:\(port)/slow?user_key=k", headers: [("Host", "localhost")], maxSeconds: 6))?.status ?? 0
        }
        try await Self.upstreamReceived(h, path: "/slow", count: 1)
        let refused = try h.call("/fast?user_key=k")
        #expect(refused.status == 429 && refused.body == "Limits exceeded", "\(refused.status) \(refused.body)")
        #expect(await held != 200, "the client gave up on the slow answer")
        #expect(try await Self.eventuallyOK(h, "/fast?user_key=k") == 200, "the abandoned request gave its slot back")
    }

    @Test(.enabled(if: RedisServerProcess.isAvailable)) func connectionLimitersSharedThroughRedis() async throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let limited: [String: Any] = ["name": "rate_limit", "configuration": ["redis_url": redis.url,
            "connection_limiters": [["key": ["name": "everyone", "scope": "global"], "conn": 1, "burst": 0, "delay": 0]]]]
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        let first = try H(services: [H.service(id: 1, chain: [limited, apicast])], upstream: Self.slowUpstream)
        defer { first.stop() }
        let second = try H(services: [H.service(id: 1, chain: [limited, apicast])], upstream: Self.slowUpstream)
        defer { second.stop() }
        try await first.waitReady()
        try await second.waitReady()
        #expect(try first.call("/medium?user_key=k").status == 200)
        #expect(try await Self.eventuallyOK(second, "/fast?user_key=k") == 200)
        let port = first.gatewayPort
        async let held = Self.onOwnThread {
            (try? HTTP.send("http://127.0.0.1:\(port)/slow?user_key=k", headers: [("Host", "localhost")], maxSeconds: 6))?.status ?? 0
        }
        try await Self.upstreamReceived(first, path: "/slow", count: 1)
        #expect(try second.call("/fast?user_key=k").status == 429, "the other gateway's request in progress holds the only slot")
        #expect(await held != 200)
        #expect(try await Self.eventuallyOK(second, "/fast?user_key=k") == 200, "given back in Redis when the client went away")
    }

    @Test func case8_9_10_ruleArgumentsFormsAndLast() async throws {
        let rules = [H.rule("GET", "/q", metric: "lit", query: ["bar": "baz"]), H.rule("GET", "/p", metric: "ph", query: ["bar": "{baz}"]),
                     H.rule("POST", "/foo", metric: "form", query: ["bar": "baz"])]
        let lastRules = [H.rule("GET", "/", delta: 1), H.rule("GET", "/i_dont_match", delta: 100, last: true), H.rule("GET", "/abc", delta: 2, last: true),
                         H.rule("GET", "/abc/def", delta: 10)]
        let h = try H(services: [H.service(id: 1, rules: rules), H.service(id: 2, proxy: ["hosts": ["last.test"]], rules: lastRules)])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/q?user_key=k&bar=foo").status == 404)
        #expect(try h.call("/q?user_key=k&bar=baz").status == 200)
        #expect(try h.call("/p?user_key=k").status == 404)
        #expect(try h.call("/p?user_key=k&bar=").status == 200)
        // 9: the form body takes part, and overrides the URL's value.
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        #expect(try h.call("/foo?user_key=k", method: "POST", headers: form, body: "bar=baz").status == 200)
        #expect(try h.call("/foo?user_key=k&bar=baz", method: "POST", headers: form, body: "bar=other").status == 404)
        #expect(try h.call("/foo", method: "POST", headers: form, body: "bar=baz&user_key=fromform").status == 200)
        #expect(h.backend.requests.last?.query["user_key"] == "fromform")
        // The upstream receives the body that was read.
        #expect(h.upstream.requests.last.map { String(decoding: $0.body, as: UTF8.self) } == "bar=baz&user_key=fromform")
        // 10: deltas of matching rules add up until a matching `last` rule.
        h.backend.clearRequests()
        #expect(try h.call("/abc/def?user_key=k", host: "last.test").status == 200)
        #expect(h.backend.requests.first?.query["usage[hits]"] == "3")
    }

    @Test func case11_12_anchoringAndEncodedPaths() async throws {
        let rules = [H.rule("GET", "/foo/{id}$", metric: "a"), H.rule("GET", "/bar", metric: "b"), H.rule("GET", "/w/{x}/z", metric: "c"),
                     H.rule("GET", "//sp///x", metric: "d"), H.rule("GET", "/enc%20/x/", metric: "e")]
        let h = try H(services: [H.service(id: 1, rules: rules)])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/foo/1?user_key=k").status == 200)
        #expect(try h.call("/foo/1/x?user_key=k").status == 404)
        #expect(try h.call("/barista?user_key=k").status == 200)
        for segment in ["a@b", "a:b", "a%25b"] { #expect(try h.call("/w/\(segment)/z?user_key=k").status == 200, "\(segment)") }
        #expect(try h.call("/sp/x?user_key=k").status == 200)
        #expect(try h.call("/enc%20/x/?user_key=k").status == 200)
        #expect(h.upstream.requests.last?.uri.hasPrefix("/enc%20/x/") == true)
    }

    @Test func case13_14_credentialLocations() async throws {
        let h = try H(services: [
            H.service(id: 1, proxy: ["hosts": ["hdr.test"], "credentials_location": "headers", "auth_user_key": "User-Key"]),
            H.service(id: 2, version: "2", proxy: ["hosts": ["hdr2.test"], "credentials_location": "headers"]),
            H.service(id: 3, proxy: ["hosts": ["basic.test"], "credentials_location": "authorization"]),
            H.service(id: 4, version: "2", proxy: ["hosts": ["basic2.test"], "credentials_location": "authorization"]),
            H.service(id: 5, proxy: ["hosts": ["form.test"]], rules: [H.rule("POST", "/")]),
        ])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/", host: "hdr.test", headers: [("user-key", "v1")]).status == 200)
        #expect(h.backend.requests.last?.query["user_key"] == "v1")
        #expect(try h.call("/", host: "hdr.test", headers: [("user_key", "v1b")]).status == 200)
        #expect(try h.call("/", host: "hdr2.test", headers: [("app_id", "i"), ("app_key", "k")]).status == 200)
        #expect(h.backend.requests.last?.query["app_id"] == "i" && h.backend.requests.last?.query["app_key"] == "k")
        #expect(try h.call("/", host: "basic.test", headers: [("Authorization", "Basic dmFsdWU6")]).status == 200)
        #expect(h.backend.requests.last?.query["user_key"] == "value")
        #expect(try h.call("/", host: "basic2.test", headers: [("Authorization", "Basic Zm9vOmJhcg==")]).status == 200)
        #expect(h.backend.requests.last?.query["app_id"] == "foo" && h.backend.requests.last?.query["app_key"] == "bar")
        h.backend.setHandler { _ in .init(status: 403) }
        #expect(try h.call("/", host: "hdr.test", headers: [("user-key", "invalid")]).status == 403)
        // 14: credentials in a form body beyond the client body buffer are not read.
        h.backend.clearRequests()
        let big = "user_key=k&pad=" + String(repeating: "x", count: 40_000)
        #expect(try h.call("/", method: "POST", host: "form.test", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: big).status == 401)
        #expect(h.backend.requests.isEmpty)
    }

    @Test func case15_16_17_upstreamCompositionAndHosts() async throws {
        let h = try H(services: [
            H.service(id: 1, proxy: ["hosts": ["a.test"], "secret_token": "s3cret"]),
            H.service(id: 2, proxy: ["hosts": ["b.test"], "hostname_rewrite": "rewritten.example"]),
            H.service(id: 3, proxy: ["hosts": ["none.test"], "api_backend": NSNull()]),
            H.service(id: 4, proxy: ["hosts": ["a.test"]]),
        ])
        defer { h.stop() }
        try await h.waitReady()
        // Re-point services 1 and 2 at a base path on the upstream: rewrite the document through a second harness is costly,
        // so base-path joining is covered by its unit test; here the host, query and secret are checked.
        let r = try h.call("/bar?user_key=k&x=1", host: "a.test")
        #expect(r.status == 200 && r.body == "GET /bar?user_key=k&x=1")
        let seen = try #require(h.upstream.requests.last)
        #expect(seen.header("host") == "127.0.0.1:\(h.upstream.port)")
        #expect(seen.header("x-3scale-proxy-secret-token") == "s3cret")
        #expect(seen.header("x-real-ip") == "127.0.0.1" && seen.header("x-forwarded-for") == "127.0.0.1")
        #expect(try h.call("/?user_key=k", host: "b.test").status == 200)
        #expect(h.upstream.requests.last?.header("host") == "rewritten.example")
        // 16: no upstream → 404 with an empty body, after metering was asked.
        h.backend.clearRequests()
        let none = try h.call("/?user_key=k", host: "none.test")
        #expect(none.status == 404 && none.body.isEmpty)
        #expect(h.backend.requests.count == 1)
        // 17: unknown host → 404 empty; a shared host goes to the first product.
        let unknown = try h.call("/?user_key=k", host: "unknown.test")
        #expect(unknown.status == 404 && unknown.body.isEmpty)
        h.backend.clearRequests()
        _ = try h.call("/?user_key=k", host: "a.test")
        // Authorized from the cache by now: its authrep follows the response.
        #expect(try await h.meteringCalls(atLeast: 1).last?.query["service_id"] == "1")
    }

    @Test func case15_basePath() async throws {
        let upstream = try StubHTTPServer(handler: H.echo)
        defer { upstream.stop() }
        let h = try H(services: [H.service(id: 1, proxy: ["api_backend": upstream.baseURL + "/foo"])])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/bar?user_key=k").body == "GET /foo/bar?user_key=k")
        #expect(try h.call("/?user_key=k").body == "GET /foo?user_key=k")
    }

    @Test func case18_pathRouting() async throws {
        let services = [H.service(id: 1, rules: [H.rule("GET", "/one")]), H.service(id: 2, rules: [H.rule("GET", "/two"), H.rule("GET", "/q", query: ["k": "v"])])]
        let h = try H(services: services, environment: ["APICAST_PATH_ROUTING": "true"])
        defer { h.stop() }
        try await h.waitReady()
        _ = try h.call("/two?user_key=k")
        #expect(h.backend.requests.last?.query["service_id"] == "2")
        _ = try h.call("/q?user_key=k&k=v")
        #expect(h.backend.requests.last?.query["service_id"] == "2")
        #expect(try h.call("/three?user_key=k").status == 404)  // falls back to service 1, whose rules do not match
        #expect(try h.call("/three?user_key=k").body == "No Mapping Rule matched")
        let only = try H(services: services, environment: ["APICAST_PATH_ROUTING_ONLY": "true"])
        defer { only.stop() }
        try await only.waitReady()
        let r = try only.call("/three?user_key=k")
        #expect(r.status == 404 && r.body.isEmpty)
    }

    /// Products made of backends, as porta (and Portico's admin) generate them: a `routing` policy before
    /// `apicast` picks the backend by path prefix and strips it; usage of other backends' rules is dropped.
    @Test func backendsMountedAtPaths() async throws {
        let orders = try StubHTTPServer(handler: H.echo)
        let catalog = try StubHTTPServer(handler: H.echo)
        defer { orders.stop(); catalog.stop() }
        let routing: [String: Any] = ["name": "routing", "version": "builtin", "configuration": ["rules": [
            ["url": orders.baseURL + "/v2", "owner_id": 10, "owner_type": "BackendApi",
             "condition": ["operations": [["match": "path", "op": "matches", "value": "^(/orders/.*|/orders/?)"]]],
             "replace_path": "{{original_request.path | remove_first: '/orders'}}"],
            ["url": catalog.baseURL, "owner_id": 20, "owner_type": "BackendApi",
             "condition": ["operations": [["match": "path", "op": "matches", "value": "/.*"]]]],
        ]]]
        var ordersRule = H.rule("GET", "/orders/list", metric: "list.10", delta: 2)
        ordersRule["owner_id"] = 10
        ordersRule["owner_type"] = "BackendApi"
        var catalogRule = H.rule("GET", "/", metric: "hits.20", delta: 1)
        catalogRule["owner_id"] = 20
        catalogRule["owner_type"] = "BackendApi"
        let productRule = H.rule("GET", "/", metric: "hits", delta: 1)
        let h = try H(services: [H.service(id: 1, proxy: ["api_backend": NSNull()], rules: [productRule, ordersRule, catalogRule],
                                           chain: [routing, ["name": "apicast", "version": "builtin", "configuration": [:]]])])
        defer { h.stop() }
        try await h.waitReady()
        let r = try h.call("/orders/list?user_key=k")
        #expect(r.status == 200 && r.body == "GET /v2/list?user_key=k")
        let usage = try #require(h.backend.requests.last?.query)
        #expect(usage["usage[list.10]"] == "2" && usage["usage[hits]"] == "1" && usage["usage[hits.20]"] == nil)
        let other = try h.call("/items/1?user_key=k2")
        #expect(other.status == 200 && other.body == "GET /items/1?user_key=k2")
        let otherUsage = try #require(h.backend.requests.last?.query)
        #expect(otherUsage["usage[hits.20]"] == "1" && otherUsage["usage[list.10]"] == nil)
    }

    @Test func serviceFilters() async throws {
        let services = [H.service(id: 1, proxy: ["hosts": ["a.test"]]), H.service(id: 2, proxy: ["hosts": ["b.test"]]),
                        H.service(id: 3, proxy: ["hosts": ["c.example"]])]
        let h = try H(services: services, environment: ["APICAST_SERVICES_LIST": "1", "APICAST_SERVICES_FILTER_BY_URL": "\\.example$"])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=k", host: "a.test").status == 200)      // listed
        #expect(try h.call("/?user_key=k", host: "b.test").status == 404)      // neither listed nor matching
        #expect(try h.call("/?user_key=k", host: "c.example").status == 200)   // host matches
    }

    @Test func case19_authCacheReportsAfterResponse() async throws {
        let h = try H(services: [H.service(id: 1)], environment: ["APICAST_RESPONSE_CODES": "true"])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=k").status == 200)
        #expect(h.backend.requests.count == 1)
        #expect(h.backend.requests[0].query["log[code]"] == nil)  // the synchronous authrep carries no response code
        #expect(try h.call("/?user_key=k").status == 200)
        let calls = try await h.meteringCalls(atLeast: 2)
        #expect(calls.count == 2)  // exactly one authrep per request
        #expect(calls[1].query["log[code]"] == "200")
    }

    @Test func case20_strictAndResilient() async throws {
        for (mode, expected) in [("strict", [200, 200, 403]), ("resilient", [200, 200, 200])] {
            let h = try H(services: [H.service(id: 1)], environment: ["APICAST_BACKEND_CACHE_HANDLER": mode])
            defer { h.stop() }
            try await h.waitReady()
            var statuses = [try h.call("/?user_key=k").status]
            h.backend.setHandler { _ in .init(status: 502) }
            statuses.append(try h.call("/?user_key=k").status)
            _ = try await h.meteringCalls(atLeast: 2)  // the deferred authrep of the cached request has been answered
            try await Task.sleep(for: .milliseconds(100))
            statuses.append(try h.call("/?user_key=k").status)
            #expect(statuses == expected, "\(mode)")
        }
    }

    @Test func case21_allowAndNone() async throws {
        let chain: ([String: Any]) -> [[String: Any]] = { c in [["name": "caching", "version": "builtin", "configuration": c], ["name": "apicast", "version": "builtin", "configuration": [:]]] }
        let h = try H(services: [H.service(id: 1, chain: chain(["caching_type": "allow"])),
                                 H.service(id: 2, proxy: ["hosts": ["none.test"]], chain: chain(["caching_type": "none"]))],
                      backend: { r in r.query["user_key"] == "denied" ? .init(status: 403) : .init(status: 502) })
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=unseen").status == 200)  // outage, nothing cached: allowed
        #expect(try h.call("/?user_key=denied").status == 403)   // a denial is cached
        h.backend.setHandler { _ in .init(status: 502) }
        #expect(try h.call("/?user_key=denied").status == 403)   // outage, the cached denial stands
        h.backend.setHandler { _ in .init(status: 200) }
        h.backend.clearRequests()
        for _ in 0..<3 { #expect(try h.call("/?user_key=k", host: "none.test").status == 200) }
        #expect(h.backend.requests.count == 3)  // none: every request asks synchronously
    }

    @Test func case22_23_policiesBeforeAPIcastAndLoadFailures() async throws {
        let apicast: [String: Any] = ["name": "apicast", "version": "builtin", "configuration": [:]]
        let h = try H(services: [
            H.service(id: 1, chain: [["name": "ip_check", "configuration": ["check_type": "blacklist", "ips": ["127.0.0.0/8"]]], apicast]),
            H.service(id: 2, proxy: ["hosts": ["broken.test"]], chain: [["name": "no_such_policy", "configuration": [:]], apicast]),
            H.service(id: 3, proxy: ["hosts": ["onfailed.test"]],
                      chain: [["name": "on_failed", "configuration": ["error_status_code": 599]], ["name": "cors", "configuration": ["allow_origin": "("]], apicast]),
        ])
        defer { h.stop() }
        try await h.waitReady()
        let denied = try h.call("/?user_key=k")
        #expect(denied.status == 403 && denied.body == "IP address not allowed")
        #expect(try h.call("/?user_key=k", host: "broken.test").status == 503)
        #expect(try h.call("/?user_key=k", host: "onfailed.test").status == 599)
        try await Task.sleep(for: .milliseconds(200))
        #expect(h.backend.requests.isEmpty)
        #expect(h.upstream.requests.isEmpty)
    }

    @Test func case25_debugHeaders() async throws {
        let h = try H(services: [H.service(id: 1, rules: [H.rule("GET", "/foo?bar={baz}", metric: "bar", delta: 3, query: ["bar": "{baz}"])])])
        defer { h.stop() }
        try await h.waitReady()
        let plain = try h.call("/foo?bar=1&user_key=k")
        #expect(plain.header("x-3scale-matched-rules") == nil)
        let wrong = try h.call("/foo?bar=1&user_key=k", headers: [("X-3scale-Debug", "not-the-token")])
        #expect(wrong.header("x-3scale-matched-rules") == nil)
        let debug = try h.call("/foo?bar=1&user_key=k", headers: [("X-3scale-Debug", "token-1")])
        #expect(debug.header("x-3scale-matched-rules") == "/foo?bar={baz}")
        #expect(debug.header("x-3scale-usage") == "usage%5Bbar%5D=3")
        #expect(debug.header("x-3scale-service-id") == "1")
        #expect(h.upstream.requests.last?.header("x-3scale-debug") == nil)  // never forwarded
    }

    @Test func case26_management() async throws {
        let h = try H(services: [])
        defer { h.stop() }
        try await h.waitReady()
        let base = "http://127.0.0.1:\(h.managementPort)"
        #expect(try HTTP.send(base + "/status/live").body == #"{"status":"live","success":true}"#)
        var ready = try HTTP.send(base + "/status/ready")
        for _ in 0..<50 where ready.status != 200 {
            try await Task.sleep(for: .milliseconds(50))
            ready = try HTTP.send(base + "/status/ready")
        }
        #expect(ready.status == 200 && ready.body == #"{"status":"warning","warning":"no services","success":true}"#)
        let full = try H(services: [H.service(id: 1)])
        defer { full.stop() }
        try await full.waitReady()
        var status = try HTTP.send("http://127.0.0.1:\(full.managementPort)/status/ready")
        for _ in 0..<50 where status.status != 200 {
            try await Task.sleep(for: .milliseconds(50))
            status = try HTTP.send("http://127.0.0.1:\(full.managementPort)/status/ready")
        }
        #expect(status.body.contains(#""status":"ready""#))
        #expect(try full.call("/?user_key=k").status == 200)
        let metrics = try HTTP.send("http://127.0.0.1:\(full.managementPort)/metrics").body
        for name in ["apicast_status", "threescale_backend_calls", "upstream_status", "total_response_time_seconds"] {
            #expect(metrics.contains(name), "\(name)")
        }
        // The policy manifests, as APIcast's management API lists them for porta's policy editor.
        let policies = try HTTP.send(base + "/policies/")
        #expect(policies.status == 200 && policies.header("Content-Type") == "application/json; charset=utf-8")
        let listed = try #require((try JSONSerialization.jsonObject(with: Data(policies.body.utf8)) as? [String: Any])?["policies"] as? [String: Any])
        #expect(listed["cors"] != nil && listed["token_introspection"] != nil && listed["content_caching"] == nil)
        let cors = try #require((listed["cors"] as? [[String: Any]])?.first)
        #expect(cors["version"] as? String == "builtin" && cors["$schema"] as? String == "http://apicast.io/policy-v1.1/schema")
        // The default mode (`status`) has no /config routes.
        #expect(try HTTP.send(base + "/config").status == 404)
        #expect(try HTTP.send(base + "/config", method: "PUT", body: #"{"services":[]}"#).status == 404)
        let info = try HTTP.send(base + "/status/info")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(info.body.utf8)) as? [String: Any])
        #expect(info.status == 200 && parsed["timers"] as? [String: Int] != nil && (parsed["worker"] as? [String: Any])?["count"] as? Int ?? 0 >= 1)
    }

    /// APIcast's debug mode: the configuration read, replaced, reset and booted again through the management port.
    @Test func case26_managementDebugMode() async throws {
        let h = try H(services: [H.service(id: 1)], environment: ["APICAST_MANAGEMENT_API": "debug"])
        defer { h.stop() }
        try await h.waitReady()
        let base = "http://127.0.0.1:\(h.managementPort)"
        func json(_ body: String) throws -> [String: Any] { try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) }
        let current = try json(try HTTP.send(base + "/config").body)
        #expect((current["services"] as? [[String: Any]])?.map { $0["id"] as? Int } == [1])
        let malformed = try HTTP.send(base + "/config", method: "PUT", body: #"{"services": ["#)
        #expect(try malformed.status == 400 && json(malformed.body)["status"] as? String == "error")
        let empty = try HTTP.send(base + "/config", method: "PUT", body: #"{"services": []}"#)
        #expect(try empty.status == 406 && json(empty.body)["status"] as? String == "not_configured")
        #expect(try h.call("/?user_key=k").status == 200, "a refused document leaves the configuration in use")

        let replacement = ["services": [H.service(id: 7, proxy: ["hosts": ["new.test"], "api_backend": h.upstream.baseURL,
                                                                    "backend": ["endpoint": h.backend.baseURL]])]]
        let sent = String(decoding: try JSONSerialization.data(withJSONObject: replacement), as: UTF8.self)
        let replaced = try HTTP.send(base + "/config", method: "PUT", body: sent)
        #expect(replaced.status == 200)
        #expect(try json(replaced.body)["services"] as? Int == 1 && json(replaced.body)["status"] as? String == "ok")
        #expect(try h.call("/?user_key=k", host: "new.test").status == 200)
        #expect(try h.call("/?user_key=k").status == 404, "the old product is gone")

        let booted = try HTTP.send(base + "/boot", method: "POST")
        #expect(try booted.status == 200 && json(booted.body)["status"] as? String == "ok")
        #expect(try h.call("/?user_key=k").status == 200, "boot loaded THREESCALE_CONFIG_FILE again")

        let reset = try HTTP.send(base + "/config", method: "DELETE")
        #expect(reset.status == 200 && reset.body == #"{"status":"ok","config":null}"#)
        #expect(try HTTP.send(base + "/status/ready").status == 412)
        #expect(try HTTP.send(base + "/config").body == "null")
    }

    /// NIO's group is sized to the processors the process may run on (`ProcessorAffinity`), not the machine's:
    /// pinned to one core, the gateway runs one event loop (as `/status/info`'s worker count shows).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset"))) func eventLoopsFollowTheAllowedProcessors() async throws {
        let pinned = try H(services: [H.service(id: 1)], pinnedToCPU: 0)
        defer { pinned.stop() }
        try await pinned.waitReady()
        let info = try HTTP.send("http://127.0.0.1:\(pinned.managementPort)/status/info").body
        let worker = try #require((try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any])?["worker"] as? [String: Any])
        #expect(worker["count"] as? Int == 1)
        #expect(try pinned.call("/?user_key=k").status == 200)
    }

    /// `logging` with its own line: Liquid (`custom_logging`) or JSON (`json_object_config`), only for the requests
    /// its condition holds for, and never showing a credential.
    @Test func customAndJSONAccessLogs() async throws {
        let custom: [String: Any] = ["name": "logging", "configuration": [
            "custom_logging": "CUSTOM {{request}} {{status}} svc={{service.id}} ua={{http_user_agent}} key={{headers.user_key}}",
            "condition": ["operations": [["op": "==", "match": "{{status}}", "match_type": "liquid", "value": "200", "value_type": "plain"]],
                          "combine_op": "and"]]]
        let json: [String: Any] = ["name": "logging", "configuration": [
            "enable_json_logs": true, "json_object_config": [["key": "host", "value": "{{host}}", "value_type": "liquid"],
                                                             ["key": "kind", "value": "api", "value_type": "plain"],
                                                             ["key": "auth", "value": "{{headers.Authorization}}", "value_type": "liquid"]]]]
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        let h = try H(services: [H.service(id: 1, chain: [custom, apicast]),
                                 H.service(id: 2, proxy: ["hosts": ["json.test"]], chain: [json, apicast])],
                      backend: { r in r.query["user_key"] == "bad" ? .init(status: 403) : .init(status: 200) })
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/a?user_key=secret-key&x=1", headers: [("User-Agent", "probe/1")]).status == 200)
        #expect(try h.call("/b?user_key=bad").status == 403)  // the condition wants 200: not logged
        #expect(try h.call("/c?user_key=k", host: "json.test", headers: [("Authorization", "Bearer top-secret")]).status == 200)
        var log = h.log
        for _ in 0..<50 where !(log.contains("CUSTOM") && log.contains(#""kind":"api""#)) {
            try await Task.sleep(for: .milliseconds(50))
            log = h.log
        }
        #expect(log.contains("CUSTOM GET /a?user_key=[REDACTED]&x=1 HTTP/1.1 200 svc=1 ua=probe/1 key="))
        #expect(!log.contains("/b?user_key"), "the condition left the denied request out")
        #expect(log.contains(#"{"host":"json.test","kind":"api","auth":"[REDACTED]"}"#))
        #expect(!log.contains("secret-key") && !log.contains("top-secret"))
    }

    /// `APICAST_EXTENDED_METRICS`: the response-time and upstream-status metrics carry the product; without it
    /// the labels are there but empty (one series per metric).
    @Test func extendedMetricsLabelTheProduct() async throws {
        func metricLines(_ h: H, _ prefix: String) throws -> [Substring] {
            try HTTP.send("http://127.0.0.1:\(h.managementPort)/metrics").body.split(separator: "\n").filter { $0.hasPrefix(prefix) }
        }
        let extended = try H(services: [H.service(id: 1)], environment: ["APICAST_EXTENDED_METRICS": "true"])
        defer { extended.stop() }
        try await extended.waitReady()
        #expect(try extended.call("/?user_key=k").status == 200)
        for prefix in ["upstream_status{", "total_response_time_seconds_count{", "upstream_response_time_seconds_count{"] {
            let lines = try metricLines(extended, prefix)
            #expect(!lines.isEmpty && lines.allSatisfy { $0.contains(#"service_id="1""#) && $0.contains(#"service_system_name="svc1""#) }, "\(lines)")
        }
        let plain = try H(services: [H.service(id: 1)])
        defer { plain.stop() }
        try await plain.waitReady()
        #expect(try plain.call("/?user_key=k").status == 200)
        let lines = try metricLines(plain, "upstream_status{")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains(#"service_id="""#) }, "\(lines)")
    }

    @Test func managementDisabled() async throws {
        let h = try H(services: [H.service(id: 1)], environment: ["APICAST_MANAGEMENT_API": "disabled"])
        defer { h.stop() }
        try await h.waitReady()
        let base = "http://127.0.0.1:\(h.managementPort)"
        #expect(try HTTP.send(base + "/").status == 403)
        #expect(try HTTP.send(base + "/policies/").status == 404)
        #expect(try HTTP.send(base + "/config").status == 404)
        #expect(try HTTP.send(base + "/metrics").status == 200)
    }

    @Test func case28_batcher() async throws {
        let chain: [[String: Any]] = [["name": "3scale_batcher", "configuration": ["batch_report_seconds": 1, "auths_ttl": 10]],
                                      ["name": "apicast", "configuration": [:]]]
        let h = try H(services: [H.service(id: 1, chain: chain)], backend: { r in
            if r.query["user_key"] == "limited" {
                return .init(status: 409, headers: [("3scale-rejection-reason", "limits_exceeded"), ("3scale-limit-max-value", "5")])
            }
            return .init(status: r.method == "POST" ? 202 : 200)
        })
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=k").status == 200)
        #expect(try h.call("/?user_key=k").status == 200)
        #expect(try h.call("/?user_key=limited").status == 429)
        #expect(try h.call("/?user_key=limited").status == 429)  // the denial is cached with its reason
        #expect(try h.call("/nomatch?user_key=k").status == 200)  // rule `/` matches everything here
        let authorizations = h.backend.requests.filter { $0.path == "/transactions/authorize.xml" }
        #expect(authorizations.count == 2)  // one per credential
        let calls = try await h.meteringCalls(atLeast: 3, within: 5)
        let report = try #require(calls.first { $0.method == "POST" && $0.path == "/transactions.xml" })
        let form = String(decoding: report.body, as: UTF8.self)
        #expect(form.contains("transactions%5B0%5D%5Buser_key%5D=k"))
        #expect(form.contains("transactions%5B0%5D%5Busage%5D%5Bhits%5D=3"))
        #expect(report.query["service_id"] == "1")
    }

    @Test func case29_corsPreflight() async throws {
        let h = try H(services: [H.service(id: 1, chain: [["name": "cors", "configuration": [:]], ["name": "apicast", "configuration": [:]]])])
        defer { h.stop() }
        try await h.waitReady()
        let preflight = try h.call("/", method: "OPTIONS", headers: [("Origin", "http://app.example"), ("Access-Control-Request-Method", "PUT"),
                                                                     ("Access-Control-Request-Headers", "X-Custom")])
        #expect(preflight.status == 204)
        #expect(preflight.header("access-control-allow-origin") == "http://app.example")
        #expect(preflight.header("access-control-allow-methods") == "PUT")
        #expect(preflight.header("access-control-allow-headers") == "X-Custom")
        #expect(h.backend.requests.isEmpty)
        let simple = try h.call("/?user_key=k", headers: [("Origin", "http://app.example")])
        #expect(simple.status == 200 && simple.header("access-control-allow-origin") == "http://app.example")
    }

    @Test func unreachableUpstreamAndMeteringFailFast() async throws {
        let closed = LoopbackPorts.base(count: 1)
        let h = try H(services: [H.service(id: 1, proxy: ["api_backend": "http://127.0.0.1:\(closed)"]),
                                 H.service(id: 2, proxy: ["hosts": ["nometering.test"], "backend": ["endpoint": "http://127.0.0.1:\(closed)"]])])
        defer { h.stop() }
        try await h.waitReady()
        let r = try h.call("/?user_key=k")
        #expect(r.status == 502 && r.body == "Bad Gateway")
        let denied = try h.call("/?user_key=k", host: "nometering.test")
        #expect(denied.status == 403)  // strict: metering unavailable and nothing cached
    }

    /// A Service Management API that accepts the connection and never answers: after the metering client's ten
    /// seconds the call counts as unreachable (strict cache, nothing cached: 403), that connection is dropped, and
    /// the next call gets a new one and its answer.
    @Test func meteringThatNeverAnswersTimesOut() async throws {
        let h = try H(services: [H.service(id: 1)], backend: { _ in .init(status: 200, delayMilliseconds: 600_000) })
        defer { h.stop() }
        try await h.waitReady()
        let first = try HTTP.send("http://127.0.0.1:\(h.gatewayPort)/?user_key=k", headers: [("Host", "localhost")], maxSeconds: 30)
        #expect(first.status == 403)
        h.backend.setHandler(H.authorizeAll)
        #expect(try h.call("/?user_key=k").status == 200)
    }

    /// `upstream_connection`'s `read_timeout` counts from the upstream's last byte, for every request of a
    /// kept-alive client connection: the connection's one timer, armed for a product with a long timeout, is
    /// brought forward for a request to a product with a short one, and re-armed after requests that finished.
    @Test func upstreamReadTimeoutOnEveryRequestOfAConnection() async throws {
        func timeouts(_ read: Double) -> [[String: Any]] {
            [["name": "upstream_connection", "configuration": ["read_timeout": read]], ["name": "apicast", "configuration": [:]]]
        }
        let h = try H(services: [H.service(id: 1, proxy: ["hosts": ["long.test"]], chain: timeouts(30)),
                                 H.service(id: 2, proxy: ["hosts": ["short.test"]], chain: timeouts(1))], upstream: Self.slowUpstream)
        defer { h.stop() }
        try await h.waitReady()
        let answers = try HTTP.raw(port: h.gatewayPort, "GET /fast?user_key=k HTTP/1.1\r\nHost: long.test\r\n\r\n"
                                       + "GET /medium?user_key=k HTTP/1.1\r\nHost: short.test\r\n\r\n"
                                       + "GET /slow?user_key=k HTTP/1.1\r\nHost: short.test\r\nConnection: close\r\n\r\n", timeoutSeconds: 20)
        let statuses = answers.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "200", "504"], "\(answers)")
        #expect(answers.hasSuffix("Gateway Timeout"))
        // The connection that timed out is not reused; the next request gets a fresh one and its answer.
        #expect(try h.call("/fast?user_key=k", host: "short.test").status == 200)
    }

    @Test func bodiesStreamBothWaysAndCredentialsStayOutOfTheLog() async throws {
        let big = String(repeating: "0123456789abcdef", count: 131_072)  // 2 MiB
        let h = try H(services: [H.service(id: 1, rules: [H.rule("POST", "/"), H.rule("GET", "/")])],
                      upstream: { r in r.method == "GET" ? .init(status: 200, body: big) : .init(status: 201, body: "got \(r.body.count)") })
        defer { h.stop() }
        try await h.waitReady()
        let upload = String(repeating: "x", count: 3 * 1024 * 1024)
        let posted = try h.call("/?user_key=secret-user-key-123", method: "POST", headers: [("Content-Type", "application/octet-stream")], body: upload)
        #expect(posted.status == 201 && posted.body == "got \(upload.utf8.count)")
        let downloaded = try h.call("/?user_key=secret-user-key-123")
        #expect(downloaded.status == 200 && downloaded.body == big)
        try await Task.sleep(for: .milliseconds(200))
        let log = h.log
        #expect(log.contains("gateway.access"))
        #expect(log.contains("user_key=[REDACTED]"))
        #expect(!log.contains("secret-user-key-123"))
    }

    @Test func sigtermLetsRequestsInFlightFinish() async throws {
        let h = try H(services: [H.service(id: 1)], upstream: { r in
            if r.path == "/slow" { usleep(800_000) }
            return .init(status: 200, body: "done")
        })
        defer { h.stop() }
        try await h.waitReady()
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-o", "-", "-w", " %{http_code}", "-H", "Host: localhost", "http://127.0.0.1:\(h.gatewayPort)/slow?user_key=k"]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        try await Task.sleep(for: .milliseconds(300))
        h.process.terminate()  // SIGTERM while /slow is in flight
        let answer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.waitUntilExit()
        h.process.waitUntilExit()
        #expect(answer == "done 200")
        #expect(h.process.terminationStatus == 0)
    }

    @Test func chainWithoutAPIcastDoesNotProxy() async throws {
        let h = try H(services: [H.service(id: 1, chain: [["name": "cors", "configuration": [:]]])])
        defer { h.stop() }
        try await h.waitReady()
        let r = try h.call("/?user_key=k")
        #expect(r.status == 404 && r.body.isEmpty)
        #expect(h.upstream.requests.isEmpty && h.backend.requests.isEmpty)
    }

    @Test func sigtermSendsQueuedReports() async throws {
        let h = try H(services: [H.service(id: 1)], backend: { r in
            if r.query["user_key"] == "slow" { usleep(300_000) }
            return .init(status: 200)
        })
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=slow").status == 200)  // synchronous authrep, now cached
        #expect(try h.call("/?user_key=slow").status == 200)  // its authrep is sent after the response
        h.process.terminate()
        h.process.waitUntilExit()
        #expect(h.process.terminationStatus == 0)
        #expect(h.backend.requests.count == 2)  // the deferred authrep was sent before exiting
    }

    @Test func limitsAndDrain() async throws {
        let h = try H(services: [H.service(id: 1, rules: [H.rule("POST", "/")])], environment: ["PORTICO_GATEWAY_MAX_BODY_BYTES": "1000"])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=k", method: "POST", body: String(repeating: "a", count: 2000)).status == 413)
        #expect(try h.call("/?user_key=k", headers: [("X-Big", String(repeating: "b", count: 40_000))]).status == 431)
        #expect(try h.call("/?user_key=k", method: "POST", body: "small").status == 200)
        #expect(h.stop() == 0)  // SIGTERM: drains and exits cleanly
    }
}
