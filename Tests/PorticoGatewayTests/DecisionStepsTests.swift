import NIOCore
import Logging
import PorticoCore
import Synchronization
import Testing
@testable import PorticoGateway

/// `Gateway.decideNow`: a request authorized from the cache is decided with nothing to wait for; one that needs
/// metering waits once, and what the pipeline did before the wait (a limiter's count) is not done again when it
/// runs on.
@Suite struct DecisionStepsTests {
    /// Answers every call with 200 and counts them (the pipeline's logic only; real metering is tested end to end).
    final class CountingMetering: MeteringClient {
        let calls = Mutex(0)
        func send(_ call: MeteringCall) async -> MeteringAnswer {
            calls.withLock { $0 += 1 }
            return MeteringAnswer(status: 200)
        }
    }

    static func gateway(chain: String, metering: CountingMetering) throws -> Gateway {
        let store = GatewayConfigurationStore()
        store.replace(GatewayConfiguration(products: [try product(chain: chain)]))
        return Gateway(store: store, settings: GatewaySettings(), metering: metering, clockMilliseconds: { 1_000_000 }, logger: Logger(label: "test"))
    }

    static func product(chain: String, token: String = "t") throws -> GatewayProduct {
        let document = """
            {"id": 1, "backend_version": "1", "backend_authentication_type": "service_token", "backend_authentication_value": "\(token)",
             "proxy": {"hosts": ["api.test"], "api_backend": "http://127.0.0.1:9", "backend": {"endpoint": "http://127.0.0.1:9"},
                       "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}],
                       "policy_chain": \(chain)}}
            """
        return try GatewayProduct(document: try JSONParser.parse(Array(document.utf8)))
    }

    static func request() -> GatewayRequest {
        GatewayRequest(method: "GET", host: "api.test", path: "/", rawQuery: "user_key=k", headers: [("Host", "api.test")], remoteAddress: "10.0.0.1")
    }

    static func isProxied(_ decision: GatewayDecision) -> Bool {
        if case .proxy = decision.action { return true }
        return false
    }

    @Test func aCachedAuthorizationIsDecidedWithoutWaiting() async throws {
        let metering = CountingMetering()
        let gateway = try Self.gateway(chain: #"[{"name": "apicast"}]"#, metering: metering)
        // A miss asks metering for an authrep; with its answer the pipeline goes on and proxies.
        var first = Self.request(), memo = DecisionMemo()
        guard case .asks(let call) = gateway.decideNow(&first, memo: &memo) else { Issue.record("a cache miss asks metering"); return }
        #expect(call.endpoint == .authrep && call.query.contains { $0 == ("user_key", "k") })
        memo.answered(MeteringAnswer(status: 200))
        first = Self.request()
        guard case .decided(let decided) = gateway.decideNow(&first, memo: &memo) else { Issue.record("answered, the pipeline decides"); return }
        #expect(Self.isProxied(decided))
        // The async driver does the same, with the answer from the client.
        var second = Self.request()
        #expect(Self.isProxied(await gateway.decide(&second)))
        #expect(metering.calls.withLock { $0 } == 0, "cached by then: the authrep is deferred")
        let other = try Self.gateway(chain: #"[{"name": "apicast"}]"#, metering: metering)
        var third = Self.request()
        #expect(Self.isProxied(await other.decide(&third)))
        #expect(metering.calls.withLock { $0 } == 1)
        var fourth = Self.request(), fresh = DecisionMemo()
        guard case .decided(let decision) = other.decideNow(&fourth, memo: &fresh) else { Issue.record("a cache hit waits for nothing"); return }
        #expect(Self.isProxied(decision))
        #expect(metering.calls.withLock { $0 } == 1, "the deferred authrep goes out after the response, not while deciding")
    }

    /// A cache entry keeps the authrep it was made with and sends it again for the requests it allows, until the
    /// product changes: then the authrep carries the product as it is now (here its new service token).
    @Test func aCachedAuthorizationSendsTheAuthrepOfTheProductAsItIsNow() async throws {
        let gateway = try Self.gateway(chain: #"[{"name": "apicast"}]"#, metering: CountingMetering())
        var first = Self.request()
        #expect(Self.isProxied(await gateway.decide(&first)))
        func deferred() -> MeteringCall? {
            var request = Self.request(), memo = DecisionMemo()
            guard case .decided(let decision) = gateway.decideNow(&request, memo: &memo) else { return nil }
            return decision.response.deferredAuthrep?.call
        }
        let cached = try #require(deferred())
        #expect(cached.preparedQuery == "service_token=t&service_id=1&user_key=k&usage%5Bhits%5D=1")
        #expect(cached.encodedQuery == cached.preparedQuery)
        gateway.store.replace(GatewayConfiguration(products: [try Self.product(chain: #"[{"name": "apicast"}]"#, token: "t2")]))
        let changed = try #require(deferred(), "the entry still allows: it is the same product, credentials and usage")
        #expect(changed.query.contains { $0 == ("service_token", "t2") } && !changed.query.contains { $0 == ("service_token", "t") })
        #expect(changed.preparedQuery?.hasPrefix("service_token=t2&") == true)
        // Changing the query drops what was encoded for the old one.
        var extended = changed
        extended.query.append(("log[code]", "200"))
        #expect(extended.preparedQuery == nil && extended.encodedQuery.hasSuffix("&log%5Bcode%5D=200"))
    }

    /// A prepared call keeps the request each client made of it (a client writes its own User-Agent) and hands it out
    /// again; a call changed in any part that goes into the request has nothing prepared.
    @Test func aPreparedCallKeepsTheRequestEachClientMadeOfIt() throws {
        final class Client {}
        let call = MeteringCall(endpoint: .authrep, baseURL: "http://backend", query: [("user_key", "k")]).prepared()
        let prepared = try #require(call.madeOnce)
        let one = Client(), other = Client()
        var made = 0
        let first = prepared.request(for: one) { made += 1; return ByteBuffer(string: "one") }
        let again = prepared.request(for: one) { made += 1; return ByteBuffer(string: "one, made again") }
        #expect(first == again && made == 1)
        #expect(prepared.request(for: other) { ByteBuffer(string: "other") } == ByteBuffer(string: "other"))
        for change in [{ (c: inout MeteringCall) in c.hostHeader = "backend.example" }, { $0.baseURL = "http://elsewhere" },
                       { $0.endpoint = .oauthAuthrep }, { $0.query.append(("log[code]", "200")) }] {
            var changed = call
            change(&changed)
            #expect(changed.madeOnce == nil && changed.preparedQuery == nil)
        }
    }

    /// Different credentials never share a cache key, whatever bytes their values hold.
    @Test func credentialsOfDifferentKindsNeverShareACacheKey() {
        let keys = [Credentials.userKey("a:b"), .appID("a", appKey: "b"), .appID("a:b", appKey: ""), .appID("a", appKey: ":b"), .clientID("a:b"), .accessToken("a:b")].map(\.cacheKey)
        #expect(Set(keys).count == keys.count)
        let key32 = String(repeating: "k", count: 32)
        #expect(Credentials.userKey(key32).cacheKey == "u32:" + key32 && Credentials.appID("id", appKey: "").cacheKey == "a2:id0:")
    }

    @Test func aLimiterBeforeAWaitCountsTheRequestOnce() async throws {
        let metering = CountingMetering()
        let chain = #"[{"name": "rate_limit", "configuration": {"fixed_window_limiters": [{"key": {"name": "all"}, "count": 2, "window": 60}]}}, {"name": "apicast"}]"#
        let gateway = try Self.gateway(chain: chain, metering: metering)
        var statuses: [Int] = []
        for _ in 0..<3 {
            var request = Self.request()
            let decision = await gateway.decide(&request)
            if case .reply(let local) = decision.action { statuses.append(local.status) } else { statuses.append(200) }
        }
        // The first request ran the chain twice (before and after metering answered) and was counted once.
        #expect(statuses == [200, 200, 429])
        #expect(metering.calls.withLock { $0 } == 1)
    }

    @Test func aDelayedRequestHoldsItsConnectionSlotOnce() async throws {
        let metering = CountingMetering()
        // conn 1, burst 1: the second request in progress is delayed 20 ms, then goes on to metering (a wait each).
        let chain = #"[{"name": "rate_limit", "configuration": {"connection_limiters": [{"key": {"name": "k"}, "conn": 1, "burst": 1, "delay": 0.02}]}}, {"name": "apicast"}]"#
        let gateway = try Self.gateway(chain: chain, metering: metering)
        var first = Self.request(), second = Self.request()
        let held = await gateway.decide(&first)
        let delayed = await gateway.decide(&second)
        #expect(Self.isProxied(held) && Self.isProxied(delayed))
        #expect(held.response.connectionSlots.count == 1 && delayed.response.connectionSlots.count == 1)
        #expect(gateway.limiter.requestsInProgress("service:1:k/c") == 2)
        for slots in held.response.connectionSlots + delayed.response.connectionSlots { slots.leave() }
        #expect(gateway.limiter.requestsInProgress("service:1:k/c") == 0)
    }
}
