import Foundation
import NIOCore
import PorticoCore
import Testing
@testable import PorticoGateway

@Suite struct RuleMatchTests {
    func rule(_ pattern: String, _ metric: String = "hits", delta: Int64 = 1, last: Bool = false, query: [(String, GatewayMappingRule.ExpectedValue)] = [],
              owner: String? = nil, method: String = "GET") -> GatewayMappingRule {
        GatewayMappingRule(httpMethod: method, pattern: pattern, queryParameters: query, metric: metric, delta: delta, last: last, backendOwnerID: owner)
    }

    @Test func lastStopsAfterAMatchingRuleOnly() {
        let rules = [rule("/", delta: 1), rule("/i_dont_match", delta: 100, last: true), rule("/abc", delta: 2, last: true), rule("/abc/def", delta: 10)]
        let m = RuleMatch.evaluate(rules, method: "GET", path: "/abc/def", arguments: RequestArguments())
        #expect(m.usage.map(\.delta) == [3])
        #expect(m.matchedPatterns == ["/", "/abc"])
    }

    @Test func methodsAndAny() {
        let rules = [rule("/", "get"), rule("/", "any", method: "ANY")]
        #expect(RuleMatch.evaluate(rules, method: "POST", path: "/", arguments: RequestArguments()).usage.map(\.metric) == ["any"])
        #expect(RuleMatch.evaluate(rules, method: "get", path: "/", arguments: RequestArguments()).usage.map(\.metric) == ["any"])  // case-sensitive
    }

    @Test func queryParametersUseTheLastOccurrence() {
        let r = [rule("/", query: [("bar", .literal("baz"))])]
        #expect(!RuleMatch.evaluate(r, method: "GET", path: "/", arguments: RequestArguments(encoded: Array("bar=baz&bar=x".utf8))).isEmpty == false)
        #expect(!RuleMatch.evaluate(r, method: "GET", path: "/", arguments: RequestArguments(encoded: Array("bar=x&bar=baz".utf8))).isEmpty)
        #expect(!RuleMatch.evaluate(r, method: "GET", path: "/", arguments: RequestArguments(encoded: Array("bar=b%61z".utf8))).isEmpty)
    }

    @Test func cleanupKeepsOnlyTheRoutedBackend() {
        let rules = [rule("/", "hits", owner: nil), rule("/a", "m", delta: 2, owner: "7"), rule("/a", "m", delta: 3, owner: "8"), rule("/a", "n", owner: "8")]
        let m = RuleMatch.evaluate(rules, method: "GET", path: "/a", arguments: RequestArguments()).cleaned(forBackend: "7")
        #expect(m.usage.map { "\($0.metric)=\($0.delta)" } == ["hits=1", "m=2"])
        #expect(m.encodedUsage == "usage%5Bhits%5D=1&usage%5Bm%5D=2")
    }

    @Test func placeholderDetection() {
        #expect(GatewayMappingRule.isPlaceholder("{baz}"))
        #expect(GatewayMappingRule.isPlaceholder("x{a-b_c}y"))
        #expect(!GatewayMappingRule.isPlaceholder("{}"))
        #expect(!GatewayMappingRule.isPlaceholder("baz"))
    }
}

@Suite struct CredentialTests {
    func sources(query: String = "", form: String? = nil, headers: [String: String] = [:]) -> CredentialSources {
        CredentialSources(query: RequestArguments(encoded: Array(query.utf8)), form: form.map { RequestArguments(encoded: Array($0.utf8)) },
                          header: { headers[$0] })
    }

    @Test func userKeyLocations() {
        let q = CredentialExtractor(mode: .userKey(name: "user_key"), location: .query)
        #expect(q.extract(from: sources(query: "USER_KEY=a")) == .userKey("a"))
        #expect(q.extract(from: sources(query: "user_key=")) == nil)
        #expect(q.extract(from: sources(form: "user_key=f")) == .userKey("f"))
        let h = CredentialExtractor(mode: .userKey(name: "user_key"), location: .headers)
        #expect(h.extract(from: sources(headers: ["user_key": "h"])) == .userKey("h"))
        let a = CredentialExtractor(mode: .userKey(name: "user_key"), location: .authorization)
        #expect(a.extract(from: sources(headers: ["authorization": "Basic dmFsdWU6"])) == .userKey("value"))
        #expect(a.extract(from: sources(headers: ["authorization": "Basic OnNlY29uZA=="])) == .userKey("second"))
        #expect(a.extract(from: sources(headers: ["authorization": "Bearer tok"])) == .userKey("tok"))
        #expect(CredentialExtractor(mode: .userKey(name: "user_key"), location: .unknown).extract(from: sources(query: "user_key=a")) == nil)
    }

    @Test func appIDNeedsBoth() {
        let q = CredentialExtractor(mode: .appID(idName: "app_id", keyName: "app_key"), location: .query)
        #expect(q.extract(from: sources(query: "app_id=i&app_key=k")) == .appID("i", appKey: "k"))
        #expect(q.extract(from: sources(query: "app_key=k")) == nil)
        #expect(q.extract(from: sources(query: "app_id=i")) == nil)
        let b = CredentialExtractor(mode: .appID(idName: "app_id", keyName: "app_key"), location: .authorization)
        #expect(b.extract(from: sources(headers: ["authorization": "Basic Zm9vOmJhcg=="])) == .appID("foo", appKey: "bar"))
    }

    @Test func oidcAlwaysAcceptsBearer() {
        let o = CredentialExtractor(mode: .oidc, location: .query)
        #expect(o.extract(from: sources(headers: ["authorization": "Bearer t"])) == .accessToken("t"))
        #expect(o.extract(from: sources(query: "access_token=q")) == .accessToken("q"))
    }
}

@Suite struct AuthorizationCacheTests {
    let ok = MeteringAnswer(status: 200)
    let denied = MeteringAnswer(status: 409, rejectionReason: "limits_exceeded")
    let down = MeteringAnswer.unreachable

    @Test func strict() {
        let c = AuthorizationCache()
        #expect(c.handle(ok, key: "k", mode: .strict, ttlMilliseconds: nil, nowMilliseconds: 0))
        #expect(c.lookup("k", nowMilliseconds: 0)?.status == 200)
        #expect(!c.handle(down, key: "k", mode: .strict, ttlMilliseconds: nil, nowMilliseconds: 0))
        #expect(c.lookup("k", nowMilliseconds: 0) == nil)
        #expect(!c.handle(denied, key: "k", mode: .strict, ttlMilliseconds: nil, nowMilliseconds: 0))
        #expect(c.lookup("k", nowMilliseconds: 0) == nil)
    }

    @Test func resilientAndAllow() {
        let r = AuthorizationCache()
        #expect(!r.handle(down, key: "k", mode: .resilient, ttlMilliseconds: nil, nowMilliseconds: 0))
        r.handle(ok, key: "k", mode: .resilient, ttlMilliseconds: nil, nowMilliseconds: 0)
        #expect(r.handle(down, key: "k", mode: .resilient, ttlMilliseconds: nil, nowMilliseconds: 0))
        r.handle(denied, key: "k", mode: .resilient, ttlMilliseconds: nil, nowMilliseconds: 0)
        #expect(r.lookup("k", nowMilliseconds: 0)?.rejectionReason == "limits_exceeded")
        let a = AuthorizationCache()
        #expect(a.handle(down, key: "new", mode: .allow, ttlMilliseconds: nil, nowMilliseconds: 0))
        a.handle(denied, key: "bad", mode: .allow, ttlMilliseconds: nil, nowMilliseconds: 0)
        #expect(!a.handle(down, key: "bad", mode: .allow, ttlMilliseconds: nil, nowMilliseconds: 0))
    }

    @Test func entriesExpire() {
        let c = AuthorizationCache()
        c.handle(ok, key: "k", mode: .strict, ttlMilliseconds: 100, nowMilliseconds: 0)
        #expect(c.lookup("k", nowMilliseconds: 99) != nil)
        #expect(c.lookup("k", nowMilliseconds: 100) == nil)
    }

    @Test func answersClassify() {
        #expect(MeteringAnswer(status: 499).outcome == .unavailable)
        #expect(MeteringAnswer(status: 404).outcome == .denied)
        #expect(!MeteringAnswer(status: 409, rejectionReason: "limits_exceeded", limitMaxValue: "0").isLimitsExceeded)
    }
}

@Suite struct ConfigurationParsingTests {
    @Test func defaultsAndCustomErrors() throws {
        let doc = try JSONParser.parse(#"""
        {"services":[{"id":42,"backend_version":2,"proxy":{"api_backend":"https://api.example.com/v1/","error_status_auth_missing":"418",
          "error_headers_no_match":"application/json","error_no_match":"{}","credentials_location":"headers","auth_app_id":"X-App"}},
          {"id":42,"proxy":{}}, {"id":7,"proxy":{"proxy_rules":[{"pattern":"/"}]}}]}
        """#)
        let c = try GatewayConfiguration.parse(doc)
        #expect(c.products.count == 1)  // duplicate id skipped, rule without metric rejected
        #expect(c.rejected.count == 1)
        let p = try #require(c.products.first)
        #expect(p.id == "42" && p.hosts == ["localhost"])
        #expect(p.authMissing == ErrorReply(status: 418, body: "Authentication parameters missing", contentType: "text/plain; charset=utf-8"))
        #expect(p.noMatch.contentType == "application/json" && p.noMatch.body == "{}")
        #expect(p.credentials == CredentialExtractor(mode: .appID(idName: "x-app", keyName: "app_key"), location: .headers))
        #expect(p.apiBackend?.hostHeader == "api.example.com" && p.apiBackend?.path == "/v1")
        #expect(p.chain.containsAPIcast)
    }

    @Test func proxyConfigEnvelopes() throws {
        let list = try GatewayConfiguration.parse(try JSONParser.parse(#"{"proxy_configs":[{"proxy_config":{"content":{"id":1,"proxy":{"hosts":["A.test"]}}}}]}"#))
        #expect(list.candidates(host: "a.test").first?.id == "1")
        #expect(throws: GatewayConfigurationError.self) { try GatewayConfiguration.parse(try JSONParser.parse(#"{"nope":1}"#)) }
    }

    @Test func unknownAndBrokenPoliciesAreLoadFailures() throws {
        let chain = PolicyChain(entries: [.object(["name": "nope"]), .object(["name": "cors", "configuration": .object(["allow_origin": "("])]),
                                          .object(["name": "apicast.policy.apicast"]), .object(["name": "echo", "enabled": false])])
        #expect(chain.loadFailures.count == 2)
        #expect(chain.policies.count == 1)
    }

    @Test func upstreamURLs() {
        #expect(UpstreamURL("http://h:8080/foo")?.joinedPath("/bar") == "/foo/bar")
        #expect(UpstreamURL("http://h:8080/foo")?.joinedPath("/") == "/foo")
        #expect(UpstreamURL("http://h/")?.joinedPath("/x") == "/x")
        #expect(UpstreamURL("https://h")?.port == 443)
        #expect(UpstreamURL("http://h:80")?.hostHeader == "h")
        #expect(UpstreamURL("ftp://h") == nil)
        #expect(UpstreamURL("http://h:99999") == nil)
        #expect(UpstreamURL("http://h/p?a=1")?.query == "a=1")
    }

    @Test func liquid() throws {
        let t = try LiquidTemplate("{{ original_request.path | remove_first: '/get' }}")
        #expect(t.render { $0 == "original_request.path" ? "/get/anything/id" : nil } == "/anything/id")
        #expect(try LiquidTemplate("a{{x|upcase|append: '!'}}b").render { _ in "q" } == "aQ!b")
        #expect(throws: GatewayConfigurationError.self) { try LiquidTemplate("{{ x | nope }}") }
        #expect(throws: GatewayConfigurationError.self) { try LiquidTemplate("{{ x ") }
    }

    @Test func ipRanges() throws {
        let p = try IPCheckPolicy(.object(["check_type": "whitelist", "ips": ["10.0.0.0/8", "::1", "2001:db8::/32"]]))
        #expect(p.allows("10.1.2.3") && !p.allows("11.0.0.1") && p.allows("::1") && p.allows("2001:db8::5") && !p.allows(nil))
        #expect(throws: GatewayConfigurationError.self) { try IPCheckPolicy(.object(["check_type": "whitelist", "ips": ["10.0.0.0/40"]])) }
    }
}

@Suite struct RewriteURLCapturesTests {
    func policy(_ transformations: String) throws -> RewriteURLCapturesPolicy {
        try RewriteURLCapturesPolicy(try JSONParser.parse(#"{"transformations": "# + transformations + "}"))
    }

    @Test func capturesWholeSegmentsAndFillTheTemplate() throws {
        let p = try policy(#"""
            [{"match_rule": "/api/{version}/users/{id}.json", "template": "/users/{id}?version={version}&format=json", "methods": ["GET"]},
             {"match_rule": "/{a}/{b}", "template": "/flipped/{b}/{a}"}]
            """#)
        let users = try #require(p.rewrite(path: "/api/v2/users/42.json", method: "GET"))
        #expect(users.path == "/users/42")
        #expect(users.arguments.map { "\($0.0)=\($0.1)" } == ["version=v2", "format=json"])
        // Methods filter the first transformation; the next one needs exactly two segments.
        #expect(p.rewrite(path: "/api/v2/users/42.json", method: "POST") == nil)
        #expect(p.rewrite(path: "/x/y", method: "POST")?.path == "/flipped/y/x")
        #expect(p.rewrite(path: "/x/y/z", method: "GET") == nil, "a placeholder never spans a /, and the whole path must match")
        #expect(p.rewrite(path: "/x/", method: "GET") == nil, "a placeholder takes at least one character")
    }

    @Test func templatesMayOnlyUseCapturedNames() {
        #expect(throws: GatewayConfigurationError.self) { try policy(#"[{"match_rule": "/{a}", "template": "/{b}"}]"#) }
        #expect(throws: GatewayConfigurationError.self) { try policy(#"[{"match_rule": "/{a", "template": "/x"}]"#) }
    }
}

/// The manifests `/policies/` serves list exactly the policies the gateway loads.
@Suite struct PolicyManifestTests {
    @Test func everyListedPolicyLoadsAndUnimplementedOnesAreNotListed() {
        let listed = BuiltinPolicyManifests.all.map(\.name)
        #expect(Set(listed).count == listed.count)
        for name in listed {
            do {
                _ = try Policy(name: name, configuration: .object([:]))
            } catch {
                // Some need configuration; what matters is that the gateway knows them.
                #expect(!error.description.contains("is not implemented"), "\(name): \(error.description)")
            }
        }
        for name in ["content_caching", "websocket", "grpc", "tls", "tls_validation", "camel", "oauth_mtls", "fapi",
                     "jwt_parser", "liquid_context_debug"] {
            #expect(!listed.contains(name))
            #expect(throws: GatewayConfigurationError.self) { try Policy(name: name, configuration: .object([:])) }
        }
    }
}

/// `rate_limit` connection limiters on one gateway (resty.limit.conn's arithmetic).
@Suite struct ConnectionLimiterTests {
    func policy(_ extra: String = "", conn: Int = 2, burst: Int = 1, delay: Double = 0.5) throws -> RateLimitPolicy {
        let limiter = #"{"key": {"name": "k"}, "conn": \#(conn), "burst": \#(burst), "delay": \#(delay)}"#
        return try RateLimitPolicy(try JSONParser.parse(Array(#"{"connection_limiters": [\#(limiter)]\#(extra)}"#.utf8)))
    }

    @Test func withinConnPassesThenBurstWaitsThenRejects() throws {
        let limiter = EdgeLimiter(), p = try policy()
        let first = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        let second = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        let third = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        let fourth = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        #expect(first.verdict == .pass && second.verdict == .pass)
        #expect(third.verdict == .delay(milliseconds: 500))  // one `conn` (2) ahead of it: floor((3 - 1) / 2) × 0.5 s
        #expect(fourth.verdict == .reject && fourth.held.isEmpty)
        #expect(limiter.requestsInProgress("service:1:k/c") == 3)
        limiter.leave(first.held)
        #expect(limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil }).verdict == .delay(milliseconds: 500))
        for outcome in [second, third] { limiter.leave(outcome.held) }
        #expect(limiter.requestsInProgress("service:1:k/c") == 1)
    }

    @Test func aLaterLimiterRejectingGivesTheSlotBack() throws {
        let limiter = EdgeLimiter()
        let p = try policy(#", "fixed_window_limiters": [{"key": {"name": "w"}, "count": 1, "window": 60}]"#)
        #expect(p.limiters.count == 2)
        let passed = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        #expect(passed.verdict == .pass && passed.held == ["service:1:k/c"])
        let limited = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        #expect(limited.verdict == .reject && limited.held.isEmpty)
        #expect(limiter.requestsInProgress("service:1:k/c") == 1, "the rejected request does not keep a connection slot")
    }

    @Test func slotsAreGivenBackOnceWhateverHappens() throws {
        let limiter = EdgeLimiter(), p = try policy(conn: 1, burst: 0)
        let held = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil }).held
        var slots: ConnectionSlots? = ConnectionSlots { limiter.leave(held) }
        slots?.leave()
        slots?.leave()
        #expect(limiter.requestsInProgress("service:1:k/c") == 0)
        let again = limiter.check(p, serviceID: "1", nowMilliseconds: 0, lookup: { _ in nil })
        #expect(again.verdict == .pass)
        slots = ConnectionSlots { limiter.leave(again.held) }
        slots = nil  // dropped without an explicit leave (a request abandoned mid-way)
        #expect(limiter.requestsInProgress("service:1:k/c") == 0)
    }

    @Test func configurationErrors() {
        #expect(throws: GatewayConfigurationError.self) { try policy(conn: 0) }
        #expect(throws: GatewayConfigurationError.self) { try policy(burst: -1) }
        #expect(throws: GatewayConfigurationError.self) {
            try RateLimitPolicy(try JSONParser.parse(Array(#"{"connection_limiters": [{"conn": 1}]}"#.utf8)))
        }
    }
}

/// `token_introspection`'s JWT client authentication: what loads and what is refused at load.
@Suite struct IntrospectionClientTests {
    func policy(_ json: String) throws -> TokenIntrospectionPolicy { try TokenIntrospectionPolicy(try JSONParser.parse(Array(json.utf8))) }

    @Test func clientSecretJWTSignsHS256WithTheSecret() throws {
        let p = try policy(#"{"auth_type": "client_secret_jwt", "client_id": "c", "client_secret": "s", "introspection_url": "https://idp/introspect"}"#)
        guard case .assertion(let id, let url, let signer) = p.client else { Issue.record("not an assertion client"); return }
        #expect(id == "c" && url == "https://idp/introspect" && signer.audience == url && signer.lifetimeSeconds == 60)
        let parts = try signer.assertion(nowSeconds: 1_000).split(separator: ".")
        #expect(parts.count == 3 && parts[0] == Substring(ClientAssertionSigner.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))))
    }

    @Test func refusedAtLoad() {
        for broken in [#"{"auth_type": "client_secret_jwt", "client_id": "c", "introspection_url": "https://idp/i"}"#,
                       #"{"auth_type": "private_key_jwt", "client_id": "c", "introspection_url": "https://idp/i", "certificate_type": "embedded", "certificate": "not a data url"}"#,
                       #"{"auth_type": "private_key_jwt", "client_id": "c", "introspection_url": "https://idp/i", "certificate_type": "path", "certificate": "/nonexistent.pem"}"#,
                       #"{"auth_type": "private_key_jwt", "client_id": "c", "introspection_url": "https://idp/i", "certificate_type": "embedded", "certificate": "data:text/plain;base64,aGVsbG8="}"#,
                       #"{"auth_type": "client_secret_jwt", "client_id": "c", "client_secret": "s", "introspection_url": "https://idp/i", "client_jwt_assertion_expires_in": 0}"#,
                       #"{"auth_type": "mtls", "client_id": "c", "introspection_url": "https://idp/i"}"#] {
            #expect(throws: GatewayConfigurationError.self, "\(broken)") { try policy(broken) }
        }
    }
}

/// `logging`'s variables: nginx's time formats, and no credential in any of them.
@Suite struct LoggedExchangeTests {
    @Test func nginxTimeFormats() {
        #expect(LoggedExchange.timeLocal(0) == "01/Jan/1970:00:00:00 +0000")
        #expect(LoggedExchange.timeLocal(1_795_303_805) == "21/Nov/2026:23:30:05 +0000")
        #expect(LoggedExchange.seconds(0.0042) == "0.004" && LoggedExchange.seconds(1.25) == "1.250")
    }

    @Test func credentialsAreRedacted() throws {
        let product = try GatewayProduct(document: try JSONParser.parse(#"{"id": 1, "proxy": {"credentials_location": "headers"}}"#))
        let request = GatewayRequest(method: "GET", host: "h", path: "/p", rawQuery: "user_key=secret&x=1",
                                     headers: [("User-Key", "secret"), ("Authorization", "Bearer t"), ("User-Agent", "ua")], remoteAddress: "127.0.0.1")
        let exchange = LoggedExchange(request: request, product: product, status: 200, elapsedSeconds: 0.01, nowSeconds: 0)
        for name in ["query_string", "args", "original_request.query", "request", "request_uri", "http_user_key", "headers.User-Key",
                     "http_authorization", "headers.Authorization"] {
            #expect(exchange.value(name)?.contains("secret") == false && exchange.value(name)?.contains("Bearer") == false, "\(name)")
        }
        #expect(exchange.value("http_user_agent") == "ua" && exchange.value("status") == "200")
    }
}

@Suite struct RequestTargetTests {
    @Test func hostWithoutPortLowerCasesAndDropsThePort() {
        #expect(GatewayConnectionHandler.hostWithoutPort("Example.COM:8080") == "example.com")
        #expect(GatewayConnectionHandler.hostWithoutPort("127.0.0.1:18500") == "127.0.0.1")
        #expect(GatewayConnectionHandler.hostWithoutPort("api.test") == "api.test")
        #expect(GatewayConnectionHandler.hostWithoutPort("[FE80::1]:443") == "[fe80::1]")
        #expect(GatewayConnectionHandler.hostWithoutPort("[::1]") == "[::1]")
        #expect(GatewayConnectionHandler.hostWithoutPort("") == "")
    }

    @Test func queryArgumentsSplitAndDecode() {
        let arguments = RequestArguments(encoded: "a=1&&b=%41+c&c&=d&e=&f=%zz&".utf8)
        #expect(arguments.pairs.map { "\($0.name)|\($0.value)" } == ["a|1", "b|A c", "c|", "|d", "e|", "f|%zz"])
        #expect(RequestArguments(encoded: "".utf8).pairs.isEmpty && RequestArguments(encoded: "&&".utf8).pairs.isEmpty)
        #expect(RequestArguments(encoded: Array("x=%E2%9C%93".utf8)).last("x") == "✓")
    }

    @Test func encodedArgumentsReadBackTheSame() {
        #expect(RequestArguments.encode(pairs: [("usage[hits]", "1"), ("user_key", "a b+c/✓")]) == "usage%5Bhits%5D=1&user_key=a%20b%2Bc%2F%E2%9C%93")
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aZ09-._~ +&=%[]/?#é✓\u{0}\n".unicodeScalars)
        func random() -> String { String(String.UnicodeScalarView((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })) }
        for _ in 0..<500 {
            let pairs = (0..<Int.random(in: 0...5, using: &generator)).map { _ in (random(), random()) }
            var buffer = ByteBuffer()
            RequestArguments.write(pairs: pairs, into: &buffer)
            let read = RequestArguments(encoded: buffer.readableBytesView).pairs
            #expect(read.map { "\($0.name)=\($0.value)" } == pairs.map { "\($0.0)=\($0.1)" }, "\(pairs)")
        }
    }

    @Test func pathAndQueryOfATarget() {
        #expect(GatewayConnectionHandler.rawPath("/a/b?x=1") == "/a/b" && GatewayConnectionHandler.rawQuery("/a/b?x=1") == "x=1")
        #expect(GatewayConnectionHandler.rawPath("?x") == "/" && GatewayConnectionHandler.rawQuery("/a") == nil)
        #expect(GatewayConnectionHandler.rawPath("") == "/" && GatewayConnectionHandler.rawQuery("/a?") == "")
    }
}
