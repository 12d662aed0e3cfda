import PorticoCore
import PorticoMeteringStore

/// The JSON API under `/internal` through which porta (or Portico admin, when the roles run apart) pushes
/// configuration to metering (reference/service-management-api.md §7).
public struct InternalAPI: Sendable {
    /// `CONFIG_INTERNAL_API_USER` / `CONFIG_INTERNAL_API_PASSWORD`; when set, every call needs Basic auth.
    public struct Credentials: Sendable {
        public var user: String
        public var password: String
        public init(user: String, password: String) {
            self.user = user
            self.password = password
        }
    }

    let configuration: MeteringConfiguration
    let errors: IntegrationErrorLog
    let credentials: Credentials?
    let clock: @Sendable () -> Timestamp

    struct Failure: Error {
        var status: Int
        var body: JSONObject
    }

    static func notFound(_ message: String = "Not found") -> Failure { Failure(status: 404, body: ["status": "not_found", "error": .string(message)]) }
    static func missing(_ name: String) -> Failure { Failure(status: 400, body: ["status": "error", "error": .string("missing parameter '\(name)'")]) }

    func handle(_ request: MeteringRequest) async -> MeteringResponse {
        if let credentials {
            guard let header = request.authorization, Self.basicMatches(header, credentials) else {
                var r = MeteringResponse.json(401, ["status": "unauthorized", "error": "valid internal API credentials are required (HTTP Basic)"])
                r.headers.append(("WWW-Authenticate", "Basic realm=\"portico metering internal API\""))
                return r
            }
        }
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true).dropFirst().map { Self.percentDecoded(String($0)) }
        do {
            var body: JSONValue = .object(JSONObject())
            if !request.body.isEmpty {
                do { body = try JSONParser.parse(request.body) } catch {
                    throw Failure(status: 400, body: ["status": "error", "error": .string("request body is not JSON: \(error.description)")])
                }
            }
            var query = RackParameters()
            try? query.merge(request.query[...])
            let (status, value) = try await route(request.method, Array(segments), body: body, query: query)
            return MeteringResponse.json(status, value)
        } catch let failure as Failure {
            return MeteringResponse.json(failure.status, failure.body)
        } catch {
            return MeteringResponse.json(503, ["status": "error", "error": .string("metering storage is unavailable: \(error)")])
        }
    }

    static func basicMatches(_ header: String, _ c: Credentials) -> Bool {
        guard header.lowercased().hasPrefix("basic "), let decoded = Base64.decode(String(header.dropFirst(6)).trimmingWhitespace) else { return false }
        return constantTimeEquals(String(decoding: decoded, as: UTF8.self), c.user + ":" + c.password)
    }

    /// Path segments are percent-decoded; `+` stays a plus sign (it means space only in form data).
    static func percentDecoded(_ s: String) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let h = RackParameters.hex(b[i + 1]), let l = RackParameters.hex(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self) ?? s
    }

    // MARK: routing

    func route(_ method: String, _ s: [String], body: JSONValue, query: RackParameters) async throws -> (Int, JSONObject) {
        switch (method, s.count, s.first) {
        case ("GET", 1, "check.json"): return (200, ["status": "ok"])
        case ("GET", 1, "status"): return (200, ["status": "ok", "version": .object(["backend": .string(ServiceManagementAPI.backendVersion)])])
        default: break
        }
        guard let root = s.first else { throw Self.notFound() }
        if root == "service_tokens" { return try await serviceTokens(method, Array(s.dropFirst()), body: body) }
        if root == "events" { return try await events(method, Array(s.dropFirst()), query: query) }
        guard root == "services" else { throw Self.notFound() }
        let rest = Array(s.dropFirst())
        switch (method, rest.count) {
        case ("POST", 0): return try await saveService(nil, body: body, created: true)
        case ("GET", 1): return try await getService(rest[0])
        case ("PUT", 1): return try await saveService(rest[0], body: body, created: false)
        case ("DELETE", 1): return try await deleteService(rest[0])
        case ("PUT", 2) where rest[0] == "change_provider_key": return try await changeProviderKey(rest[1], body: body)
        default: break
        }
        guard rest.count >= 2 else { throw Self.notFound() }
        let sid = rest[0]
        let tail = Array(rest.dropFirst(2))
        switch rest[1] {
        case "applications": return try await applications(method, sid, tail, body: body)
        case "metrics": return try await metrics(method, sid, tail, body: body)
        case "plans": return try await usageLimits(method, sid, tail, body: body)
        case "alert_limits": return try await alertLimits(method, sid, tail, body: body)
        case "errors": return try await integrationErrors(method, sid, tail, query: query)
        case "stats" where method == "DELETE" && tail.isEmpty:
            // Only marks the service; the cron deletes its statistics (apisonator's deferred deletion).
            try await configuration.storage.apply([.setAdd(ApisonatorKeys.servicesMarkedForStatsDeletion, [sid])])
            return (200, ["status": "to_be_deleted"])
        default: throw Self.notFound()
        }
    }

    // MARK: services

    static func json(_ s: MeteredService, isDefault: Bool) -> JSONValue {
        .object(["id": .string(s.id), "state": .string(s.state), "provider_key": .string(s.providerKey), "backend_version": .string(s.backendVersion),
         "referrer_filters_required": .bool(s.referrerFiltersRequired), "default_service": .bool(isDefault)])
    }

    func getService(_ id: String) async throws -> (Int, JSONObject) {
        guard let service = try await configuration.service(id: id) else { throw Failure(status: 404, body: ["error": "not_found"]) }
        let isDefault = try await configuration.defaultServiceID(providerKey: service.providerKey) == id
        return (200, ["status": "found", "service": Self.json(service, isDefault: isDefault)])
    }

    func saveService(_ pathID: String?, body: JSONValue, created: Bool) async throws -> (Int, JSONObject) {
        guard let attrs = body["service"]?.objectValue else { throw Self.missing("service") }
        guard let id = pathID ?? Self.text(attrs["id"]), !id.isEmpty else {
            throw Failure(status: 400, body: ["status": "error", "error": "service id is missing"])
        }
        let existing = try await configuration.service(id: id)
        guard let providerKey = Self.text(attrs["provider_key"]) ?? existing?.providerKey, !providerKey.isEmpty else {
            throw Failure(status: 400, body: ["status": "error", "error": "provider_key is missing"])
        }
        let service = MeteredService(
            id: id, providerKey: providerKey,
            backendVersion: Self.text(attrs["backend_version"]) ?? existing?.backendVersion ?? "2",
            referrerFiltersRequired: attrs["referrer_filters_required"].map { Self.truthy($0) } ?? existing?.referrerFiltersRequired ?? false,
            state: (Self.text(attrs["state"]) ?? "active") == "active" ? "active" : "suspended")
        try await configuration.saveService(service, makeDefault: attrs["default_service"].map { Self.truthy($0) })
        let isDefault = try await configuration.defaultServiceID(providerKey: providerKey) == id
        return (created ? 201 : 200, ["service": Self.json(service, isDefault: isDefault), "status": created ? "created" : "ok"])
    }

    func deleteService(_ id: String) async throws -> (Int, JSONObject) {
        switch try await configuration.deleteService(id: id, reassignDefault: false) {
        case .deleted: return (200, ["status": "deleted"])
        case .notFound: throw Self.notFound("Service not found")
        case .isDefaultWithOthers:
            throw Failure(status: 400, body: ["status": "error", "error": .string("Service \(id) is the default service and cannot be deleted while the provider has others")])
        }
    }

    func changeProviderKey(_ old: String, body: JSONValue) async throws -> (Int, JSONObject) {
        let new = Self.text(body["new_key"]) ?? ""
        switch try await configuration.changeProviderKey(from: old, to: new) {
        case .changed: return (200, ["status": "ok"])
        case .invalidKeys: throw Failure(status: 400, body: ["error": "Provider keys are not valid, must be not nil and different"])
        case .newKeyExists: throw Failure(status: 400, body: ["error": .string("Provider key=\"\(new)\" already exists")])
        case .oldKeyMissing: throw Failure(status: 400, body: ["error": .string("Provider key=\"\(old)\" does not exist")])
        }
    }

    // MARK: service tokens

    func serviceTokens(_ method: String, _ rest: [String], body: JSONValue) async throws -> (Int, JSONObject) {
        switch (method, rest.count) {
        case ("HEAD", 2), ("GET", 2):
            return try await configuration.serviceTokenIsValid(rest[0], serviceID: rest[1]) ? (200, [:]) : (404, [:])
        case ("GET", 3) where rest[2] == "provider_key":
            guard try await configuration.serviceTokenIsValid(rest[0], serviceID: rest[1]), let service = try await configuration.service(id: rest[1]) else {
                throw Self.notFound("token/service combination not found")
            }
            return (200, ["status": "found", "provider_key": .string(service.providerKey)])
        case ("POST", 0):
            guard let tokens = body["service_tokens"]?.objectValue else { throw Self.missing("service_tokens") }
            var pairs: [(String, String)] = []
            for (token, value) in tokens.entries {
                guard !token.isEmpty else { throw Failure(status: 422, body: ["status": "error", "error": "Service token cannot be blank"]) }
                guard let sid = Self.text(value["service_id"]), !sid.isEmpty else {
                    throw Failure(status: 422, body: ["status": "error", "error": "Service ID cannot be blank"])
                }
                pairs.append((token, sid))
            }
            for (token, sid) in pairs { try await configuration.saveServiceToken(token, serviceID: sid) }
            return (201, ["status": "created"])
        case ("DELETE", 0):
            guard let list = body["service_tokens"]?.arrayValue else { throw Self.missing("service_tokens") }
            var count: Int64 = 0
            for item in list {
                guard let token = Self.text(item["service_token"]), let sid = Self.text(item["service_id"]) else { continue }
                if try await configuration.deleteServiceToken(token, serviceID: sid) { count += 1 }
            }
            return (200, ["status": "deleted", "count": .int(count)])
        default:
            throw Self.notFound()
        }
    }

    // MARK: applications

    static func json(_ a: MeteredApplication) -> JSONValue {
        .object(["service_id": .string(a.serviceID), "id": .string(a.id), "state": .string(a.state), "plan_id": .string(a.planID),
         "plan_name": .string(a.planName), "redirect_url": .optional(a.redirectURL)])
    }

    func applications(_ method: String, _ sid: String, _ rest: [String], body: JSONValue) async throws -> (Int, JSONObject) {
        switch (method, rest.count) {
        case ("GET", 2) where rest[0] == "key":
            guard let id = try await configuration.applicationID(serviceID: sid, userKey: rest[1]) else { throw Self.notFound("application key not found") }
            return (200, ["status": "found", "application": .object(["id": .string(id)])])
        case ("DELETE", 2) where rest[0] == "key":
            try await configuration.deleteUserKey(serviceID: sid, userKey: rest[1])
            return (200, ["status": "deleted"])
        case ("PUT", 1) where rest[0] == "batch":
            return try await batch(sid, body: body)
        case ("GET", 1):
            guard let app = try await configuration.application(serviceID: sid, id: rest[0]) else { throw Self.notFound("application not found") }
            return (200, ["status": "found", "application": Self.json(app)])
        case ("POST", 1), ("PUT", 1):
            guard let attrs = body["application"]?.objectValue else { throw Self.missing("application") }
            let existing = try await configuration.application(serviceID: sid, id: rest[0])
            if method == "POST", let existing {
                throw Failure(status: 405, body: ["status": "exists", "application": Self.json(existing)])
            }
            guard let state = Self.text(attrs["state"]) else {
                throw Failure(status: 400, body: ["status": "bad_request", "error": "Application has no state"])
            }
            let app = MeteredApplication(serviceID: sid, id: rest[0], state: state, planID: Self.text(attrs["plan_id"]) ?? "",
                                         planName: Self.text(attrs["plan_name"]) ?? "", redirectURL: Self.text(attrs["redirect_url"]))
            try await configuration.saveApplication(app)
            if method == "POST" { return (201, ["status": "created", "application": Self.json(app)]) }
            return (200, ["status": existing == nil ? "created" : "modified", "application": Self.json(app)])
        case ("DELETE", 1):
            guard try await configuration.deleteApplication(serviceID: sid, id: rest[0]) else { throw Self.notFound("application not found") }
            return (200, ["status": "deleted"])
        case ("PUT", 3) where rest[1] == "key":
            try await configuration.setUserKey(serviceID: sid, userKey: rest[2], applicationID: rest[0])
            return (200, ["status": "modified", "application": .object(["id": .string(rest[0])])])
        default:
            break
        }
        guard rest.count >= 2 else { throw Self.notFound() }
        let aid = rest[0]
        switch (method, rest[1], rest.count) {
        case ("GET", "keys", 2):
            guard try await configuration.application(serviceID: sid, id: aid) != nil else { throw Self.notFound("application not found") }
            let keys = try await configuration.applicationKeys(serviceID: sid, applicationID: aid)
            return (200, ["status": "found", "application_keys": .array(keys.map {
                .object(["service_id": .string(sid), "app_id": .string(aid), "value": .string($0)])
            })])
        case ("POST", "keys", 2):
            let value = Self.text(body["application_key"]?["value"]) ?? Self.randomHex(16)
            try await configuration.addApplicationKeys(serviceID: sid, applicationID: aid, [value])
            return (201, ["status": "created", "application_key": .object(["app_id": .string(aid), "value": .string(value)])])
        case ("DELETE", "keys", 3):
            guard try await configuration.applicationKeys(serviceID: sid, applicationID: aid).contains(rest[2]) else {
                throw Self.notFound("application key not found")
            }
            try await configuration.removeApplicationKeys(serviceID: sid, applicationID: aid, [rest[2]])
            return (200, ["status": "deleted"])
        case ("GET", "referrer_filters", 2):
            let filters = try await configuration.referrerFilters(serviceID: sid, applicationID: aid)
            return (200, ["status": "found", "referrer_filters": .array(filters.map { .string($0) })])
        case ("POST", "referrer_filters", 2):
            guard let filter = Self.text(body["referrer_filter"]), !filter.isEmpty else {
                throw Failure(status: 400, body: ["status": "bad_request", "error": "referrer filter can't be blank"])
            }
            try await configuration.addReferrerFilters(serviceID: sid, applicationID: aid, [filter])
            return (201, ["status": "created", "referrer_filter": .string(filter)])
        case ("DELETE", "referrer_filters", 3):
            let value = Base64.decode(rest[2], urlSafe: true).flatMap { String(validating: $0, as: UTF8.self) } ?? rest[2]
            try await configuration.removeReferrerFilters(serviceID: sid, applicationID: aid, [value])
            return (200, ["status": "deleted"])
        case ("GET", "utilization", 2):
            return try await utilization(sid, aid)
        default:
            throw Self.notFound()
        }
    }

    /// `PUT /services/{sid}/applications/batch`: applications with their user_key, keys and referrer filters
    /// (the given keys and filters replace the stored ones).
    func batch(_ sid: String, body: JSONValue) async throws -> (Int, JSONObject) {
        guard let list = body["applications"]?.arrayValue else { throw Self.missing("applications") }
        var results: [JSONValue] = []
        var failures: [JSONValue] = []
        for item in list {
            guard let id = Self.text(item["id"]), !id.isEmpty, let state = Self.text(item["state"]) else {
                let error = "application id and state are required"
                results.append(.object(["status": "error", "id": .optional(Self.text(item["id"])), "error": .string(error)]))
                failures.append(.object(["id": .optional(Self.text(item["id"])), "error": .string(error)]))
                continue
            }
            let existed = try await configuration.application(serviceID: sid, id: id) != nil
            let app = MeteredApplication(serviceID: sid, id: id, state: state, planID: Self.text(item["plan_id"]) ?? "",
                                         planName: Self.text(item["plan_name"]) ?? "", redirectURL: Self.text(item["redirect_url"]))
            try await configuration.saveApplication(app)
            var json = Self.json(app).objectValue ?? JSONObject()
            if let userKey = Self.text(item["user_key"]), !userKey.isEmpty {
                try await configuration.setUserKey(serviceID: sid, userKey: userKey, applicationID: id)
                json["user_key"] = .string(userKey)
            }
            if let keys = item["application_keys"]?.arrayValue {
                let wanted = keys.compactMap { Self.text($0) }
                try await configuration.replaceApplicationKeys(serviceID: sid, applicationID: id, wanted)
                json["application_keys"] = .array(wanted.map { .string($0) })
            }
            if let filters = item["referrer_filters"]?.arrayValue {
                let wanted = filters.compactMap { Self.text($0) }
                try await configuration.replaceReferrerFilters(serviceID: sid, applicationID: id, wanted)
                json["referrer_filters"] = .array(wanted.map { .string($0) })
            }
            results.append(.object(["status": existed ? "modified" : "created", "application": .object(json)]))
        }
        var reply: JSONObject = ["status": "completed", "total": .int(Int64(list.count)), "successful": .int(Int64(list.count - failures.count)),
                                 "failed": .int(Int64(failures.count)), "applications": .array(results)]
        if !failures.isEmpty { reply["failures"] = .array(failures) }
        return (200, reply)
    }

    func utilization(_ sid: String, _ aid: String) async throws -> (Int, JSONObject) {
        guard try await configuration.service(id: sid) != nil else { throw Self.notFound("service not found") }
        guard let app = try await configuration.application(serviceID: sid, id: aid) else { throw Self.notFound("application not found") }
        let hierarchy = try await configuration.metrics(serviceID: sid)
        let limits = try await configuration.limits(serviceID: sid, planID: app.planID, hierarchy: hierarchy)
        let now = clock()
        let values = limits.isEmpty ? [] : try await configuration.storage.get(limits.map {
            ApisonatorKeys.applicationUsage(sid, app: aid, metric: $0.metricID, $0.period, at: now)
        })
        let rows: [JSONValue] = zip(limits, values).map { limit, value in
            .object(["period": .string(limit.period.rawValue), "metric_name": .string(hierarchy.metric(id: limit.metricID)?.name ?? limit.metricID),
             "max_value": .int(limit.maxValue), "current_value": .int(value.flatMap { Int64($0) } ?? 0)])
        }
        return (200, ["status": "found", "utilization": .array(rows)])
    }

    // MARK: events

    func events(_ method: String, _ rest: [String], query: RackParameters) async throws -> (Int, JSONObject) {
        let events = MeteringEvents(storage: configuration.storage)
        switch (method, rest.count) {
        case ("GET", 0):
            return (200, ["status": "found", "events": .array(try await events.list())])
        case ("DELETE", 0):
            guard let upTo = query.string("upto_id").flatMap({ Int64($0) }) else {
                throw Failure(status: 400, body: ["status": "bad_request", "error": "upto_id is missing or not a number"])
            }
            return (200, ["status": "deleted", "num_events": .int(Int64(try await events.delete(upTo: upTo)))])
        case ("DELETE", 1):
            guard let id = Int64(rest[0]), try await events.delete(id: id) > 0 else { throw Self.notFound("event not found") }
            return (200, ["status": "deleted"])
        default:
            throw Self.notFound()
        }
    }

    // MARK: metrics, limits, alerts, errors

    func metrics(_ method: String, _ sid: String, _ rest: [String], body: JSONValue) async throws -> (Int, JSONObject) {
        guard rest.count == 1 else { throw Self.notFound() }
        let id = rest[0]
        func json(_ m: MeteredMetric) -> JSONValue {
            .object(["service_id": .string(sid), "id": .string(m.id), "parent_id": .optional(m.parentID), "name": .string(m.name)])
        }
        switch method {
        case "GET":
            guard let m = try await configuration.metric(serviceID: sid, id: id) else { throw Self.notFound("metric not found") }
            return (200, ["status": "found", "metric": json(m)])
        case "POST", "PUT":
            guard let attrs = body["metric"]?.objectValue else { throw Self.missing("metric") }
            let existing = try await configuration.metric(serviceID: sid, id: id)
            guard let name = Self.text(attrs["name"]) ?? existing?.name, !name.isEmpty else {
                throw Failure(status: 400, body: ["status": "bad_request", "error": "metric name is missing"])
            }
            let parent = attrs["parent_id"].flatMap { Self.text($0) } ?? (attrs["parent_id"] == nil ? existing?.parentID : nil)
            let metric = MeteredMetric(id: id, name: name, parentID: parent)
            try await configuration.saveMetric(serviceID: sid, metric)
            return existing == nil ? (201, ["status": "created", "metric": json(metric)]) : (200, ["status": "modified", "metric": json(metric)])
        case "DELETE":
            guard try await configuration.deleteMetric(serviceID: sid, id: id) else { throw Self.notFound("metric not found") }
            return (200, ["status": "deleted"])
        default:
            throw Self.notFound()
        }
    }

    /// `/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}`
    func usageLimits(_ method: String, _ sid: String, _ rest: [String], body: JSONValue) async throws -> (Int, JSONObject) {
        guard rest.count == 4, rest[1] == "usagelimits" else { throw Self.notFound() }
        let (pid, mid) = (rest[0], rest[2])
        guard let period = LimitPeriod(rawValue: rest[3]) else {
            if method == "DELETE" { return (200, ["status": "deleted"]) }
            throw Self.notFound("usage limit not found")
        }
        func json(_ value: Int64) -> JSONValue {
            .object(JSONObject([("service_id", .string(sid)), ("plan_id", .string(pid)), ("metric_id", .string(mid)), (period.rawValue, .int(value))]))
        }
        switch method {
        case "GET":
            guard let value = try await configuration.usageLimit(serviceID: sid, planID: pid, metricID: mid, period: period) else {
                throw Self.notFound("usage limit not found")
            }
            return (200, ["status": "found", "usagelimit": json(value)])
        case "PUT":
            guard let attrs = body["usagelimit"]?.objectValue else { throw Self.missing("usagelimit") }
            var saved: Int64?
            for (name, value) in attrs.entries {
                guard let p = LimitPeriod(rawValue: name), let v = Self.integer(value) else { continue }
                try await configuration.saveUsageLimit(serviceID: sid, planID: pid, metricID: mid, period: p, value: v)
                if p == period { saved = v }
            }
            guard let saved else { throw Self.missing(period.rawValue) }
            return (200, ["status": "modified", "usagelimit": json(saved)])
        case "DELETE":
            try await configuration.deleteUsageLimit(serviceID: sid, planID: pid, metricID: mid, period: period)
            return (200, ["status": "deleted"])
        default:
            throw Self.notFound()
        }
    }

    func alertLimits(_ method: String, _ sid: String, _ rest: [String], body: JSONValue) async throws -> (Int, JSONObject) {
        switch (method, rest.count) {
        case ("GET", 0):
            let levels = try await configuration.alertLevels(serviceID: sid)
            return (200, ["status": "found", "alert_limits": .array(levels.map { .object(["service_id": .string(sid), "value": .int(Int64($0))]) })])
        case ("POST", 0):
            guard let value = body["alert_limit"]?["value"].flatMap({ Self.integer($0) }), MeteringConfiguration.alertLevelsAllowed.contains(Int(value)) else {
                throw Failure(status: 400, body: ["status": "bad_request", "error": "alert limit is invalid"])
            }
            try await configuration.addAlertLevel(serviceID: sid, Int(value))
            return (201, ["status": "created", "alert_limit": .object(["service_id": .string(sid), "value": .int(value)])])
        case ("DELETE", 1):
            guard let level = Int(rest[0]), try await configuration.removeAlertLevel(serviceID: sid, level) else { throw Self.notFound("alert limit not found") }
            return (200, ["status": "deleted"])
        default:
            throw Self.notFound()
        }
    }

    func integrationErrors(_ method: String, _ sid: String, _ rest: [String], query: RackParameters) async throws -> (Int, JSONObject) {
        guard rest.isEmpty else { throw Self.notFound() }
        guard try await configuration.service(id: sid) != nil else { throw Self.notFound("service not found") }
        switch method {
        case "GET":
            let page = query.string("page").flatMap { Int($0) } ?? 1
            let perPage = query.string("per_page").flatMap { Int($0) } ?? 100
            guard page > 0, perPage > 0 else { throw Failure(status: 400, body: ["status": "bad_request", "error": "page and per_page must be positive"]) }
            let (entries, count) = try await errors.page(serviceID: sid, page: page, perPage: min(perPage, 1000))
            return (200, ["status": "found", "errors": .array(entries), "count": .int(Int64(count))])
        case "DELETE":
            try await errors.clear(serviceID: sid)
            return (200, ["status": "deleted"])
        default:
            throw Self.notFound()
        }
    }

    // MARK: value helpers

    static func text(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .int(let i)?: return String(i)
        case .bool(let b)?: return String(b)
        default: return nil
        }
    }

    static func integer(_ v: JSONValue?) -> Int64? {
        switch v {
        case .int(let i)?: return i
        case .string(let s)?: return Int64(s.trimmingWhitespace)
        default: return nil
        }
    }

    static func truthy(_ v: JSONValue) -> Bool {
        switch v {
        case .bool(let b): return b
        case .string(let s): return s == "true" || s == "1"
        case .int(let i): return i != 0
        default: return false
        }
    }

    static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in
            let b = UInt8.random(in: 0...255, using: &g)
            return String(b >> 4, radix: 16) + String(b & 15, radix: 16)
        }.joined()
    }
}

/// Base64 decoding (standard and URL-safe alphabets, padding optional).
enum Base64 {
    static func decode(_ text: String, urlSafe: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 65...90: v = c - 65
            case 97...122: v = c - 71
            case 48...57: v = c + 4
            case UInt8(ascii: "+") where !urlSafe, UInt8(ascii: "-") where urlSafe: v = 62
            case UInt8(ascii: "/") where !urlSafe, UInt8(ascii: "_") where urlSafe: v = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }
}
