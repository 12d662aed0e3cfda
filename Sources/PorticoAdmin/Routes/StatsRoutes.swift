import PorticoCore
import PorticoMeteringStore
import PorticoStore

/// The Analytics API (reference/admin-api.md §3.17, scope `stats`): usage series and top applications read
/// from metering's counters in apisonator's layout, the way porta reads its backend's Redis.
enum StatsRoutes {
    static let scope = RouteArea.tenant(scopes: ["stats"])

    static func register(into r: inout AdminRouter) {
        r.get("/stats/services/:service_id/usage", area: scope) { call in
            let product = try await call.requireProduct()
            let metric = try await requireMetric(call, product: product)
            let window = try UsageWindow(call.params, now: call.now)
            let values = try await series(call, window) { period, t in
                ApisonatorKeys.serviceUsage(String(product.id), metric: String(metric.id), period, at: t)
            }
            return .json(usageDocument(call, subject: ("metric", metricDetail(metric)), window: window, values: values))
        }
        r.get("/stats/services/:service_id/usage_response_code", area: scope) { call in
            let product = try await call.requireProduct()
            let code = try responseCode(call)
            let window = try UsageWindow(call.params, now: call.now)
            let values = try await series(call, window) { period, t in
                ApisonatorKeys.serviceResponseCode(String(product.id), code: code, period, at: t)
            }
            return .json(usageDocument(call, subject: ("response_code", .object(["code": .string(code)])), window: window, values: values))
        }
        r.get("/stats/applications/:application_id/usage", area: scope) { call in
            let app = try await requireApplication(call)
            let product = try await call.requireProduct(app.productID)
            let metric = try await requireMetric(call, product: product)
            let window = try UsageWindow(call.params, now: call.now)
            let values = try await series(call, window) { period, t in
                ApisonatorKeys.applicationUsage(String(product.id), app: app.applicationID, metric: String(metric.id), period, at: t)
            }
            var document = usageDocument(call, subject: ("metric", metricDetail(metric)), window: window, values: values)
            document["application"] = try await applicationDetail(call, app)
            return .json(document)
        }
        r.get("/stats/applications/:application_id/usage_response_code", area: scope) { call in
            let app = try await requireApplication(call)
            let code = try responseCode(call)
            let window = try UsageWindow(call.params, now: call.now)
            let values = try await series(call, window) { period, t in
                ApisonatorKeys.applicationResponseCode(String(app.productID), app: app.applicationID, code: code, period, at: t)
            }
            var document = usageDocument(call, subject: ("response_code", .object(["code": .string(code)])), window: window, values: values)
            document["application"] = try await applicationDetail(call, app)
            return .json(document)
        }
        r.get("/stats/services/:service_id/top_applications", area: scope) { call in
            let product = try await call.requireProduct()
            let metric = try await requireMetric(call, product: product)
            return .json(try await topApplications(call, product: product, metric: metric))
        }
    }

    // MARK: lookups

    static func counters(_ call: AdminCall) throws -> any MeteringStorage {
        guard let counters = call.environment.counters else {
            throw AdminError(.unavailable("analytics needs metering's counters: run admin together with metering (portico serve), or set REDIS_STORAGE_URL to metering's Redis"))
        }
        return counters
    }

    /// `metric_name` among the product's metrics and those of the backends it uses (porta's `all_metrics`).
    static func requireMetric(_ call: AdminCall, product: Product) async throws -> Metric {
        guard let name = call.params.nonEmpty("metric_name") else { throw AdminError(.badRequest("Missing key(s): metric_name")) }
        var candidates = try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.product(product.id))
        for usage in try await call.store.list(BackendUsage.self, tenantID: call.tenantID, scope: RecordScope.product(product.id)) {
            candidates += try await call.store.list(Metric.self, tenantID: call.tenantID, scope: RecordScope.backend(usage.backendID))
        }
        guard let metric = candidates.first(where: { $0.systemName == name }) else { throw AdminError(.badRequest("metric \(name) not found")) }
        return metric
    }

    static func requireApplication(_ call: AdminCall) async throws -> ClientApplication {
        guard let app = try await call.store.find(ClientApplication.self, tenantID: call.tenantID, id: try call.id("application_id")),
            call.principal.mayAccess(productID: app.productID)
        else { throw AdminError.notFound }
        return app
    }

    /// `response_code`: a class (`2XX`, `4XX`, `5XX`) or one of the codes apisonator counts on their own.
    static func responseCode(_ call: AdminCall) throws -> String {
        guard let code = call.params.nonEmpty("response_code")?.uppercased() else { throw AdminError(.badRequest("Missing key(s): response_code")) }
        guard ["2XX", "4XX", "5XX", "200", "403", "404", "500", "503"].contains(code) else {
            throw AdminError(.badRequest("response_code must be one of 2XX, 4XX, 5XX, 200, 403, 404, 500, 503 (got \(code))"))
        }
        return code
    }

    // MARK: documents

    static func metricDetail(_ m: Metric) -> JSONValue {
        .object(["id": .int(m.id), "name": .string(m.friendlyName), "system_name": .string(m.systemName), "unit": .string(m.unit)])
    }

    static func applicationDetail(_ call: AdminCall, _ app: ClientApplication) async throws -> JSONValue {
        let plan = try await call.store.find(Plan.self, tenantID: call.tenantID, id: app.planID)
        let account = try await call.store.find(Account.self, tenantID: call.tenantID, id: app.accountID)
        return .object([
            "id": .int(app.id), "name": .string(app.name), "state": .string(app.state.rawValue), "description": .optional(app.description),
            "plan": .object(["id": .int(app.planID), "name": .optional(plan?.name)]),
            "account": .object(["id": .int(app.accountID), "name": .optional(account?.orgName)]),
            "service": .object(["id": .int(app.productID)]),
        ])
    }

    static func usageDocument(_ call: AdminCall, subject: (String, JSONValue), window: UsageWindow, values: (current: [Int64], previous: [Int64]?)) -> JSONObject {
        let total = values.current.reduce(0, +)
        var document: JSONObject = [
            subject.0: subject.1,
            "period": .object([
                "name": .optional(window.periodName), "since": .string(window.since.iso8601), "until": .string(window.until.iso8601),
                "timezone": "Etc/UTC", "granularity": window.granularity.jsonName,
            ]),
            "total": .int(total),
            "values": .array(values.current.map { .int($0) }),
        ]
        if let previous = values.previous {
            let previousTotal = previous.reduce(0, +)
            document["previous_total"] = .int(previousTotal)
            // Rails' percentage_change_from: 0 when both are 0, 100 when growing from 0.
            let change: Double = previousTotal == 0 ? (total == 0 ? 0 : 100) : (Double(total - previousTotal) / Double(previousTotal)) * 100
            document["change"] = .double(change)
        }
        return document
    }

    /// Counter values of the window (and of the window before it, unless `skip_change` is not `false`), one
    /// round trip to the store.
    static func series(_ call: AdminCall, _ window: UsageWindow, key: (LimitPeriod, Timestamp) -> String) async throws -> (current: [Int64], previous: [Int64]?) {
        let counters = try counters(call)
        let current = window.buckets()
        let previous = window.skipChange ? nil : window.previousWindow().buckets()
        let all = current + (previous ?? [])
        var keys: [String] = []
        for bucket in all { keys += bucket.map { key($0.period, $0.at) } }
        let raw = try await counters.get(keys)
        var index = 0
        var sums: [Int64] = []
        for bucket in all {
            var sum: Int64 = 0
            for _ in bucket {
                sum += raw[index].flatMap { Int64($0) } ?? 0
                index += 1
            }
            sums.append(sum)
        }
        return (Array(sums[..<current.count]), previous.map { _ in Array(sums[current.count...]) })
    }

    static func topApplications(_ call: AdminCall, product: Product, metric: Metric) async throws -> JSONObject {
        guard let periodName = call.params.nonEmpty("period"), let period = UsageWindow.Period(rawValue: periodName) else {
            throw AdminError(.badRequest("Period must be one of [\"year\", \"month\", \"week\", \"day\"] not \(call.params.string("period").map { "\"\($0)\"" } ?? "nil")"))
        }
        try UsageWindow.requireUTC(call.params)
        let since = try call.params.nonEmpty("since").map { try UsageWindow.parseTime($0) } ?? call.now
        let start = period.limitPeriod.start(containing: since)
        let end = period.limitPeriod.end(containing: since)
        let counters = try counters(call)
        let sid = String(product.id)
        let traffic = try await counters.members(ApisonatorKeys.serviceCinstances(sid))
        let values = traffic.isEmpty ? [] : try await counters.get(traffic.map {
            ApisonatorKeys.applicationUsage(sid, app: $0, metric: String(metric.id), period.limitPeriod, at: start)
        })
        let limit = max(1, Int(call.params.int("limit") ?? 10))
        let ranked = zip(traffic, values).compactMap { id, v in v.flatMap { Int64($0) }.map { (id, $0) } }
            .filter { $0.1 != 0 }
            .sorted { ($0.1, $1.0) > ($1.1, $0.0) }
        let apps = try await call.store.list(ClientApplication.self, tenantID: call.tenantID).filter { $0.productID == product.id }
        let byBackendID = Dictionary(apps.map { ($0.applicationID, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [JSONValue] = []
        for (id, value) in ranked {
            guard rows.count < limit else { break }
            guard let app = byBackendID[id], let account = try await call.store.find(Account.self, tenantID: call.tenantID, id: app.accountID) else { continue }
            let plan = try await call.store.find(Plan.self, tenantID: call.tenantID, id: app.planID)
            rows.append(.object([
                "name": .string(app.name), "id": .int(app.id), "value": .int(value),
                "account": .object(["id": .int(account.id), "name": .string(account.orgName)]),
                "plan": .object(["id": .int(app.planID), "name": .optional(plan?.name)]),
                "service": .object(["id": .int(product.id)]),
            ]))
        }
        return [
            "applications": .array(rows),
            "metric": metricDetail(metric),
            "period": .object(["name": .string(periodName), "since": .string(start.iso8601),
                               "until": .string(Timestamp(secondsSinceEpoch: end.secondsSinceEpoch - 1).iso8601)]),
        ]
    }
}
