import Foundation
import NIOCore
import NIOPosix

/// The processors this process may run on. NIO sizes its event-loop group by the machine's (or the cgroup's)
/// processor count, which ignores `taskset` and cpuset pinning: a gateway pinned to one core would run two
/// event loops that take turns on it, paying a thread switch between them. Sizing the group to the allowed
/// processors keeps one loop per core.
enum ProcessorAffinity {
    /// Bits set in `Cpus_allowed` of /proc/self/status; nil where it cannot be read (not Linux).
    static func allowedCount(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Int? {
        guard let status, let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        var count = 0
        for character in line.dropFirst("Cpus_allowed:".count) {
            guard let nibble = character.hexDigitValue else { continue }
            count += nibble.nonzeroBitCount
        }
        return count > 0 ? count : nil
    }

    /// Sizes NIO's shared event-loop group; must run before anything uses the group.
    static func sizeEventLoopGroup() {
        guard let allowed = allowedCount() else { return }
        NIOSingletons.groupLoopCountSuggestion = max(1, min(System.coreCount, allowed))
    }
}
