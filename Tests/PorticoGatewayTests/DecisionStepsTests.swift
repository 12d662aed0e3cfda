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
        let document = """
            {"id": 1, "backend_version": "1", "backend_authentication_type": "service_token", "backend_authentication_value": "t",
             "proxy": {"hosts": ["api.test"], "api_backend": "http://127.0.0.1:9", "backend": {"endpoint": "http://127.0.0.1:9"},
                       "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}],
                       "policy_chain": \(chain)}}
            """
        let store = GatewayConfigurationStore()
        store.replace(GatewayConfiguration(products: [try GatewayProduct(document: try JSONParser.parse(Array(document.utf8)))]))
        return Gateway(store: store, settings: GatewaySettings(), metering: metering, clockMilliseconds: { 1_000_000 }, logger: Logger(label: "test"))
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
        var first = Self.request(), memo = DecisionMemo()
        guard case .waits = gateway.decideNow(&first, memo: &memo) else { Issue.record("a cache miss waits for metering"); return }
        first = Self.request()
        #expect(Self.isProxied(await gateway.decide(&first, memo: &memo)))
        #expect(metering.calls.withLock { $0 } == 1)
        var second = Self.request(), fresh = DecisionMemo()
        guard case .decided(let decision) = gateway.decideNow(&second, memo: &fresh) else { Issue.record("a cache hit waits for nothing"); return }
        #expect(Self.isProxied(decision))
        #expect(metering.calls.withLock { $0 } == 1, "the deferred authrep goes out after the response, not while deciding")
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
}
