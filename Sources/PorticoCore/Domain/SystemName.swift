/// 3scale's `system_name` rules: generated from a human name, validated with `^\w[\w\-/_]+$`.
public enum SystemName {
    /// Lower-cases and turns every run of characters other than letters, digits and `_` into one `_`,
    /// trimming leading and trailing separators ("Test Metric-1" -> "test_metric_1").
    public static func generate(from name: String) -> String {
        var out = ""
        var pendingSeparator = false
        for scalar in name.lowercased().unicodeScalars {
            if isWordCharacter(scalar) {
                if pendingSeparator, !out.isEmpty { out.append("_") }
                pendingSeparator = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingSeparator = true
            }
        }
        return out
    }

    /// `^\w[\w\-/_]+$` over ASCII word characters (porta's Ruby regex is ASCII-only for `\w`).
    public static func isValid(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard scalars.count >= 2, isWordCharacter(scalars[0]) else { return false }
        return scalars.dropFirst().allSatisfy { isWordCharacter($0) || $0 == "-" || $0 == "/" }
    }

    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9") || s == "_"
    }

    /// A DNS label from a name: lower-case letters, digits and single dashes.
    public static func dnsLabel(from name: String) -> String {
        var out = ""
        for scalar in name.lowercased().unicodeScalars {
            if (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") {
                out.unicodeScalars.append(scalar)
            } else if !out.isEmpty, !out.hasSuffix("-") {
                out.append("-")
            }
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "tenant" : String(out.prefix(50))
    }
}
