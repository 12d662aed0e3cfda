/// The `3scale-options` request header (reference/service-management-api.md §6).
struct Extensions: Sendable, Equatable {
    var noBody = false
    var rejectionReasonHeader = false
    var limitHeaders = false
    var hierarchy = false
    var flatUsage = false
    var listAppKeys = false
    /// The raw header, kept in report jobs and integration errors as apisonator does.
    var raw: [String: String] = [:]

    init() {}

    /// Unknown options are ignored; a header that does not parse is treated as absent.
    init(header: String?, parameters: RackParameters) {
        if let header {
            var parsed = RackParameters()
            if (try? parsed.merge(ArraySlice(header.utf8))) != nil {
                for (key, value) in parsed.asValue.entries ?? [] {
                    guard let v = value.string else { continue }
                    raw[key] = v
                }
            }
        }
        noBody = Self.truthy(raw["no_body"]) || Self.truthy(parameters.string("no_body"))
        rejectionReasonHeader = raw["rejection_reason_header"] == "1"
        limitHeaders = raw["limit_headers"] == "1"
        hierarchy = raw["hierarchy"] == "1"
        flatUsage = raw["flat_usage"] == "1"
        listAppKeys = raw["list_app_keys"] == "1"
    }

    /// `no_body` is on for any value but `0` and `false`.
    static func truthy(_ value: String?) -> Bool {
        guard let value else { return false }
        return value != "0" && value != "false"
    }
}
