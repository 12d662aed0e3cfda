import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for servers the tests start.
public enum LoopbackPorts {
    /// `count` consecutive ports that can be bound now, below the kernel's ephemeral range (so the many
    /// outgoing connections of the tests cannot be holding them).
    public static func base(count: Int = 5) -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 12_000...(32_000 - count))
            if (0..<count).allSatisfy({ canBind($0 + base) }) { return base }
        }
        return Int.random(in: 12_000...(32_000 - count))
    }

    public static func canBind(_ port: Int) -> Bool { withSocket(port) { bind($0, $1, $2) == 0 } }
    public static func canConnect(_ port: Int) -> Bool { withSocket(port) { connect($0, $1, $2) == 0 } }

    static func withSocket(_ port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
