import PorticoCore
import PorticoMeteringStore

/// Per-service integration errors (reference/service-management-api.md §8.6): newest first, at most 1000, in
/// apisonator's list `errors/service_id:{sid}` so porta pages them unchanged.
public struct IntegrationErrorLog: Sendable {
    public static let capacity = 1000
    let storage: any MeteringStorage
    let clock: @Sendable () -> Timestamp

    func record(serviceID: String, code: String, message: String, request: MeteringRequest?, extensions: [String: String]) async throws {
        var context: [(String, JSONValue)] = []
        if let request {
            context = [
                ("url", .string(request.path + (request.query.isEmpty ? "" : "?" + Self.redacted(String(decoding: request.query, as: UTF8.self))))),
                ("method", .string(request.method)),
                ("form_vars", .string(Self.redacted(String(decoding: request.body, as: UTF8.self)))),
                ("user_agent", .optional(request.userAgent)),
                ("ip", .optional(request.remoteAddress)),
                ("content_type", .optional(request.contentType)),
                ("content_length", .int(Int64(request.body.count))),
            ]
        }
        context.append(("extensions", .object(JSONObject(extensions.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))))
        let entry: JSONValue = .object(JSONObject([
            ("code", .string(code)), ("message", .string(message)), ("timestamp", .string(Self.format(clock()))),
            ("context_info", .object(JSONObject(context))),
        ]))
        try await storage.apply([.listPushTrimmed(ApisonatorKeys.integrationErrors(serviceID), entry.serializedString, keep: Self.capacity)])
    }

    /// Credentials never reach the error log: provider keys, service tokens and app keys are masked.
    static func redacted(_ text: String) -> String {
        guard !text.isEmpty else { return text }
        let secret: Set<String> = ["provider_key", "service_token", "app_key"]
        return text.split(separator: "&", omittingEmptySubsequences: false).map { pair in
            let name = pair.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return secret.contains(name) ? name + "=[FILTERED]" : String(pair)
        }.joined(separator: "&")
    }

    static func format(_ t: Timestamp) -> String {
        t.formatted(separator: UInt8(ascii: " "), suffix: " UTC")
    }

    public func page(serviceID: String, page: Int, perPage: Int) async throws -> (entries: [JSONValue], count: Int) {
        let key = ApisonatorKeys.integrationErrors(serviceID)
        let count = try await storage.listLength(key)
        let start = (page - 1) * perPage
        let items = try await storage.listRange(key, start: start, stop: start + perPage - 1)
        return (items.compactMap { try? JSONParser.parse($0) }, count)
    }

    public func clear(serviceID: String) async throws {
        try await storage.apply([.delete(ApisonatorKeys.integrationErrors(serviceID))])
    }
}
