/// The Redis Portico metering supports, checked the same way by `serve` (which refuses to start) and by
/// `portico doctor` (which reports it).
public enum RedisServerRequirements {
    /// BLMOVE and LMOVE, which the report queue uses, arrived in 6.2.
    public static let minimum = (major: 6, minor: 2)

    /// `redis_version` from the text of `INFO server`. Its lines end in CRLF, which Swift reads as one
    /// Character, so lines are split on `isNewline` rather than on "\r" or "\n".
    public static func version(fromInfo text: String) -> String? {
        text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("redis_version:") }
            .map { String($0.dropFirst("redis_version:".count)) }
    }

    /// Why `version` cannot be used through `setting`, or nil when it can.
    public static func unsupportedMessage(version: String, setting: String, endpoint: RedisEndpoint) -> String? {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, (parts[0], parts[1]) < minimum else { return nil }
        return "\(setting) points at Redis \(version) (\(endpoint)); Portico metering needs Redis 6.2 or newer. Upgrade Redis or point \(setting) at a newer server."
    }
}
