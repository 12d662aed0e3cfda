import PorticoCore
import Testing

@Suite struct TimestampTests {
    @Test func rendersISO8601WithoutFractions() {
        #expect(Timestamp(secondsSinceEpoch: 0).iso8601 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(secondsSinceEpoch: 1_714_557_600).iso8601 == "2024-05-01T10:00:00Z")
        #expect(Timestamp(secondsSinceEpoch: 951_782_400).iso8601 == "2000-02-29T00:00:00Z")
    }

    @Test func parsesOffsetsAndDates() {
        #expect(Timestamp(iso8601: "2024-05-01T12:00:00+02:00")?.secondsSinceEpoch == 1_714_557_600)
        #expect(Timestamp(iso8601: "2024-05-01T10:00:00.123Z")?.secondsSinceEpoch == 1_714_557_600)
        #expect(Timestamp(iso8601: "2024-05-01")?.secondsSinceEpoch == 1_714_521_600)
        #expect(Timestamp(iso8601: "yesterday") == nil)
        #expect(Timestamp(iso8601: "2024-13-01") == nil)
    }

    @Test func roundTripsEveryDayOfFourCenturies() {
        var t: Int64 = -2_208_988_800  // 1900-01-01
        while t < 10_413_792_000 {  // 2300-01-01
            #expect(Timestamp(iso8601: Timestamp(secondsSinceEpoch: t).iso8601)?.secondsSinceEpoch == t)
            t += 86_400 * 7 + 3_661
        }
    }
}

@Suite struct SystemNameTests {
    @Test func generatesFromHumanNames() {
        #expect(SystemName.generate(from: "Test Metric-1") == "test_metric_1")
        #expect(SystemName.generate(from: "  Hello,  World!! ") == "hello_world")
        #expect(SystemName.generate(from: "/anything/foo") == "anything_foo")
    }

    @Test func validatesPortaFormat() {
        #expect(SystemName.isValid("hits"))
        #expect(SystemName.isValid("a-b/c_d"))
        #expect(!SystemName.isValid("invalid name whitespaces"))
        #expect(!SystemName.isValid("-x"))
        #expect(!SystemName.isValid("x"))
    }

    @Test func dnsLabels() {
        #expect(SystemName.dnsLabel(from: "My Org") == "my-org")
        #expect(SystemName.dnsLabel(from: "___") == "tenant")
    }
}

@Suite struct GatewayServiceDocumentTests {
    let now = Timestamp(secondsSinceEpoch: 1_700_000_000)

    func product() -> Product {
        var proxy = ProxySettings(endpoint: "http://api-p-apicast-production.localhost:8080", sandboxEndpoint: "http://api-p-apicast-staging.localhost:8081",
                                  secretToken: "s", now: now)
        proxy.credentialsLocation = "headers"
        return Product(id: 7, tenantID: 2, name: "API", systemName: "api", serviceToken: "tok", proxy: proxy, now: now)
    }

    @Test func rendersWhatAPIcastReads() {
        let hits = Metric(id: 1, tenantID: 2, owner: .product(7), parentID: nil, systemName: "hits", friendlyName: "Hits", unit: "hit", description: nil, now: now)
        let rule = MappingRule(id: 3, tenantID: 2, owner: .product(7), httpMethod: "GET", pattern: "/orders/{id}?expand={what}", metricID: 1, delta: 2,
                               position: 1, last: true, now: now)
        let doc = GatewayServiceDocument(product: product(), productRules: [rule], metricsByID: [1: hits], backends: [],
                                         meteringEndpoint: "http://127.0.0.1:3001").render()
        #expect(doc["id"] == .int(7))
        #expect(doc["backend_version"] == "1")
        #expect(doc["backend_authentication_type"] == "service_token")
        #expect(doc["backend_authentication_value"] == "tok")
        let proxy = doc["proxy"]
        #expect(proxy?["hosts"] == .array(["api-p-apicast-production.localhost", "api-p-apicast-staging.localhost"]))
        #expect(proxy?["credentials_location"] == "headers")
        #expect(proxy?["backend"]?["endpoint"] == "http://127.0.0.1:3001")
        let r = proxy?["proxy_rules"]?.arrayValue?.first
        #expect(r?["metric_system_name"] == "hits")
        #expect(r?["parameters"] == .array(["id"]))
        #expect(r?["querystring_parameters"] == .object(["expand": "{what}"]))
        #expect(r?["last"] == true)
        #expect(proxy?["policy_chain"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["apicast"])
    }

    @Test func backendsAtSubPathsGetPrefixedRulesAndARoutingPolicy() {
        let backend = BackendAPI(id: 9, tenantID: 2, name: "B", systemName: "b", description: nil, privateEndpoint: "http://b.internal:80", now: now)
        let metric = Metric(id: 5, tenantID: 2, owner: .backend(9), parentID: nil, systemName: "hits.9", friendlyName: "Hits", unit: "hit", description: nil, now: now)
        let rule = MappingRule(id: 4, tenantID: 2, owner: .backend(9), httpMethod: "GET", pattern: "/items", metricID: 5, delta: 1, position: 1, last: false,
                               now: now)
        let usage = BackendUsage(id: 1, tenantID: 2, productID: 7, backendID: 9, path: "/v2", now: now)
        let doc = GatewayServiceDocument(product: product(), productRules: [], metricsByID: [5: metric],
                                         backends: [.init(usage: usage, backend: backend, rules: [rule])], meteringEndpoint: "http://m:3001").render()
        let rules = doc["proxy"]?["proxy_rules"]?.arrayValue ?? []
        #expect(rules.first?["pattern"] == "/v2/items")
        #expect(rules.first?["metric_system_name"] == "hits")
        #expect(rules.first?["owner_type"] == "BackendApi")
        let chain = doc["proxy"]?["policy_chain"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(chain == ["routing", "apicast"])
        #expect(doc["proxy"]?["api_backend"] == .null)
    }

    @Test func hostParsing() {
        #expect(GatewayServiceDocument.host(of: "https://user:pw@Example.COM:8443/path?x") == "example.com")
        #expect(GatewayServiceDocument.host(of: "http://[::1]:80") == "[::1]")
        #expect(GatewayServiceDocument.host(of: "") == nil)
    }
}
