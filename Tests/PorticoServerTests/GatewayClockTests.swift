import Foundation
import Testing
@testable import PorticoServer

/// The gateway's clock for the authorization cache reads the kernel's coarse wall clock: it must agree with the
/// wall clock to within the scheduler's tick, and never run backwards between reads.
@Suite struct GatewayClockTests {
    @Test func theCoarseClockIsTheWallClockToWithinATick() {
        for _ in 0..<100 {
            let before = Int64(Date().timeIntervalSince1970 * 1000)
            let coarse = GatewayRoleService.milliseconds()
            let after = Int64(Date().timeIntervalSince1970 * 1000)
            #expect(coarse >= before - 10 && coarse <= after, "coarse \(coarse) outside [\(before - 10), \(after)]")
        }
        var last = GatewayRoleService.milliseconds()
        for _ in 0..<10_000 {
            let now = GatewayRoleService.milliseconds()
            #expect(now >= last)
            last = now
        }
    }
}
