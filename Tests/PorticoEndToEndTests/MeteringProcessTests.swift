import Foundation
import Testing

/// The metering role of the real `portico serve` over real HTTP: admin changes reach metering before the
/// admin call returns, limits are exact, reports apply within a second, counts survive a clean stop and a
/// crash (at most the last second is lost).
@Suite(.serialized) struct MeteringProcessTests {
    typealias E = ServeProcessTests
    static let token = "metering-e2e-token-0123456789"

    static func curl(_ arguments: [String]) throws -> (Int, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-o", "-", "-w", "\n%{http_code}"] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    struct Platform {
        var running: ServeProcessTests.Running
        var admin: String { "http://127.0.0.1:\(running.ports["admin"]!)" }
        var metering: String { "http://127.0.0.1:\(running.ports["metering"]!)" }
    }

    static func start(_ dir: String, environment: [String: String] = [:]) async throws -> Platform {
        let r = try E.start(dataDir: dir, environment: environment.merging(["ADMIN_ACCESS_TOKEN": token]) { a, _ in a })
        try await E.waitReady(r)
        return Platform(running: r)
    }

    static func currentValue(_ xml: String, period: String) -> Int? {
        guard let range = xml.range(of: #"period="\#(period)"[^>]*>"#, options: .regularExpression) else { return nil }
        let rest = xml[range.upperBound...]
        guard let open = rest.range(of: "<current_value>"), let close = rest.range(of: "</current_value>") else { return nil }
        return Int(rest[open.upperBound..<close.lowerBound])
    }

    struct SeededApplication {
        var providerKey: String
        var userKey: String
        var planID: Int
        var hitsID: Int
        var app: [String: Any]
    }

    /// The provider key and the seeded application with its plan and `hits` metric, read through the admin API.
    static func seededApplication(_ p: Platform, dataDir: String) throws -> SeededApplication {
        let credentials = try String(contentsOfFile: dataDir + "/credentials", encoding: .utf8)
        let providerKey = try #require(credentials.split(separator: "\n").first { $0.hasPrefix("PROVIDER_KEY=") }?.dropFirst("PROVIDER_KEY=".count))
        let apps = try json(try curl(["\(p.admin)/admin/api/applications.json?access_token=\(token)"]).1)
        let app = try #require(((apps["applications"] as? [[String: Any]])?.first?["application"]) as? [String: Any])
        let metrics = try json(try curl(["\(p.admin)/admin/api/services/\(app["service_id"]!)/metrics.json?access_token=\(token)"]).1)
        let hits = (metrics["metrics"] as? [[String: Any]])?.first { ($0["metric"] as? [String: Any])?["system_name"] as? String == "hits" }
        return SeededApplication(providerKey: String(providerKey), userKey: try #require(app["user_key"] as? String),
                                 planID: try #require(app["plan_id"] as? Int),
                                 hitsID: try #require((hits?["metric"] as? [String: Any])?["id"] as? Int), app: app)
    }

    @Test func meteringPortAnswersPipelinedRequestsInOrderAndRefusesOversizedReports() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-metering-conn-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try await Self.start(dir)
        defer { _ = E.stop(p.running) }
        let seeded = try Self.seededApplication(p, dataDir: dir)
        let port = try #require(p.running.ports["metering"])
        let authrep = "/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        let answer = try HTTP.raw(port: port, "GET \(authrep) HTTP/1.1\r\nHost: m\r\n\r\n"
                                      + "GET /transactions/authorize.xml?provider_key=\(seeded.providerKey)&user_key=nope HTTP/1.1\r\nHost: m\r\n\r\n"
                                      + "GET /status HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        let authorized = try #require(answer.range(of: "<authorized>true</authorized>"))
        let invalid = try #require(answer.range(of: "user_key_invalid"))
        let status = try #require(answer.range(of: "\"status\""))
        #expect(authorized.lowerBound < invalid.lowerBound && invalid.lowerBound < status.lowerBound)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
        #expect(answer.contains("HTTP/1.1 403 Forbidden"))
        #expect(answer.contains("Content-Security-Policy: default-src 'self'\r\n"))

        // The port writes its responses as bytes: a request that is not HTTP gets NIO's 400 and a close; a
        // HEAD has the length but no body; an HTTP/1.0 client asking for keep-alive is told the connection stays.
        let garbage = try HTTP.raw(port: port, "NOT HTTP AT ALL\r\n\r\n")
        #expect(garbage == "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        let head = try HTTP.raw(port: port, "HEAD /check.txt HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n") && head.contains("Content-Length: 2\r\nConnection: close\r\n\r\n") && head.hasSuffix("\r\n\r\n"))
        let old = try HTTP.raw(port: port, "GET /check.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /check.txt HTTP/1.0\r\n\r\n")
        #expect(old.hasPrefix("HTTP/1.0 200 OK\r\n") && old.contains("Connection: keep-alive\r\n\r\nok"))
        #expect(old.components(separatedBy: "HTTP/1.0 200 OK").count == 3 && old.hasSuffix("Connection: close\r\n\r\nok"))

        // A report body over Rack's 4 MiB is refused with the API's own error document.
        let bodyFile = dir + "/big-report"
        try String(repeating: "transactions%5B0%5D%5Busage%5D%5Bhits%5D=1&", count: 110_000).write(toFile: bodyFile, atomically: false, encoding: .utf8)
        let (code, body) = try Self.curl(["-X", "POST", "--data-binary", "@" + bodyFile, "-H", "Content-Type: application/x-www-form-urlencoded",
                                          "http://127.0.0.1:\(port)/transactions.xml?provider_key=\(seeded.providerKey)"])
        #expect(code == 400)
        #expect(body.contains("<error code=\"bad_request\">total query size exceeds limit</error>"))
        #expect(try Self.curl(["http://127.0.0.1:\(port)/status"]).0 == 200)
    }

    @Test func adminChangesMeterExactlyAndCountsSurviveStopAndCrash() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-metering-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var p = try await Self.start(dir)
        defer { if p.running.process.isRunning { _ = ServeProcessTests.stop(p.running) } }
        let seeded = try Self.seededApplication(p, dataDir: dir)
        let (providerKey, userKey, planID, hitsID, app) = (seeded.providerKey, seeded.userKey, seeded.planID, seeded.hitsID, seeded.app)

        // A limit created through the admin API applies to the very next call.
        let created = try Self.curl(["-X", "POST", "\(p.admin)/admin/api/application_plans/\(planID)/metrics/\(hitsID)/limits.json",
                                     "-d", "access_token=\(Self.token)&period=day&value=3"])
        #expect(created.0 == 201)
        let authrep = "\(p.metering)/transactions/authrep.xml?provider_key=\(providerKey)&user_key=\(userKey)&usage%5Bhits%5D=1"
        let statuses = try (0..<4).map { _ in try Self.curl([authrep]).0 }
        #expect(statuses == [200, 200, 200, 409])

        // Raising the limit is visible at once too; a report is applied within a second.
        let limits = try Self.json(try Self.curl(["\(p.admin)/admin/api/application_plans/\(planID)/metrics/\(hitsID)/limits.json?access_token=\(Self.token)"]).1)
        let limitID = try #require(((limits["limits"] as? [[String: Any]])?.first?["limit"] as? [String: Any])?["id"] as? Int)
        #expect(try Self.curl(["-X", "PUT", "\(p.admin)/admin/api/application_plans/\(planID)/metrics/\(hitsID)/limits/\(limitID).json",
                               "-d", "access_token=\(Self.token)&value=100"]).0 == 200)
        let report = try Self.curl(["-X", "POST", "\(p.metering)/transactions.xml", "-d",
                                    "provider_key=\(providerKey)&transactions[0][user_key]=\(userKey)&transactions[0][usage][hits]=10"])
        #expect(report.0 == 202)
        let authorize = "\(p.metering)/transactions/authorize.xml?provider_key=\(providerKey)&user_key=\(userKey)"
        var seen = 0
        for _ in 0..<10 where seen != 13 {
            seen = Self.currentValue(try Self.curl([authorize]).1, period: "day") ?? -1
            if seen != 13 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen == 13)
        let stats = try Self.json(try Self.curl(["\(p.admin)/stats/applications/\(app["id"]!)/usage.json?access_token=\(Self.token)&metric_name=hits&period=day"]).1)
        #expect(stats["total"] as? Int == 13)

        // A suspended application is refused by metering as soon as admin answers.
        #expect(try Self.curl(["-X", "PUT", "\(p.admin)/admin/api/accounts/\(app["account_id"]!)/applications/\(app["id"]!)/suspend.json",
                               "-d", "access_token=\(Self.token)"]).0 == 200)
        let suspended = try Self.curl([authorize])
        #expect(suspended.0 == 409 && suspended.1.contains("application is not active"))
        #expect(try Self.curl(["-X", "PUT", "\(p.admin)/admin/api/accounts/\(app["account_id"]!)/applications/\(app["id"]!)/resume.json",
                               "-d", "access_token=\(Self.token)"]).0 == 200)

        // Clean stop: nothing lost.
        #expect(E.stop(p.running) == 0)
        p = try await Self.start(dir)
        #expect(Self.currentValue(try Self.curl(["\(p.metering)/transactions/authorize.xml?provider_key=\(providerKey)&user_key=\(userKey)"]).1,
                                  period: "day") == 13)

        // Crash: counts older than a second survive SIGKILL.
        #expect(try Self.curl(["\(p.metering)/transactions/authrep.xml?provider_key=\(providerKey)&user_key=\(userKey)&usage%5Bhits%5D=2"]).0 == 200)
        try await Task.sleep(for: .milliseconds(1500))
        kill(p.running.process.processIdentifier, SIGKILL)
        p.running.process.waitUntilExit()
        p = try await Self.start(dir)
        #expect(Self.currentValue(try Self.curl(["\(p.metering)/transactions/authorize.xml?provider_key=\(providerKey)&user_key=\(userKey)"]).1,
                                  period: "day") == 15)
        #expect(E.stop(p.running) == 0)
    }
}

/// `--role admin` and `--role metering` as separate processes: admin pushes configuration through metering's
/// internal API (`BACKEND_URL`, Basic credentials), including everything it had before metering started.
@Suite(.serialized) struct SplitRolesProcessTests {
    typealias M = MeteringProcessTests

    @Test func adminAloneKeepsAMeteringProcessInSync() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("portico-split-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let credentials = ["CONFIG_INTERNAL_API_USER": "porta", "CONFIG_INTERNAL_API_PASSWORD": "internal-secret"]
        // Admin first, metering later: admin publishes its configuration once metering answers.
        let meteringPorts = ServeProcessTests.freePorts()
        var adminEnvironment = credentials
        adminEnvironment["PORTICO_ROLE"] = "admin"
        adminEnvironment["BACKEND_URL"] = "http://127.0.0.1:\(meteringPorts["metering"]!)"
        let admin = try await M.start(base + "/admin", environment: adminEnvironment)
        defer { _ = ServeProcessTests.stop(admin.running) }
        let seeded = try M.seededApplication(admin, dataDir: base + "/admin")

        let metering = try ServeProcessTests.start(dataDir: base + "/metering", ports: meteringPorts,
                                                   environment: credentials.merging(["PORTICO_ROLE": "metering"]) { a, _ in a })
        defer { if metering.process.isRunning { _ = ServeProcessTests.stop(metering) } }
        try await ServeProcessTests.waitReady(metering)
        let meteringURL = "http://127.0.0.1:\(meteringPorts["metering"]!)"
        let authorize = "\(meteringURL)/transactions/authorize.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)"
        var status = 0
        for _ in 0..<100 where status != 200 {
            status = try M.curl([authorize]).0
            if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 200)

        // A change made now reaches metering before the admin call returns.
        let created = try M.curl(["-X", "POST", "\(admin.admin)/admin/api/application_plans/\(seeded.planID)/metrics/\(seeded.hitsID)/limits.json",
                                  "-d", "access_token=\(M.token)&period=day&value=1"])
        #expect(created.0 == 201)
        let limitID = try #require((try M.json(created.1)["limit"] as? [String: Any])?["id"] as? Int)
        let authrep = "\(meteringURL)/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        #expect(try [M.curl([authrep]).0, M.curl([authrep]).0] == [200, 409])
        // The internal API is closed to callers without the credentials.
        #expect(try M.curl(["\(meteringURL)/internal/services/\(seeded.app["service_id"]!)"]).0 == 401)

        // Metering goes away; the limit is deleted meanwhile. Admin keeps the change and pushes it once metering is
        // back, without a restart of admin.
        _ = ServeProcessTests.stop(metering)
        #expect(try M.curl(["-X", "DELETE", "\(admin.admin)/admin/api/application_plans/\(seeded.planID)/metrics/\(seeded.hitsID)/limits/\(limitID).json",
                            "-d", "access_token=\(M.token)"]).0 == 200)
        let restarted = try ServeProcessTests.start(dataDir: base + "/metering", ports: meteringPorts,
                                                    environment: credentials.merging(["PORTICO_ROLE": "metering"]) { a, _ in a })
        defer { _ = ServeProcessTests.stop(restarted) }
        try await ServeProcessTests.waitReady(restarted)
        var caughtUp = 0
        for _ in 0..<100 where caughtUp != 200 {
            caughtUp = try M.curl([authorize]).0
            if caughtUp != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(caughtUp == 200, "the deletion reached metering")
    }

    /// Changes made while metering is unreachable survive a restart of admin: a deleted application stays deleted.
    @Test func adminKeepsChangesForAnUnreachableMeteringAcrossItsOwnRestart() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("portico-backlog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let meteringPorts = ServeProcessTests.freePorts()
        let meteringEnvironment = ["PORTICO_ROLE": "metering"]
        let adminEnvironment = ["PORTICO_ROLE": "admin", "BACKEND_URL": "http://127.0.0.1:\(meteringPorts["metering"]!)"]
        var admin = try await M.start(base + "/admin", environment: adminEnvironment)
        defer { if admin.running.process.isRunning { _ = ServeProcessTests.stop(admin.running) } }
        let seeded = try M.seededApplication(admin, dataDir: base + "/admin")
        var metering = try ServeProcessTests.start(dataDir: base + "/metering", ports: meteringPorts, environment: meteringEnvironment)
        defer { if metering.process.isRunning { _ = ServeProcessTests.stop(metering) } }
        try await ServeProcessTests.waitReady(metering)
        let authorize = "http://127.0.0.1:\(meteringPorts["metering"]!)/transactions/authorize.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)"
        var status = 0
        for _ in 0..<100 where status != 200 {
            status = try M.curl([authorize]).0
            if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 200)

        // Metering goes away; the application is deleted; admin restarts before metering is back.
        #expect(ServeProcessTests.stop(metering) == 0)
        #expect(try M.curl(["-X", "DELETE", "\(admin.admin)/admin/api/accounts/\(seeded.app["account_id"]!)/applications/\(seeded.app["id"]!).json",
                            "-d", "access_token=\(M.token)"]).0 == 200)
        let backlogFile = base + "/admin/metering-sync-backlog.jsonl"
        #expect(FileManager.default.fileExists(atPath: backlogFile))
        #expect(ServeProcessTests.stop(admin.running) == 0)
        admin = try await M.start(base + "/admin", environment: adminEnvironment)

        metering = try ServeProcessTests.start(dataDir: base + "/metering", ports: meteringPorts, environment: meteringEnvironment)
        try await ServeProcessTests.waitReady(metering)
        // Metering still knew the application from before; the saved deletion reaches it.
        for _ in 0..<150 where status == 200 {
            status = try M.curl([authorize]).0
            if status == 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 403, "the application deleted while metering was away is refused")
        for _ in 0..<50 where FileManager.default.fileExists(atPath: backlogFile) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!FileManager.default.fileExists(atPath: backlogFile), "the backlog file is removed once metering has everything")
    }
}
