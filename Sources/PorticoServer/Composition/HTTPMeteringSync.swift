import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PorticoAdmin
import PorticoCore

/// `MeteringSync` over a separate metering process's internal API (`/internal/…`,
/// reference/service-management-api.md §7), the way porta drives apisonator: for `portico serve --role admin`
/// with `BACKEND_URL` pointing at `portico serve --role metering` (or at an apisonator).
final class HTTPMeteringSync: MeteringSync {
    let baseURL: String
    let authorization: String?
    let client: HTTPClient
    static let timeout: TimeAmount = .seconds(10)

    init(baseURL: String, user: String?, password: String?, client: HTTPClient = .shared) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        if let user, let password {
            authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
        self.client = client
    }

    /// Percent-encodes one path segment (keys and tokens may hold any character).
    static func segment(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    struct SyncError: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends one call; 2xx is success, and so is 404 when `missingIsFine` (deleting what is already gone).
    @discardableResult
    func call(_ method: HTTPMethod, _ path: [String], body: JSONValue? = nil, missingIsFine: Bool = false) async throws -> JSONValue? {
        var request = HTTPClientRequest(url: baseURL + "/internal/" + path.map(Self.segment).joined(separator: "/"))
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.serialized()))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: Self.timeout)
        } catch {
            throw SyncError(description: "metering's internal API at \(baseURL) is unreachable: \(error)")
        }
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let status = Int(response.status.code)
        if (200..<300).contains(status) || (missingIsFine && status == 404) {
            return try? JSONParser.parse(Array(buffer: bytes))
        }
        if status == 401 {
            throw SyncError(description: "metering's internal API refused the credentials; set the same CONFIG_INTERNAL_API_USER/PASSWORD on admin and metering")
        }
        throw SyncError(description: "metering's internal API answered \(status) to \(method.rawValue) /internal/\(path.joined(separator: "/")): \(String(buffer: bytes).prefix(300))")
    }

    func saveService(_ s: MeteringSyncService) async throws {
        try await call(.PUT, ["services", s.id], body: .object(["service": .object([
            "provider_key": .string(s.providerKey), "backend_version": .string(s.backendVersion),
            "referrer_filters_required": .bool(s.referrerFiltersRequired), "state": .string(s.active ? "active" : "suspended"),
        ])]))
    }

    func deleteService(id: String) async throws { try await call(.DELETE, ["services", id], missingIsFine: true) }

    func changeProviderKey(from old: String, to new: String) async throws {
        try await call(.PUT, ["services", "change_provider_key", old], body: .object(["new_key": .string(new)]), missingIsFine: true)
    }

    func saveServiceToken(_ token: String, serviceID: String) async throws {
        try await call(.POST, ["service_tokens", ""], body: .object(["service_tokens": .object(JSONObject([(token, .object(["service_id": .string(serviceID)]))]))]))
    }

    func deleteServiceToken(_ token: String, serviceID: String) async throws {
        try await call(.DELETE, ["service_tokens", ""], body: .object(["service_tokens": .array([
            .object(["service_token": .string(token), "service_id": .string(serviceID)]),
        ])]))
    }

    func saveApplication(_ a: MeteringSyncApplication) async throws {
        try await call(.PUT, ["services", a.serviceID, "applications", a.id], body: .object(["application": .object([
            "state": .string(a.state), "plan_id": .string(a.planID), "plan_name": .string(a.planName), "redirect_url": .optional(a.redirectURL),
        ])]))
    }

    func deleteApplication(serviceID: String, id: String) async throws {
        try await call(.DELETE, ["services", serviceID, "applications", id], missingIsFine: true)
    }

    func setUserKey(serviceID: String, userKey: String, applicationID: String) async throws {
        try await call(.PUT, ["services", serviceID, "applications", applicationID, "key", userKey])
    }

    func deleteUserKey(serviceID: String, userKey: String) async throws {
        try await call(.DELETE, ["services", serviceID, "applications", "key", userKey], missingIsFine: true)
    }

    func replaceApplicationKeys(serviceID: String, applicationID: String, keys: [String]) async throws {
        let current = try await call(.GET, ["services", serviceID, "applications", applicationID, "keys", ""], missingIsFine: true)
        let existing = Set((current?["application_keys"]?.arrayValue ?? []).compactMap { $0["value"]?.stringValue })
        for key in keys where !existing.contains(key) {
            try await call(.POST, ["services", serviceID, "applications", applicationID, "keys", ""],
                           body: .object(["application_key": .object(["value": .string(key)])]))
        }
        for key in existing.subtracting(keys) {
            try await call(.DELETE, ["services", serviceID, "applications", applicationID, "keys", key], missingIsFine: true)
        }
    }

    func replaceReferrerFilters(serviceID: String, applicationID: String, filters: [String]) async throws {
        let current = try await call(.GET, ["services", serviceID, "applications", applicationID, "referrer_filters"], missingIsFine: true)
        let existing = Set((current?["referrer_filters"]?.arrayValue ?? []).compactMap { $0.stringValue })
        for filter in filters where !existing.contains(filter) {
            try await call(.POST, ["services", serviceID, "applications", applicationID, "referrer_filters"],
                           body: .object(["referrer_filter": .string(filter)]))
        }
        for filter in existing.subtracting(filters) {
            // apisonator expects the value URL-safe base64 encoded in the path.
            let encoded = Data(filter.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            try await call(.DELETE, ["services", serviceID, "applications", applicationID, "referrer_filters", encoded], missingIsFine: true)
        }
    }

    func saveMetric(serviceID: String, id: String, name: String, parentID: String?) async throws {
        try await call(.PUT, ["services", serviceID, "metrics", id],
                       body: .object(["metric": .object(["name": .string(name), "parent_id": .optional(parentID)])]))
    }

    func deleteMetric(serviceID: String, id: String) async throws {
        try await call(.DELETE, ["services", serviceID, "metrics", id], missingIsFine: true)
    }

    func saveUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod, value: Int64) async throws {
        try await call(.PUT, ["services", serviceID, "plans", planID, "usagelimits", metricID, period.rawValue],
                       body: .object(["usagelimit": .object(JSONObject([(period.rawValue, .int(value))]))]))
    }

    func deleteUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod) async throws {
        try await call(.DELETE, ["services", serviceID, "plans", planID, "usagelimits", metricID, period.rawValue], missingIsFine: true)
    }
}
