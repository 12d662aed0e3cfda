import Foundation
import PorticoTesting
import Testing

/// `portico serve` with metering on a real redis-server (`REDIS_STORAGE_URL`, `REDIS_QUEUES_URL`): apisonator's
/// keys, exact limits under concurrency, reports through the Resque queue, a Redis outage answered in the
/// Service Management API's format with nothing counted twice, and recovery without a restart.
@Suite(.serialized, .enabled(if: RedisServerProcess.isAvailable, "needs redis-server (apt-get install redis-server)"))
struct RedisMeteringProcessTests {
    typealias M = MeteringProcessTests

    static func redisCLI(_ port: Int, _ database: Int, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        p.arguments = ["-p", String(port), "-n", String(database), "--raw"] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Status codes of `count` requests sent at once (curl's parallel mode, one connection each).
    static func parallelStatuses(_ url: String, count: Int) throws -> [Int] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-Z", "--parallel-max", String(count)] + Array(repeating: ["-o", "/dev/null", "-w", "%{http_code}\n", url], count: count).flatMap { $0 }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
    }

    /// `redis-cli` over TLS with the test CA.
    static func redisCLI(tls certificates: TestCertificates, _ port: Int, _ arguments: [String]) throws -> String {
        try redisCLI(port, 0, ["--tls", "--cacert", certificates.caCertificate] + arguments)
    }

    @Test(.enabled(if: TestCertificates.isAvailable, "needs openssl"))
    func metersOnATLSOnlyRedisWith3scaleTLSSettings() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let redis = try RedisServerProcess(tls: certificates, requireClientCertificates: true)
        let port = redis.port
        defer { redis.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-redis-tls-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // A redis:// URL with TLS settings is a configuration problem, named before anything starts.
        let refused = try OperationsProcessTests.portico(["config", "check", "--data-dir", dir], environment: [
            "REDIS_STORAGE_URL": "redis://127.0.0.1:\(port)/0", "REDIS_SSL_CA": certificates.caCertificate])
        #expect(refused.status == 2 && refused.output.contains("use rediss://"), "\(refused.output)")

        // 3scale's backend-redis secret keys: the CA as a file path, the client certificate and key as PEM text.
        let environment = [
            "REDIS_STORAGE_URL": "rediss://127.0.0.1:\(port)/0", "REDIS_SSL_CA": certificates.caCertificate,
            "REDIS_SSL_CERT": try String(contentsOfFile: certificates.clientCertificate, encoding: .utf8),
            "REDIS_SSL_KEY": try String(contentsOfFile: certificates.clientKey, encoding: .utf8),
        ]
        let p = try await M.start(dir, environment: environment)
        defer { if p.running.process.isRunning { _ = ServeProcessTests.stop(p.running) } }
        let seeded = try M.seededApplication(p, dataDir: dir)
        let serviceID = try #require(seeded.app["service_id"] as? Int)
        let authrep = "\(p.metering)/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        for _ in 0..<3 { #expect(try M.curl([authrep]).0 == 200) }
        let appID = try Self.redisCLI(tls: certificates, port, ["--cert", certificates.clientCertificate, "--key", certificates.clientKey,
                                                                "GET", "application/service_id:\(serviceID)/key:\(seeded.userKey)/id"])
        #expect(!appID.isEmpty)
        let eternity = "stats/{service:\(serviceID)}/cinstance:\(appID)/metric:\(seeded.hitsID)/eternity"
        #expect(try Self.redisCLI(tls: certificates, port, ["--cert", certificates.clientCertificate, "--key", certificates.clientKey,
                                                            "GET", eternity]) == "3")
        let doctor = try OperationsProcessTests.portico(["doctor", "--data-dir", dir, "--min-free-disk", "1"], environment: environment)
        #expect(doctor.output.contains("over TLS, its certificate verified"), "\(doctor.output)")
    }

    @Test func metersOnRedisExactlyAndSurvivesAnOutage() async throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-redis-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let environment = ["REDIS_STORAGE_URL": redis.url + "/0", "REDIS_QUEUES_URL": redis.url + "/1"]
        var p = try await M.start(dir, environment: environment)
        defer { if p.running.process.isRunning { _ = ServeProcessTests.stop(p.running) } }
        let seeded = try M.seededApplication(p, dataDir: dir)
        let serviceID = try #require(seeded.app["service_id"] as? Int)
        // Metering knows applications by their 3scale app id (not shown for user_key products), found by user_key.
        let appID = try Self.redisCLI(redis.port, 0, ["GET", "application/service_id:\(serviceID)/key:\(seeded.userKey)/id"])
        #expect(!appID.isEmpty)

        // Admin's configuration is in apisonator's layout in the storage database.
        #expect(try Self.redisCLI(redis.port, 0, ["GET", "service/id:\(serviceID)/provider_key"]) == seeded.providerKey)
        #expect(try Self.redisCLI(redis.port, 0, ["GET", "application/service_id:\(serviceID)/id:\(appID)/state"]) == "active")

        // 30 concurrent authreps against a daily limit of 10: exactly 10 pass.
        #expect(try M.curl(["-X", "POST", "\(p.admin)/admin/api/application_plans/\(seeded.planID)/metrics/\(seeded.hitsID)/limits.json",
                            "-d", "access_token=\(M.token)&period=day&value=10"]).0 == 201)
        let authrep = "\(p.metering)/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        let statuses = try Self.parallelStatuses(authrep, count: 30)
        #expect(statuses.count == 30)
        #expect(statuses.filter { $0 == 200 }.count == 10)
        #expect(statuses.filter { $0 == 409 }.count == 20)
        let eternity = "stats/{service:\(serviceID)}/cinstance:\(appID)/metric:\(seeded.hitsID)/eternity"
        #expect(try Self.redisCLI(redis.port, 0, ["GET", eternity]) == "10")

        // A report goes through the Resque queue in database 1 and is applied within a second.
        #expect(try M.curl(["-X", "POST", "\(p.metering)/transactions.xml", "-d",
                            "provider_key=\(seeded.providerKey)&transactions[0][user_key]=\(seeded.userKey)&transactions[0][usage][hits]=5"]).0 == 202)
        let authorize = "\(p.metering)/transactions/authorize.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)"
        var seen = 0
        var last = ""
        for _ in 0..<10 where seen != 15 {
            last = try M.curl([authorize]).1
            seen = M.currentValue(last, period: "day") ?? -1
            if seen != 15 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen == 15, "\(last)")
        #expect(try Self.redisCLI(redis.port, 1, ["LLEN", "resque:queue:priority"]) == "0")

        // The Analytics API reads the same counters.
        let stats = try M.json(try M.curl(["\(p.admin)/stats/services/\(serviceID)/usage.json?access_token=\(M.token)&metric_name=hits&period=day"]).1)
        #expect(stats["total"] as? Int == 15)

        // Redis goes away: calls fail with the API's XML error, and nothing is counted.
        redis.stop()
        let down = try M.curl([authrep])
        #expect(down.0 == 503)
        #expect(down.1.contains(#"<error code="storage_unavailable">"#))
        let downReport = try M.curl(["-X", "POST", "\(p.metering)/transactions.xml", "-d",
                                     "provider_key=\(seeded.providerKey)&transactions[0][user_key]=\(seeded.userKey)&transactions[0][usage][hits]=1"])
        #expect(downReport.0 == 503)

        // It comes back: service resumes by itself, with the counts exactly as before the outage.
        try redis.start()
        var status = 0
        var body = ""
        for _ in 0..<50 where status != 409 {
            (status, body) = try M.curl([authorize])
            if status != 409 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 409)
        #expect(M.currentValue(body, period: "day") == 15)

        // Counts live in Redis: a restarted process serves them unchanged.
        #expect(ServeProcessTests.stop(p.running) == 0)
        p = try await M.start(dir, environment: environment)
        let afterRestart = try M.curl(["\(p.metering)/transactions/authorize.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)"])
        #expect(M.currentValue(afterRestart.1, period: "day") == 15, "\(afterRestart)")
        #expect(ServeProcessTests.stop(p.running) == 0)
    }
}
