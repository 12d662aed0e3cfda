import Logging
import PorticoCore
@testable import PorticoMetering
import PorticoMeteringStore
import Synchronization
import Testing

/// A metering instance on the embedded store with a fixed clock, configured through the same operations the
/// internal API and admin's sync use.
struct MeteringFixture {
    static let now = Timestamp(iso8601: "2010-05-15T22:59:59Z")!
    let storage: EmbeddedMeteringStorage
    let configuration: MeteringConfiguration
    let api: ServiceManagementAPI
    let processor: ReportProcessor
    let jobs: CollectingQueue

    final class CollectingQueue: ReportQueue, Sendable {
        let jobs = Mutex<[ReportJob]>([])
        func enqueue(_ job: ReportJob) async throws { jobs.withLock { $0.append(job) } }
    }

    init() async throws {
        let ms: @Sendable () -> Int64 = { MeteringFixture.now.secondsSinceEpoch * 1000 }
        storage = EmbeddedMeteringStorage(clockMilliseconds: ms)
        configuration = MeteringConfiguration(storage: storage, cacheTTLMilliseconds: nil, clockMilliseconds: ms)
        jobs = CollectingQueue()
        api = ServiceManagementAPI(configuration: configuration, reports: jobs, internalCredentials: nil, clock: { MeteringFixture.now },
                                   logger: Logger(label: "test"))
        processor = ReportProcessor(configuration: configuration, clock: { MeteringFixture.now })
        try await configuration.saveService(MeteredService(id: "1001", providerKey: "pk", backendVersion: "2", referrerFiltersRequired: true, state: "active"),
                                            makeDefault: nil)
        try await configuration.saveService(MeteredService(id: "1002", providerKey: "pk", backendVersion: "1", referrerFiltersRequired: false, state: "active"),
                                            makeDefault: nil)
        try await configuration.saveService(MeteredService(id: "2001", providerKey: "other", backendVersion: "oauth", referrerFiltersRequired: false,
                                                           state: "active"), makeDefault: nil)
        try await configuration.saveServiceToken("tok", serviceID: "1001")
        for sid in ["1001", "1002", "2001"] {
            try await configuration.saveMetric(serviceID: sid, MeteredMetric(id: "\(sid)1", name: "hits", parentID: nil))
            try await configuration.saveMetric(serviceID: sid, MeteredMetric(id: "\(sid)2", name: "search", parentID: "\(sid)1"))
            try await configuration.saveMetric(serviceID: sid, MeteredMetric(id: "\(sid)3", name: "update", parentID: "\(sid)1"))
        }
        try await configuration.saveApplication(MeteredApplication(serviceID: "1001", id: "app", state: "active", planID: "p1", planName: "Basic", redirectURL: nil))
        try await configuration.addApplicationKeys(serviceID: "1001", applicationID: "app", ["secret"])
        try await configuration.saveApplication(MeteredApplication(serviceID: "1001", id: "open", state: "active", planID: "p1", planName: "Basic", redirectURL: nil))
        try await configuration.saveApplication(MeteredApplication(serviceID: "1001", id: "sleepy", state: "suspended", planID: "p1", planName: "Basic",
                                                                   redirectURL: nil))
        try await configuration.saveApplication(MeteredApplication(serviceID: "1002", id: "legacy", state: "active", planID: "p2", planName: "Pro", redirectURL: nil))
        try await configuration.setUserKey(serviceID: "1002", userKey: "uk", applicationID: "legacy")
        try await configuration.saveApplication(MeteredApplication(serviceID: "2001", id: "client", state: "active", planID: "p3", planName: "OIDC",
                                                                   redirectURL: "https://app.example.com/cb"))
        try await configuration.addApplicationKeys(serviceID: "2001", applicationID: "client", ["client-secret"])
        try await configuration.saveUsageLimit(serviceID: "1001", planID: "p1", metricID: "10011", period: .day, value: 100)
        try await configuration.saveUsageLimit(serviceID: "1001", planID: "p1", metricID: "10011", period: .hour, value: 10)
        try await configuration.saveUsageLimit(serviceID: "1001", planID: "p1", metricID: "10013", period: .month, value: 0)
    }

    func get(_ target: String, options: String? = nil) async -> MeteringResponse {
        await api.handle(MeteringRequest(method: "GET", target: target, options: options))
    }

    func body(_ r: MeteringResponse) -> String { String(decoding: r.body, as: UTF8.self) }
}

@Suite struct ServiceManagementAPITests {
    @Test func authorizedReplyIsApisonatorsDocument() async throws {
        let f = try await MeteringFixture()
        let r = await f.get("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "application/vnd.3scale-v2.0+xml")
        #expect(f.body(r) == #"<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Basic</plan><usage_reports>"#
            + #"<usage_report metric="hits" period="day"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end>"#
            + #"<max_value>100</max_value><current_value>0</current_value></usage_report>"#
            + #"<usage_report metric="hits" period="hour"><period_start>2010-05-15 22:00:00 +0000</period_start><period_end>2010-05-15 23:00:00 +0000</period_end>"#
            + #"<max_value>10</max_value><current_value>0</current_value></usage_report>"#
            + #"<usage_report metric="update" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end>"#
            + #"<max_value>0</max_value><current_value>0</current_value></usage_report></usage_reports></status>"#)
    }

    /// Every exception row of reference/service-management-api.md §4 that a request can trigger synchronously.
    @Test(arguments: [
        ("/transactions/authorize.xml?app_id=app", 403, "provider_key_or_service_token_required"),
        ("/transactions/authorize.xml?service_token=tok&app_id=app", 422, "service_id_missing"),
        ("/transactions/authorize.xml?service_token=bad&service_id=1001&app_id=app", 403, "service_token_invalid"),
        ("/transactions/authorize.xml?provider_key=nope&app_id=app", 403, "provider_key_invalid_or_service_missing"),
        ("/transactions/authorize.xml?provider_key=nope&service_id=1001&app_id=app", 403, "provider_key_invalid"),
        ("/transactions/authorize.xml?provider_key=other&service_id=1001&app_id=app", 403, "service_id_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&service_id=999&app_id=app", 403, "service_id_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=ghost", 404, "application_not_found"),
        ("/transactions/authorize.xml?provider_key=pk&user_key=uk", 404, "application_not_found"),
        ("/transactions/authorize.xml?provider_key=pk&service_id=1002&app_id=legacy", 403, "user_key_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&service_id=1002&user_key=zzz", 403, "user_key_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&user_key=uk", 403, "authentication_error"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bnope%5D=1", 404, "metric_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bhits%5D=-1", 403, "usage_value_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bhits%5D=%23%233", 403, "usage_value_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=%FF", 422, "not_valid_data"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&user_id=u", 400, "end_users_no_longer_supported"),
        ("/transactions/authorize.xml?provider_key=nope&user_id=u", 400, "end_users_no_longer_supported"),
        ("/transactions/authorize.xml?provider_key=pk&usage%5B%5D=1&usage%5Bhits%5D=1", 400, "bad_request"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=%ZZ", 400, "bad_request"),
        ("/transactions/oauth_authorize.xml?provider_key=other", 404, "application_not_found"),
    ])
    func exceptions(target: String, status: Int, code: String) async throws {
        let f = try await MeteringFixture()
        let r = await f.get(target)
        #expect(r.status == status, "\(target)")
        #expect(f.body(r).contains(#"<error code="\#(code)">"#), "\(target): \(f.body(r))")
        #expect(r.header("Content-Security-Policy") == nil)
        let quiet = await f.get(target, options: "no_body=1")
        #expect(quiet.status == status && quiet.body.isEmpty)
    }

    @Test func nonHashUsageIsABare403() async throws {
        let f = try await MeteringFixture()
        for target in ["/transactions/authorize.xml?provider_key=pk&app_id=app&usage=", "/transactions/authrep.xml?provider_key=pk&app_id=app&usage=1001"] {
            let r = await f.get(target)
            #expect(r.status == 403 && r.body.isEmpty)
        }
    }

    /// Rejections are 409 with a `<status>` body, in validator order.
    @Test(arguments: [
        ("/transactions/authorize.xml?provider_key=pk&app_id=app", "application key is missing", "application_key_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=wrong", #"application key "wrong" is invalid"#, "application_key_invalid"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=sleepy", "application is not active", "application_not_active"),
        ("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bupdate%5D=1", "usage limits are exceeded", "limits_exceeded"),
        ("/transactions/oauth_authorize.xml?provider_key=pk&app_id=app", "oauth is not enabled", "oauth_not_enabled"),
        ("/transactions/oauth_authorize.xml?provider_key=other&app_id=client&redirect_uri=https://evil", #"redirect_uri "https://evil" is invalid"#,
         "redirect_uri_invalid"),
        ("/transactions/oauth_authorize.xml?provider_key=other&app_id=client&app_key=", "application key is missing", "application_key_invalid"),
    ])
    func rejections(target: String, reason: String, code: String) async throws {
        let f = try await MeteringFixture()
        let r = await f.get(target, options: "rejection_reason_header=1")
        #expect(r.status == 409, "\(target)")
        #expect(f.body(r).contains("<authorized>false</authorized><reason>\(reason)</reason>"), "\(f.body(r))")
        #expect(r.header("3scale-rejection-reason") == code)
    }

    @Test func referrerFiltersAreEnforcedWhenTheServiceRequiresThem() async throws {
        let f = try await MeteringFixture()
        try await f.configuration.addReferrerFilters(serviceID: "1001", applicationID: "open", ["*.bar.example.org"])
        let base = "/transactions/authorize.xml?provider_key=pk&app_id=open"
        #expect(await f.get(base + "&referrer=foo.bar.example.org").status == 200)
        #expect(await f.get(base + "&referrer=*").status == 200)
        let missing = await f.get(base)
        #expect(missing.status == 409 && f.body(missing).contains("referrer is missing"))
        let wrong = await f.get(base + "&referrer=fooXbar.example.org.evil")
        #expect(wrong.status == 409 && f.body(wrong).contains(#"referrer "fooXbar.example.org.evil" is not allowed"#))
        #expect(ReferrerFilter.matches(filter: "*.bar.example.org", referrer: "a.b.bar.example.org"))
        #expect(!ReferrerFilter.matches(filter: "bar.example.org", referrer: "xbar.example.org"))
    }

    @Test func authrepCountsExactlyUpToTheLimitAndShowsTheNewValue() async throws {
        let f = try await MeteringFixture()
        let target = "/transactions/authrep.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bsearch%5D=3"
        let first = await f.get(target)
        #expect(first.status == 200)
        // search is a child of hits: hits shows 3 already in this reply.
        #expect(f.body(first).contains(#"period="hour"><period_start>2010-05-15 22:00:00 +0000</period_start><period_end>2010-05-15 23:00:00 +0000</period_end><max_value>10</max_value><current_value>3</current_value>"#))
        #expect(await f.get(target).status == 200)
        #expect(await f.get(target).status == 200)  // 9 of 10
        let over = await f.get(target, options: "limit_headers=1")
        #expect(over.status == 409)
        #expect(f.body(over).contains("<current_value>9</current_value>"))
        #expect(!f.body(over).contains(#"exceeded="true""#))  // stored 9 is not above 10
        #expect(over.header("3scale-limit-remaining") == "0")
        #expect(over.header("3scale-limit-reset") == "1")  // 22:59:59, the hour ends in one second
        #expect(over.header("3scale-limit-max-value") == "10")
        let one = await f.get("/transactions/authrep.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bhits%5D=1", options: "limit_headers=1")
        #expect(one.status == 200 && one.header("3scale-limit-remaining") == "0")
        // Usage-less authorize at exactly the max is still authorized.
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret").status == 200)
        // The counters use apisonator's keys.
        let keys = try await f.storage.get([
            "stats/{service:1001}/cinstance:app/metric:10011/hour:2010051522", "stats/{service:1001}/cinstance:app/metric:10012/eternity",
            "stats/{service:1001}/metric:10011/day:20100515", "stats/{service:1001}/cinstance:app/metric:10011/minute:201005152259",
        ])
        #expect(keys == ["10", "9", "10", "10"])
    }

    @Test func concurrentAuthrepsNeverOvershoot() async throws {
        let f = try await MeteringFixture()
        let target = "/transactions/authrep.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bhits%5D=1"
        let statuses = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<64 { group.addTask { await f.get(target).status } }
            var out: [Int] = []
            for await s in group { out.append(s) }
            return out
        }
        #expect(statuses.filter { $0 == 200 }.count == 10)
        #expect(statuses.filter { $0 == 409 }.count == 54)
    }

    @Test func disabledMetricRejectsUsageButNotAUsagelessAuthorize() async throws {
        let f = try await MeteringFixture()
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret").status == 200)
        let r = await f.get("/transactions/authrep.xml?provider_key=pk&app_id=app&app_key=secret&usage%5Bupdate%5D=1", options: "limit_headers=1")
        #expect(r.status == 409 && r.header("3scale-limit-max-value") == "0")
        // Nothing was counted.
        #expect(try await f.storage.get(["stats/{service:1001}/cinstance:app/metric:10011/eternity"]) == [nil])
    }

    @Test func extensionsAddKeysHierarchyAndOAuthApplication() async throws {
        let f = try await MeteringFixture()
        let r = await f.get("/transactions/authorize.xml?provider_key=pk&app_id=app&app_key=secret", options: "list_app_keys=1&hierarchy=1")
        #expect(f.body(r).contains(#"<app_keys app="app" svc="1001"><key id="secret"/></app_keys>"#))
        #expect(f.body(r).contains(#"<hierarchy><metric name="hits" children="search update"/><metric name="hits" children="search update"/><metric name="update" children=""/></hierarchy>"#))
        let o = await f.get("/transactions/oauth_authrep.xml?provider_key=other&app_id=client&redirect_url=https://app.example.com/cb")
        #expect(o.status == 200)
        #expect(f.body(o).contains("<application><id>client</id><key>client-secret</key><redirect_url>https://app.example.com/cb</redirect_url></application>"))
        // OIDC through the plain endpoint: no app_key is fine.
        #expect(await f.get("/transactions/authrep.xml?provider_key=other&app_id=client").status == 200)
    }

    @Test func userKeyServiceAndServiceTokenCredentials() async throws {
        let f = try await MeteringFixture()
        #expect(await f.get("/transactions/authrep.xml?provider_key=pk&service_id=1002&user_key=uk&usage%5Bhits%5D=2").status == 200)
        #expect(await f.get("/transactions/authorize.xml?service_token=tok&service_id=1001&app_id=open").status == 200)
        // provider_key wins over an unknown token.
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&service_token=unknown&app_id=open").status == 200)
        // The legacy "prefix-id" service id form.
        #expect(await f.get("/transactions/authorize.xml?provider_key=pk&service_id=legacy-1002&user_key=uk").status == 200)
    }

    @Test func probesAndCORS() async throws {
        let f = try await MeteringFixture()
        let status = await f.get("/status")
        #expect(f.body(status) == #"{"status":"ok","version":{"backend":"3.4.3"}}"#)
        #expect(f.body(await f.get("/check.txt")) == "ok")
        #expect(await f.api.handle(MeteringRequest(method: "HEAD", target: "/available")).status == 200)
        let options = await f.api.handle(MeteringRequest(method: "OPTIONS", target: "/transactions/authrep.xml"))
        #expect(options.status == 204 && options.header("Access-Control-Max-Age") == "86400")
        let wrong = await f.api.handle(MeteringRequest(method: "POST", target: "/transactions/authrep.xml"))
        #expect(wrong.status == 404 && wrong.body.isEmpty && wrong.header("Access-Control-Allow-Origin") == "*")
    }

    @Test func reportsValidateSynchronouslyThenApplyAllOrNothing() async throws {
        let f = try await MeteringFixture()
        func post(_ body: String, contentType: String? = "application/x-www-form-urlencoded") async -> MeteringResponse {
            await f.api.handle(MeteringRequest(method: "POST", target: "/transactions.xml", contentType: contentType, body: Array(body.utf8)))
        }
        #expect(await post("provider_key=pk", contentType: "application/json").status == 400)
        #expect(await post("transactions[0][app_id]=app").status == 403)
        let blank = await post("provider_key=pk")
        #expect(blank.status == 400 && f.body(blank).contains("transactions_is_blank"))
        #expect(f.body(await post("provider_key=pk&transactions=x")).contains("transactions_format_invalid"))
        #expect(f.body(await post("provider_key=pk&transactions[0]=x")).contains("transactions_has_nil_transaction"))
        let ok = await post("provider_key=pk&transactions[0][app_id]=app&transactions[0][usage][hits]=2&transactions[0][log][code]=200"
            + "&transactions[1][app_id]=open&transactions[1][usage][search]=1&transactions[1][timestamp]=2010-05-15%2023:30:00%20%2B0200")
        #expect(ok.status == 202 && ok.body.isEmpty)
        let job = try #require(f.jobs.jobs.withLock { $0.first })
        try await f.processor.process(job)
        let values = try await f.storage.get([
            "stats/{service:1001}/cinstance:app/metric:10011/day:20100515", "stats/{service:1001}/response_code:2XX/hour:2010051522",
            "stats/{service:1001}/cinstance:open/metric:10011/hour:2010051521", "stats/{service:1001}/metric:10011/eternity",
        ])
        #expect(values == ["2", "1", "1", "3"])
        // One bad transaction voids the batch and lands in the integration errors.
        let bad = ReportJob(serviceID: "1001", transactions: [
            .hash(["app_id": .string("app"), "usage": .hash(["hits": .string("5")], order: ["hits"])], order: ["app_id", "usage"]),
            .hash(["app_id": .string("ghost"), "usage": .hash(["hits": .string("1")], order: ["hits"])], order: ["app_id", "usage"]),
        ], enqueuedAt: MeteringFixture.now, flatUsage: false, extensions: [:])
        try await f.processor.process(bad)
        #expect(try await f.storage.get(["stats/{service:1001}/metric:10011/eternity"]) == ["3"])
        let errors = try await f.storage.listRange("errors/service_id:1001", start: 0, stop: -1)
        #expect(errors.count == 1 && errors[0].contains(#""code":"application_not_found""#))
    }
}
