import Foundation
import Testing

/// Policies that take APIcast's common condition, and the request-shaping policies around them, through the
/// real gateway: `conditional`, `maintenance_mode` with a condition, `rate_limit` limiters with conditions,
/// `nginx_filters` and `payload_limits`.
@Suite(.serialized) struct GatewayConditionalPolicyTests {
    typealias H = GatewayHarness
    static var apicast: [String: Any] { ["name": "apicast", "configuration": [:] as [String: Any]] }

    static func condition(_ left: String, _ op: String, _ right: String, leftType: String = "liquid") -> [String: Any] {
        ["operations": [["left": left, "left_type": leftType, "op": op, "right": right, "right_type": "plain"]], "combine_op": "and"]
    }

    @Test func conditionsDecideWhichPoliciesRun() async throws {
        // Product 1: a conditional headers policy, maintenance only for /legacy, a limiter counting only POSTs.
        let headers: [String: Any] = ["name": "headers", "configuration": [
            "request": [["op": "set", "header": "X-Beta", "value": "yes", "value_type": "plain"]]]]
        let conditional: [String: Any] = ["name": "conditional", "configuration": [
            "condition": Self.condition("{{ headers.X-Channel }}", "==", "beta"), "policy_chain": [headers]]]
        let maintenance: [String: Any] = ["name": "maintenance_mode", "configuration": [
            "status": 503, "message": "legacy is closed", "condition": Self.condition("{{ uri }}", "matches", "^/legacy")]]
        let limiter: [String: Any] = ["name": "rate_limit", "configuration": [
            "fixed_window_limiters": [["key": ["name": "posts", "scope": "service"], "count": 1, "window": 60,
                                       "condition": Self.condition("{{ http_method }}", "==", "POST")]]]]
        let chain1 = [conditional, maintenance, limiter, Self.apicast]
        // Product 2: nginx_filters and payload_limits.
        let filters: [String: Any] = ["name": "nginx_filters", "configuration": ["headers": [["name": "If-Match", "append": false],
                                                                                         ["name": "If-None-Match", "append": true]]]]
        let limits: [String: Any] = ["name": "payload_limits", "configuration": ["request": 10, "response": 60]]
        // Product 3: a conditional whose nested chain holds a chain-wide setting fails to load.
        let broken: [String: Any] = ["name": "conditional", "configuration": ["condition": [:], "policy_chain": [["name": "retry", "configuration": ["retries": 2]]]]]
        var hosts2 = H.service(id: 2, rules: [H.rule("GET", "/"), H.rule("POST", "/")], chain: [filters, limits, Self.apicast])
        var proxy2 = hosts2["proxy"] as? [String: Any] ?? [:]
        proxy2["hosts"] = ["two.test"]
        hosts2["proxy"] = proxy2
        var hosts3 = H.service(id: 3, chain: [broken, Self.apicast])
        var proxy3 = hosts3["proxy"] as? [String: Any] ?? [:]
        proxy3["hosts"] = ["three.test"]
        hosts3["proxy"] = proxy3
        let h = try GatewayHarness(services: [H.service(id: 1, rules: [H.rule("GET", "/"), H.rule("POST", "/")], chain: chain1), hosts2, hosts3],
                                   upstream: { r in
                                       let beta = r.header("X-Beta") ?? "-", ifMatch = r.header("If-Match") ?? "-", ifNone = r.header("If-None-Match") ?? "-"
                                       let body = r.path == "/big" ? String(repeating: "x", count: 100) : "beta=\(beta) if-match=\(ifMatch) if-none-match=\(ifNone)"
                                       return .init(status: 200, headers: [("Content-Type", "text/plain")], body: body)
                                   })
        defer { h.stop() }
        try await h.waitReady()
        let key = "?user_key=k"

        // conditional: the nested headers policy runs only when the condition holds.
        #expect(try h.call("/" + key, headers: [("X-Channel", "beta")]).body.hasPrefix("beta=yes"))
        #expect(try h.call("/" + key, headers: [("X-Channel", "stable")]).body.hasPrefix("beta=-"))
        // maintenance_mode with a condition: only /legacy is closed.
        let closed = try h.call("/legacy" + key)
        #expect(closed.status == 503 && closed.body == "legacy is closed")
        #expect(try h.call("/open" + key).status == 200)
        // rate_limit limiter with a condition: GETs are not counted, the second POST is limited.
        try await GatewayHarness.awayFromWindowStart()
        #expect(try h.call("/" + key, method: "POST", body: "a=1").status == 200)
        #expect(try h.call("/" + key, method: "POST", body: "a=1").status == 429)
        #expect(try h.call("/" + key).status == 200)

        // nginx_filters: If-Match is dropped, If-None-Match (append) is forwarded.
        let filtered = try h.call("/" + key, host: "two.test", headers: [("If-Match", "\"a\""), ("If-None-Match", "\"b\"")])
        #expect(filtered.status == 200 && filtered.body.hasSuffix("if-match=- if-none-match=\"b\""))
        // payload_limits: a request body over 10 bytes and an upstream answer over 60 bytes are 413.
        #expect(try h.call("/" + key, method: "POST", host: "two.test", body: "0123456789abc").status == 413)
        #expect(try h.call("/" + key, method: "POST", host: "two.test", body: "0123").status == 200)
        let big = try h.call("/big" + key, host: "two.test")
        #expect(big.status == 413 && big.body == "Payload Too Large")
        #expect(try h.call("/" + key, host: "two.test").status == 200, "the gateway keeps serving after refusing an answer")

        // A conditional policy cannot hold chain-wide settings: the product fails closed.
        #expect(try h.call("/" + key, host: "three.test").status == 503)
        #expect(h.log.contains("cannot run inside a conditional policy"))
    }

    /// `custom_metrics`: usage decided by the response status joins the deferred authrep on the cached path, and
    /// goes in a report (within about a second) when the authrep was synchronous.
    @Test func customMetricsCountByResponseStatus() async throws {
        let custom: [String: Any] = ["name": "custom_metrics", "configuration": ["rules": [
            ["metric": "errors", "increment": "1", "condition": Self.condition("{{ status }}", "matches", "^5")],
            ["metric": "status_{{ status }}", "increment": "2", "condition": ["operations": [], "combine_op": "and"]],
        ]]]
        let none: [String: Any] = ["name": "caching", "configuration": ["caching_type": "none"]]
        var uncached = H.service(id: 2, chain: [none, Self.apicast, custom])
        var proxy = uncached["proxy"] as? [String: Any] ?? [:]
        proxy["hosts"] = ["none.test"]
        uncached["proxy"] = proxy
        let h = try GatewayHarness(services: [H.service(id: 1, chain: [Self.apicast, custom]), uncached],
                                   upstream: { r in .init(status: r.path == "/fail" ? 503 : 200, body: "x") })
        defer { h.stop() }
        try await h.waitReady()

        // Cached path: the first authrep is synchronous (and followed by a report of the custom usage), the second
        // request's authrep goes after the response and carries the custom usage itself.
        #expect(try h.call("/?user_key=k").status == 200)
        #expect(try h.call("/?user_key=k").status == 200)
        var calls = try await h.meteringCalls(atLeast: 3, within: 5)
        let deferred = try #require(calls.first { $0.path == "/transactions/authrep.xml" && $0.query["usage[status_200]"] != nil })
        #expect(deferred.query["usage[hits]"] == "1" && deferred.query["usage[status_200]"] == "2" && deferred.query["usage[errors]"] == nil)
        let firstReport = try #require(calls.first { $0.path == "/transactions.xml" })
        #expect(String(decoding: firstReport.body, as: UTF8.self).contains("transactions%5B0%5D%5Busage%5D%5Bstatus_200%5D=2"))

        // Synchronous authrep (caching none): the custom usage is reported, errors only for 5xx answers.
        h.backend.clearRequests()
        #expect(try h.call("/fail?user_key=k", host: "none.test").status == 503)
        calls = try await h.meteringCalls(atLeast: 2, within: 5)
        #expect(calls.filter { $0.path == "/transactions/authrep.xml" }.count == 1)
        let report = try #require(calls.first { $0.path == "/transactions.xml" })
        let form = String(decoding: report.body, as: UTF8.self)
        #expect(report.query["service_id"] == "2")
        #expect(form.contains("transactions%5B0%5D%5Buser_key%5D=k"))
        #expect(form.contains("transactions%5B0%5D%5Busage%5D%5Berrors%5D=1"))
        #expect(form.contains("transactions%5B0%5D%5Busage%5D%5Bstatus_503%5D=2"))
    }

    /// `rewrite_url_captures` runs before mapping rules: the rule on the rewritten path matches, and the upstream
    /// gets the new path with the captured query arguments next to the request's own.
    @Test func rewriteURLCapturesBeforeMappingRules() async throws {
        let captures: [String: Any] = ["name": "rewrite_url_captures", "configuration": ["transformations": [
            ["match_rule": "/api/{version}/users/{id}", "template": "/users/{id}?version={version}"]]]]
        let h = try GatewayHarness(services: [H.service(id: 1, rules: [H.rule("GET", "/users/{id}")], chain: [captures, Self.apicast])])
        defer { h.stop() }
        try await h.waitReady()
        let reply = try h.call("/api/v2/users/42?user_key=k")
        #expect(reply.status == 200)
        #expect(reply.body.hasPrefix("GET /users/42?"))
        #expect(reply.body.contains("version=v2") && reply.body.contains("user_key=k"))
        #expect(try h.call("/api/v2/orders/7?user_key=k").status == 404, "no transformation matched: no mapping rule either")
    }

    /// `soap`: the SOAP action (1.1 header or 1.2 Content-Type parameter) adds usage next to the mapping rules'.
    @Test func soapActionsAddUsage() async throws {
        let soap: [String: Any] = ["name": "soap", "configuration": ["mapping_rules": [
            ["pattern": "urn:Stock/Check", "metric_system_name": "stock_checks", "delta": 2],
            ["pattern": "urn:Orders", "metric_system_name": "orders", "delta": 1]]]]
        let none: [String: Any] = ["name": "caching", "configuration": ["caching_type": "none"]]
        let h = try GatewayHarness(services: [H.service(id: 1, rules: [H.rule("POST", "/")], chain: [none, soap, Self.apicast])])
        defer { h.stop() }
        try await h.waitReady()
        #expect(try h.call("/?user_key=k", method: "POST", headers: [("SOAPAction", "\"urn:Stock/Check\"")], body: "<x/>").status == 200)
        #expect(try h.call("/?user_key=k", method: "POST", headers: [("Content-Type", "application/soap+xml; charset=utf-8; action=\"urn:Orders/Create\"")],
                           body: "<x/>").status == 200)
        #expect(try h.call("/?user_key=k", method: "POST", body: "<x/>").status == 200)
        let calls = try await h.meteringCalls(atLeast: 3)
        #expect(calls.count == 3)
        #expect(calls[0].query["usage[hits]"] == "1" && calls[0].query["usage[stock_checks]"] == "2" && calls[0].query["usage[orders]"] == nil)
        #expect(calls[1].query["usage[orders]"] == "1" && calls[1].query["usage[stock_checks]"] == nil)
        #expect(calls[2].query["usage[hits]"] == "1" && calls[2].query["usage[orders]"] == nil && calls[2].query["usage[stock_checks]"] == nil)
    }
}
