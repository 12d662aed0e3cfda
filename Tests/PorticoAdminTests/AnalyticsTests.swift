import PorticoAdmin
import PorticoCore
import PorticoMeteringStore
import Testing

/// The Analytics API over counters written in apisonator's layout.
@Suite struct AnalyticsTests {
    /// 2023-11-14 22:13:20 UTC, the test platform's clock.
    static let now = Timestamp(secondsSinceEpoch: 1_700_000_000)

    struct Fixture {
        var platform: TestPlatform
        var counters: EmbeddedMeteringStorage
        var productID: Int64
        var hitsID: Int64
        var appID: Int64
        var backendAppID: String
    }

    static func fixture() async throws -> Fixture {
        let counters = EmbeddedMeteringStorage(clockMilliseconds: { AnalyticsTests.now.secondsSinceEpoch * 1000 })
        let p = try await TestPlatform.make(counters: counters)
        let apps = await p.call("GET", "/admin/api/applications.json")
        let app = try #require(apps.json?["applications"]?.arrayValue?.first?["application"])
        let productID = try #require(app["service_id"]?.int)
        let metrics = await p.call("GET", "/admin/api/services/\(productID)/metrics.json")
        let hits = try #require(metrics.json?["metrics"]?.arrayValue?.first { $0["metric"]?["system_name"]?.stringValue == "hits" }?["metric"])
        let appID = try #require(app["id"]?.int)
        let providerID = try #require(await p.call("GET", "/admin/api/provider.json").json?["account"]?["id"]?.int)
        let stored = try #require(try await p.store.find(ClientApplication.self, tenantID: providerID, id: appID))
        return Fixture(platform: p, counters: counters, productID: productID, hitsID: try #require(hits["id"]?.int), appID: appID,
                       backendAppID: stored.applicationID)
    }

    func record(_ f: Fixture, hits: Int64, at t: Timestamp, code: Int = 200) async throws {
        try await f.counters.apply([.usage(UsageWrite(serviceID: String(f.productID), applicationID: f.backendAppID, timestamp: t,
                                                      values: [(String(f.hitsID), .increment(hits))], responseCode: code))])
    }

    @Test func serviceUsageByDayInHours() async throws {
        let f = try await Self.fixture()
        try await record(f, hits: 2, at: Timestamp(iso8601: "2023-11-14T09:30:00Z")!)
        try await record(f, hits: 3, at: Timestamp(iso8601: "2023-11-14T22:00:00Z")!)
        try await record(f, hits: 7, at: Timestamp(iso8601: "2023-11-13T12:00:00Z")!)
        let r = await f.platform.call("GET", "/stats/services/\(f.productID)/usage.json?metric_name=hits&period=day&since=2023-11-14&skip_change=false")
        #expect(r.status == 200, "\(r.text)")
        let doc = try #require(r.json)
        #expect(doc["total"]?.int == 5)
        let values = try #require(doc["values"]?.arrayValue?.compactMap { $0.int })
        #expect(values.count == 24 && values[9] == 2 && values[22] == 3)
        #expect(doc["previous_total"]?.int == 7)
        #expect(doc["metric"]?["system_name"]?.stringValue == "hits")
        #expect(doc["period"]?["since"]?.stringValue == "2023-11-14T00:00:00Z")
        #expect(doc["period"]?["until"]?.stringValue == "2023-11-14T23:59:59Z")
        #expect(doc["period"]?["granularity"]?.stringValue == "hour")

        // since/until with a granularity; a month in days.
        let month = await f.platform.call("GET", "/stats/services/\(f.productID)/usage.json?metric_name=hits&granularity=day&since=2023-11-01&until=2023-11-30")
        #expect(month.json?["values"]?.arrayValue?.count == 30)
        #expect(month.json?["total"]?.int == 12)
        // The Python client sends its query as a JSON body on GET.
        let body = await f.platform.call("GET", "/stats/services/\(f.productID)/usage.json", json: #"{"metric_name":"hits","since":"2023-11-14","period":"day"}"#)
        #expect(body.json?["total"]?.int == 5)
        let codes = await f.platform.call("GET", "/stats/services/\(f.productID)/usage_response_code.json?response_code=2XX&period=day&since=2023-11-14")
        #expect(codes.json?["total"]?.int == 2)  // two transactions with code 200
        #expect(codes.json?["response_code"]?["code"]?.stringValue == "2XX")
    }

    @Test func applicationUsageAndTopApplications() async throws {
        let f = try await Self.fixture()
        try await record(f, hits: 4, at: Timestamp(iso8601: "2023-11-14T09:30:00Z")!)
        let r = await f.platform.call("GET", "/stats/applications/\(f.appID)/usage.json?metric_name=hits&period=month&since=2023-11-01")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?["total"]?.int == 4)
        #expect(r.json?["values"]?.arrayValue?.count == 30)
        #expect(r.json?["application"]?["id"]?.int == f.appID)
        #expect(r.json?["application"]?["service"]?["id"]?.int == f.productID)
        let top = await f.platform.call("GET", "/stats/services/\(f.productID)/top_applications.json?metric_name=hits&period=day&since=2023-11-14")
        #expect(top.status == 200, "\(top.text)")
        let rows = try #require(top.json?["applications"]?.arrayValue)
        #expect(rows.count == 1 && rows[0]["id"]?.int == f.appID && rows[0]["value"]?.int == 4)
    }

    @Test func badQueriesAndScopes() async throws {
        let f = try await Self.fixture()
        let base = "/stats/services/\(f.productID)/usage.json"
        #expect(await f.platform.call("GET", base + "?period=day").status == 400)
        #expect(await f.platform.call("GET", base + "?metric_name=nope&period=day").status == 400)
        #expect(await f.platform.call("GET", base + "?metric_name=hits&period=decade").status == 400)
        #expect(await f.platform.call("GET", base + "?metric_name=hits&period=day&timezone=Madrid").status == 400)
        #expect(await f.platform.call("GET", base + "?metric_name=hits&granularity=hour&since=2023-01-01&until=2023-11-01").status == 400)
        #expect(await f.platform.call("GET", base + "?metric_name=hits&period=day&since=yesterday").status == 400)
        #expect(await f.platform.call("GET", "/stats/services/999999/usage.json?metric_name=hits&period=day").status == 404)
        let management = await f.platform.call("POST", "/admin/api/personal/access_tokens.json", json: #"{"name":"am","permission":"ro","scopes":["account_management"]}"#)
        let managementToken = try #require(management.json?["access_token"]?["value"]?.stringValue)
        #expect(await f.platform.call("GET", base + "?metric_name=hits&period=day", token: managementToken).status == 403)
        let stats = await f.platform.call("POST", "/admin/api/personal/access_tokens.json", json: #"{"name":"st","permission":"ro","scopes":["stats"]}"#)
        let statsToken = try #require(stats.json?["access_token"]?["value"]?.stringValue)
        #expect(await f.platform.call("GET", base + "?metric_name=hits&period=day", token: statsToken).status == 200)
        // Another tenant cannot read this product's statistics.
        let other = try await f.platform.createTenant("othercorp")
        let otherStats = await f.platform.call("POST", "/admin/api/personal/access_tokens.json", host: other.host, token: other.token,
                                               json: #"{"name":"st","permission":"ro","scopes":["stats"]}"#)
        let otherToken = try #require(otherStats.json?["access_token"]?["value"]?.stringValue)
        let foreign = await f.platform.call("GET", base + "?metric_name=hits&period=day", host: other.host, token: otherToken)
        #expect(foreign.status == 404, "\(foreign.status) \(foreign.text)")
    }

    @Test func withoutCountersAnalyticsSaySoInsteadOfZeros() async throws {
        let p = try await TestPlatform.make()
        let product = try #require(await p.call("GET", "/admin/api/services.json").json?["services"]?.arrayValue?.first?["service"]?["id"]?.int)
        let r = await p.call("GET", "/stats/services/\(product)/usage.json?metric_name=hits&period=day")
        #expect(r.status == 503)
        #expect(r.text.contains("REDIS_STORAGE_URL"))
    }
}

