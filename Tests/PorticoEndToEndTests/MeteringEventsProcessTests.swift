import Foundation
import PorticoTesting
import Testing

/// The real `portico serve` with 3scale's `CONFIG_EVENTS_HOOK` and `CONFIG_MASTER_SERVICE_ID`: the first traffic of
/// an application is queued as events porta reads through `/internal/events/`, porta's hook is POSTed the shared
/// secret, and every call is counted on the master service's application whose user_key is the provider key.
@Suite(.serialized) struct MeteringEventsProcessTests {
    typealias M = MeteringProcessTests
    typealias E = ServeProcessTests

    @Test func firstTrafficPingsTheHookAndCallsAreCountedOnTheMasterService() async throws {
        let hook = try StubHTTPServer { _ in .init(status: 200, body: "") }
        defer { hook.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-events-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // First start: learn the seeded product, then restart with it as the master service.
        var p = try await M.start(dir)
        let seeded = try M.seededApplication(p, dataDir: dir)
        let serviceID = try #require(seeded.app["service_id"] as? Int)
        #expect(E.stop(p.running) == 0)
        p = try await M.start(dir, environment: [
            "CONFIG_EVENTS_HOOK": hook.baseURL + "/master/events/import", "CONFIG_EVENTS_HOOK_SHARED_SECRET": "s3cret &=",
            "CONFIG_MASTER_SERVICE_ID": String(serviceID), "CONFIG_MASTER_METRICS_TRANSACTIONS_AUTHORIZE": "hits",
        ])
        defer { if p.running.process.isRunning { _ = E.stop(p.running) } }

        // The master side: a `transactions` metric with a limit (so authorize shows it), and the tenant's
        // application whose user_key is the provider key.
        let metric = try M.json(try M.curl(["-X", "POST", "\(p.admin)/admin/api/services/\(serviceID)/metrics.json",
                                            "-d", "access_token=\(M.token)&friendly_name=Transactions&system_name=transactions&unit=call"]).1)
        let transactionsID = try #require((metric["metric"] as? [String: Any])?["id"] as? Int)
        #expect(try M.curl(["-X", "POST", "\(p.admin)/admin/api/application_plans/\(seeded.planID)/metrics/\(transactionsID)/limits.json",
                            "-d", "access_token=\(M.token)&period=day&value=1000"]).0 == 201)
        #expect(try M.curl(["-X", "POST", "\(p.admin)/admin/api/accounts/\(seeded.app["account_id"]!)/applications.json",
                            "-d", "access_token=\(M.token)&plan_id=\(seeded.planID)&name=Tenant&user_key=\(seeded.providerKey)"]).0 == 201)

        let authrep = "\(p.metering)/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        #expect(try M.curl([authrep]).0 == 200)
        #expect(try M.curl([authrep]).0 == 200)

        // Events wait for porta; the hook is told once, with the shared secret form-encoded. (The master usage applied
        // each second gives the tenant's master-side application its own first traffic, possibly already, so the
        // events are compared per application: each one with traffic has them exactly once.)
        let events = try M.json(try M.curl(["\(p.metering)/internal/events/"]).1)
        var perApplication: [(id: String, types: [String])] = []
        for event in events["events"] as? [[String: Any]] ?? [] {
            let id = (event["object"] as? [String: Any])?["application_id"] as? String ?? "?"
            let type = event["type"] as? String ?? "?"
            if let i = perApplication.firstIndex(where: { $0.id == id }) { perApplication[i].types.append(type) } else { perApplication.append((id, [type])) }
        }
        #expect(!perApplication.isEmpty && perApplication.allSatisfy { $0.types == ["first_traffic", "first_daily_traffic"] }, "\(perApplication)")
        for _ in 0..<100 where hook.requests.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        let ping = try #require(hook.requests.first)
        #expect(ping.method == "POST" && ping.path == "/master/events/import")
        #expect(String(decoding: ping.body, as: UTF8.self) == "secret=s3cret%20%26%3D")
        #expect(hook.requests.count == 1)

        // Master usage is applied within a second: two authreps counted two transactions on the tenant's application.
        let master = "\(p.metering)/transactions/authorize.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.providerKey)"
        var transactions: Int?
        for _ in 0..<40 where transactions != 2 {
            let reply = try M.curl([master]).1
            if let range = reply.range(of: #"metric="transactions" period="day""#) {
                transactions = M.currentValue(String(reply[range.lowerBound...]), period: "day")
            }
            if transactions != 2 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(transactions == 2)
        #expect(E.stop(p.running) == 0)
    }
}
