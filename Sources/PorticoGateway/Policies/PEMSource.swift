import Foundation

/// Where a policy's PEM document comes from: a file path (`path`) or a base64 data URL (`embedded`, as porta's
/// policy editor uploads files). Read when the configuration loads, so a missing file fails the policy then.
enum PEMSource {
    static func read(type: String, _ value: String?, field: String) throws(GatewayConfigurationError) -> String {
        guard let value, !value.isEmpty else { throw GatewayConfigurationError("\(field) is required") }
        switch type {
        case "embedded":
            guard let comma = value.firstIndex(of: ","), value[..<comma].hasSuffix(";base64"),
                  let data = Data(base64Encoded: String(value[value.index(after: comma)...]))
            else { throw GatewayConfigurationError("\(field) must be a base64 data URL (data:…;base64,…) when its type is embedded") }
            return String(decoding: data, as: UTF8.self)
        case "path":
            guard let data = FileManager.default.contents(atPath: value) else {
                throw GatewayConfigurationError("\(field) \(value) cannot be read; check the path and its permissions")
            }
            return String(decoding: data, as: UTF8.self)
        default:
            throw GatewayConfigurationError("the type of \(field) must be path or embedded")
        }
    }
}
