import Foundation
import PorticoCore

/// `ip_check`: allow or deny by client address (IPv4/IPv6, CIDR ranges).
public struct IPCheckPolicy: Sendable {
    struct Range: Sendable {
        var bytes: [UInt8]
        var prefix: Int
        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for i in 0..<bytes.count where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[i] & mask != bytes[i] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    var allowList: Bool
    var ranges: [Range]
    var errorMessage: String
    var sources: [String]

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        switch c["check_type"]?.stringValue {
        case "whitelist": allowList = true
        case "blacklist": allowList = false
        default: throw GatewayConfigurationError("check_type must be whitelist or blacklist")
        }
        ranges = []
        for ip in c["ips"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            let parts = ip.split(separator: "/", maxSplits: 1)
            guard let bytes = Self.parse(String(parts[0])) else { throw GatewayConfigurationError("\"\(ip)\" is not an IP address or CIDR range") }
            let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let prefix, (0...(bytes.count * 8)).contains(prefix) else { throw GatewayConfigurationError("\"\(ip)\" has an invalid prefix length") }
            ranges.append(Range(bytes: bytes, prefix: prefix))
        }
        errorMessage = c["error_msg"]?.stringValue ?? "IP address not allowed"
        sources = c["client_ip_sources"]?.arrayValue?.compactMap(\.stringValue) ?? ["last_caller"]
    }

    /// The client address from the configured sources, in order.
    func clientAddress(peer: String?, header: (String) -> String?) -> String? {
        for source in sources {
            switch source {
            case "X-Forwarded-For":
                if let first = header("x_forwarded_for")?.split(separator: ",").first { return first.trimmingSpaces }
            case "X-Real-IP":
                if let v = header("x_real_ip") { return v.trimmingSpaces }
            default:
                if let peer { return peer }
            }
        }
        return nil
    }

    func allows(_ address: String?) -> Bool {
        guard let address, let bytes = Self.parse(address) else { return !allowList }
        let listed = ranges.contains { $0.contains(bytes) }
        return allowList ? listed : !listed
    }

    static func parse(_ s: String) -> [UInt8]? {
        if s.contains(":") { return parseIPv6(s) }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
