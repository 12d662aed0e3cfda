import PorticoAdmin
import PorticoCore
import Testing

@Suite struct AdminAPITests {
    @Test func seedGivesTheTenantWhat3scaleGivesIt() async throws {
        let p = try await TestPlatform.make()
        let plans = await p.call("GET", "/admin/api/account_plans.json").json?["plans"]?.arrayValue ?? []
        #expect(plans.compactMap { $0["account_plan"]?["name"]?.stringValue } == ["Default"])
        let services = await p.call("GET", "/admin/api/services.json").json?["services"]?.arrayValue ?? []
        #expect(services.compactMap { $0["service"]?["name"]?.stringValue } == ["API"])
        let appPlans = await p.call("GET", "/admin/api/services/1/application_plans.json").json?["plans"]?.arrayValue ?? []
        #expect(appPlans.compactMap { $0["application_plan"]?["name"]?.stringValue } == ["Basic", "Unlimited"])
        #expect(appPlans.first?["application_plan"]?["default"] == true)
        let fields = await p.call("GET", "/admin/api/fields_definitions.json").json?["fields_definitions"]?.arrayValue ?? []
        #expect(fields.count >= 4)
        let accounts = await p.call("GET", "/admin/api/accounts.json").json?["accounts"]?.arrayValue ?? []
        #expect(accounts.count == 1)
    }

    @Test func seedingIsIdempotent() async throws {
        let p = try await TestPlatform.make()
        let again = try await PlatformSeed.run(store: p.store, inputs: .init(), settings: p.settings, now: Timestamp(secondsSinceEpoch: 1))
        #expect(!again.created && again.generated.isEmpty)
        #expect(try await p.store.list(Account.self, tenantID: 0).count == 1)
    }

    @Test func malformedBodiesAndUnknownIds() async throws {
        let p = try await TestPlatform.make()
        let bad = await p.call("POST", "/admin/api/services.json", json: #"{"name": "#)
        #expect(bad.status == 400)
        #expect(bad.json?["error"]?.stringValue?.contains("not valid JSON") == true)
        #expect(await p.call("POST", "/admin/api/services.json", json: "[1,2]").status == 400)
        for path in ["/admin/api/services/999.json", "/admin/api/services/abc.json", "/admin/api/accounts/999/users.json",
                     "/admin/api/backend_apis/999/metrics.json", "/admin/api/no/such/route.json"] {
            let r = await p.call("GET", path)
            #expect(r.status == 404, "\(path)")
            #expect(r.json == .object(["status": "Not found"]))
        }
        #expect(await p.call("GET", "/admin/api/services.xml").status == 406)
    }

    @Test func validationErrorsNameTheFields() async throws {
        let p = try await TestPlatform.make()
        let r = await p.call("POST", "/admin/api/services/1/metrics.json", json: "{}")
        #expect(r.status == 422)
        #expect(r.json?["errors"]?.objectValue?.keys.sorted() == ["friendly_name", "unit"])
        let dup = await p.call("POST", "/admin/api/services/1/metrics.json", json: #"{"friendly_name":"Hits","unit":"hit"}"#)
        #expect(dup.json?["errors"]?["system_name"] != nil)
        let rule = await p.call("POST", "/admin/api/services/1/proxy/mapping_rules.json", json: #"{"pattern":"/x"}"#)
        #expect(Set(rule.json?["errors"]?.objectValue?.keys ?? []) == ["delta", "http_method", "metric_id"])
        let invalid = await p.call("POST", "/admin/api/services/1/metrics.json", json: #"{"friendly_name":"x","system_name":"invalid name whitespaces","unit":"u"}"#)
        #expect(invalid.json?["errors"]?["system_name"] != nil)
    }

    @Test func lenientInputFormQueryAndWrapped() async throws {
        let p = try await TestPlatform.make()
        #expect(await p.call("POST", "/admin/api/services.json", form: "name=Form+Made&unknown=1").json?["service"]?["system_name"] == "form_made")
        #expect(await p.call("POST", "/admin/api/services.json?name=QueryMade").status == 201)
        let wrapped = await p.call("POST", "/admin/api/services.json", json: #"{"service":{"name":"Wrapped","backend_version":"2"}}"#)
        #expect(wrapped.json?["service"]?["backend_version"] == "2")
        #expect(await p.call("POST", "/admin/api/services.json", json: #"{"service":"oops"}"#).status == 422)
    }

    @Test func paginationEndsWithAnEmptyPage() async throws {
        let p = try await TestPlatform.make()
        for i in 0..<3 { _ = await p.call("POST", "/admin/api/backend_apis.json", json: #"{"name":"b\#(i)","private_endpoint":"http://b\#(i).test"}"#) }
        let page1 = await p.call("GET", "/admin/api/backend_apis.json?page=1&per_page=2").json?["backend_apis"]?.arrayValue
        let page2 = await p.call("GET", "/admin/api/backend_apis.json?page=2&per_page=2").json?["backend_apis"]?.arrayValue
        let page9 = await p.call("GET", "/admin/api/backend_apis.json?page=9&per_page=2").json?["backend_apis"]?.arrayValue
        #expect(page1?.count == 2 && page2?.count == 2 && page9?.count == 0)  // the seed's implicit backend makes 4
        #expect(page1?.first?["backend_api"]?["private_endpoint"] == "https://echo-api.3scale.net:443")
    }

    @Test func applicationKeysWithAnyPrintableCharacters() async throws {
        let p = try await TestPlatform.make()
        let v2 = await p.call("POST", "/admin/api/services.json", json: #"{"name":"V2","backend_version":"2"}"#)
        let sid = try #require(v2.json?["service"]?["id"]?.int)
        let plan = await p.call("POST", "/admin/api/services/\(sid)/application_plans.json", json: #"{"name":"p"}"#)
        let pid = try #require(plan.json?["application_plan"]?["id"]?.int)
        let aid = try #require(await p.call("GET", "/admin/api/accounts.json").json?["accounts"]?.arrayValue?.first?["account"]?["id"]?.int)
        let app = await p.call("POST", "/admin/api/accounts/\(aid)/applications.json", json: #"{"name":"a","description":"d","plan_id":\#(pid)}"#)
        #expect(app.status == 201)
        #expect(app.json?["application"]?["application_id"]?.stringValue?.count == 8)
        let appID = try #require(app.json?["application"]?["id"]?.int)
        let key = #"a/b%c+d?e#f"g\h&i=j k"#.replacingOccurrences(of: " ", with: "~")
        let escaped = JSONValue.string(key).serializedString
        let created = await p.call("POST", "/admin/api/accounts/\(aid)/applications/\(appID)/keys.json", json: #"{"key":\#(escaped)}"#)
        #expect(created.status == 201)
        let keys = await p.call("GET", "/admin/api/accounts/\(aid)/applications/\(appID)/keys.json").json?["keys"]?.arrayValue ?? []
        #expect(keys.contains { $0["key"]?["value"]?.stringValue == key })
        let encoded = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? key
        #expect(await p.call("DELETE", "/admin/api/accounts/\(aid)/applications/\(appID)/keys/\(encoded).json").status == 200)
        #expect(await p.call("GET", "/admin/api/accounts/\(aid)/applications/\(appID)/keys/\(encoded).json").status == 404)
        let after = await p.call("GET", "/admin/api/accounts/\(aid)/applications/\(appID)/keys.json").json?["keys"]?.arrayValue ?? []
        #expect(!after.contains { $0["key"]?["value"]?.stringValue == key })
    }

    @Test func proxyUpdatesDeployVersionsAndPromotionKeepsThem() async throws {
        let p = try await TestPlatform.make()
        let s = await p.call("POST", "/admin/api/services.json", json: #"{"name":"Deployed"}"#)
        let sid = try #require(s.json?["service"]?["id"]?.int)
        let proxy = await p.call("GET", "/admin/api/services/\(sid)/proxy.json")
        #expect(proxy.json?["proxy"]?["id"] == nil)
        #expect(proxy.json?["proxy"]?["sandbox_endpoint"] == "http://deployed-provider-apicast-staging.localhost:8081")
        for path in ["/get", "/get"] {
            let r = await p.call("PUT", "/admin/api/services/\(sid)/proxy.json", json: #"{"api_backend":"http://www.httpbin.org","api_test_path":"\#(path)"}"#)
            #expect(r.json?["proxy"]?["api_backend"] == "http://www.httpbin.org:80")
        }
        let list = await p.call("GET", "/admin/api/services/\(sid)/proxy/configs/staging.json").json?["proxy_configs"]?.arrayValue ?? []
        #expect(list.compactMap { $0["proxy_config"]?["version"]?.int } == [1, 2])
        let deployed = await p.call("POST", "/admin/api/services/\(sid)/proxy/deploy.json")
        #expect(deployed.status == 201)
        let latest = await p.call("GET", "/admin/api/services/\(sid)/proxy/configs/sandbox/latest.json").json?["proxy_config"]
        #expect(latest?["version"] == .int(2))  // deploy without changes does not re-version
        #expect(latest?["content"]?["proxy"]?["api_backend"] == "http://www.httpbin.org:80")
        #expect(latest?["environment"] == "sandbox")
        #expect(await p.call("POST", "/admin/api/services/\(sid)/proxy/configs/sandbox/2/promote.json").status == 400)
        let promoted = await p.call("POST", "/admin/api/services/\(sid)/proxy/configs/sandbox/2/promote.json", json: #"{"to":"production"}"#)
        #expect(promoted.status == 201)
        #expect(promoted.json?["proxy_config"]?["version"] == .int(2))
        #expect(promoted.json?["proxy_config"]?["environment"] == "production")
        #expect(await p.call("POST", "/admin/api/services/\(sid)/proxy/configs/sandbox/2/promote.json", json: #"{"to":"production"}"#).status == 422)
        let polled = await p.call("GET", "/admin/api/account/proxy_configs/production.json?host=deployed-provider-apicast-production.localhost")
        #expect(polled.json?["proxy_configs"]?.arrayValue?.count == 1)
    }

    @Test func policyChainsEchoWhatWasSent() async throws {
        let p = try await TestPlatform.make()
        let chain = #"[{"name":"apicast","version":"builtin","configuration":{},"enabled":true},{"name":"echo","version":"builtin","configuration":{"status":201},"enabled":true}]"#
        let r = await p.call("PUT", "/admin/api/services/1/proxy/policies.json", json: #"{"policies_config":\#(chain)}"#)
        #expect(r.json?["policies_config"] == (try JSONParser.parse(chain)))
        let configs = await p.call("GET", "/admin/api/services/1/proxy/configs/sandbox.json").json?["proxy_configs"]?.arrayValue ?? []
        let names = configs.last?["proxy_config"]?["content"]?["proxy"]?["policy_chain"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["apicast", "echo"])
    }

    @Test func signupCreatesSubscriptionsAndApplications() async throws {
        let p = try await TestPlatform.make()
        let r = await p.call("POST", "/admin/api/signup.json", json: #"{"org_name":"Org","username":"dev"}"#)
        #expect(r.status == 201)
        let aid = try #require(r.json?["account"]?["id"]?.int)
        #expect(await p.call("GET", "/admin/api/accounts/\(aid)/plan.json").json?["account_plan"]?["name"] == "Default")
        #expect(await p.call("GET", "/admin/api/accounts/\(aid)/service_subscriptions.json").json?["service_subscriptions"]?.arrayValue?.count == 1)
        let apps = await p.call("GET", "/admin/api/accounts/\(aid)/applications.json").json?["applications"]?.arrayValue ?? []
        #expect(apps.first?["application"]?["plan_name"] == "Basic")
        #expect(apps.first?["application"]?["user_key"]?.stringValue?.count == 32)
        let dup = await p.call("POST", "/admin/api/signup.json", json: #"{"org_name":"Org2","username":"dev"}"#)
        #expect(dup.status == 422)
        let found = await p.call("GET", "/admin/api/accounts/find.json", json: #"{"username":"dev"}"#)
        #expect(found.json?["account"]?["id"] == .int(aid))
    }

    @Test func masterCreatesAndSchedulesTenantDeletion() async throws {
        let p = try await TestPlatform.make()
        let tenant = try await p.createTenant("org")
        #expect(tenant.host == "org-admin.localhost:3000")
        #expect(await p.call("GET", "/admin/api/services.json", host: tenant.host, token: tenant.token).status == 200)
        let master = "master.localhost"
        #expect(await p.call("DELETE", "/master/api/providers/\(tenant.id).json", host: master, token: TestPlatform.masterToken).status == 200)
        #expect(await p.call("DELETE", "/master/api/providers/\(tenant.id).json", host: master, token: TestPlatform.masterToken).status == 404)
        #expect(await p.call("GET", "/master/api/providers/\(tenant.id).json", host: master, token: TestPlatform.masterToken)
            .json?["account"]?["state"] == "scheduled_for_deletion")
        let suspended = await p.call("GET", "/admin/api/services.json", host: tenant.host, token: tenant.token)
        #expect(suspended.status == 403 && suspended.body.isEmpty)
    }
}
