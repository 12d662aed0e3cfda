import Foundation
import PorticoTesting
import Testing

/// `portico backup` and `portico restore` on the real binary, with real `serve` processes, SQLite, PostgreSQL
/// and redis-server: what an operator sees.
@Suite(.serialized) struct OperationsProcessTests {
    typealias E = ServeProcessTests
    typealias M = MeteringProcessTests

    /// Every serve of a test uses the same ports (one at a time), so the links in admin listings compare equal.
    static func start(_ dir: String, ports: [String: Int], environment: [String: String] = [:]) async throws -> M.Platform {
        let r = try E.start(dataDir: dir, ports: ports, environment: environment.merging(["ADMIN_ACCESS_TOKEN": M.token]) { a, _ in a })
        try await E.waitReady(r)
        return M.Platform(running: r)
    }

    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `portico <arguments>` to completion.
    static func portico(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        let p = E.process(arguments, environment: environment)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, output: String(decoding: output, as: UTF8.self), errors: String(decoding: errors, as: UTF8.self))
    }

    static func temporaryDirectory(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portico-ops-\(label)-\(UUID().uuidString)").path
    }

    /// What a client sees of an instance: admin listings and the usage of the seeded application.
    static func observe(_ p: M.Platform, userKey: String, providerKey: String) throws -> [String: String] {
        let t = M.token
        let services = try M.json(try M.curl(["\(p.admin)/admin/api/services.json?access_token=\(t)"]).1)
        let serviceID = try #require(((services["services"] as? [[String: Any]])?.first?["service"] as? [String: Any])?["id"] as? Int)
        var seen: [String: String] = [:]
        for path in ["/admin/api/services.json", "/admin/api/applications.json", "/admin/api/accounts.json", "/admin/api/application_plans.json",
                     "/admin/api/services/\(serviceID)/metrics.json", "/admin/api/services/\(serviceID)/proxy.json",
                     "/admin/api/services/\(serviceID)/proxy/mapping_rules.json", "/admin/api/services/\(serviceID)/proxy/configs/sandbox.json",
                     "/admin/api/active_docs.json", "/admin/api/backend_apis.json"] {
            let (status, body) = try M.curl(["\(p.admin)\(path)?access_token=\(t)"])
            #expect(status == 200, "\(path)")
            seen[path] = body
        }
        let usage = try M.curl(["\(p.metering)/transactions/authorize.xml?provider_key=\(providerKey)&user_key=\(userKey)"])
        seen["authorize.xml"] = usage.1
        return seen
    }

    static func hitsToday(_ p: M.Platform, userKey: String, providerKey: String) throws -> Int {
        let xml = try M.curl(["\(p.metering)/transactions/authorize.xml?provider_key=\(providerKey)&user_key=\(userKey)"]).1
        return M.currentValue(xml, period: "day") ?? -1
    }

    /// A fresh database on the test PostgreSQL server, or nil when there is none.
    static func freshPostgresDatabase() throws -> String? {
        guard let url = ProcessInfo.processInfo.environment["PORTICO_TEST_DATABASE_URL"], let slash = url.range(of: "/", options: .backwards) else { return nil }
        let name = "portico_ops_\(UInt32.random(in: 0...UInt32.max))"
        let admin = url[..<slash.lowerBound] + "/postgres?sslmode=disable"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = [String(admin), "-qc", "CREATE DATABASE \(name)"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        let query = url[slash.upperBound...].split(separator: "?", maxSplits: 1).dropFirst().first.map { "?" + $0 } ?? ""
        return url[..<slash.lowerBound] + "/" + name + query
    }

    /// Sets a daily limit and makes `count` calls, so the usage report has counts to compare.
    static func populate(_ p: M.Platform, dataDir: String, calls count: Int) throws -> M.SeededApplication {
        let seeded = try M.seededApplication(p, dataDir: dataDir)
        let created = try M.curl(["-X", "POST", "\(p.admin)/admin/api/application_plans/\(seeded.planID)/metrics/\(seeded.hitsID)/limits.json",
                                  "-d", "access_token=\(M.token)&period=day&value=100000"])
        #expect(created.0 == 201)
        let authrep = "\(p.metering)/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        for _ in 0..<count { #expect(try M.curl([authrep]).0 == 200) }
        return seeded
    }

    @Test func backupWhileServingThenRestoreIntoSQLitePostgresAndAnotherDomain() async throws {
        let ports = E.freePorts()
        let source = Self.temporaryDirectory("source")
        defer { try? FileManager.default.removeItem(atPath: source) }
        var p = try await Self.start(source, ports: ports)
        defer { if p.running.process.isRunning { _ = E.stop(p.running) } }
        let seeded = try Self.populate(p, dataDir: source, calls: 5)
        let (userKey, providerKey) = (seeded.userKey, seeded.providerKey)

        // The embedded store flushes every second; a backup holds what was flushed when it began. Wait until the
        // five calls are on disk so they bound the backup's counts from below.
        for _ in 0..<100 {
            let log = FileManager.default.contents(atPath: source + "/metering/log.resp") ?? Data()
            if String(decoding: log, as: UTF8.self).components(separatedBy: "USAGE").count - 1 >= 5 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // A backup taken while calls keep coming: it succeeds, serve keeps answering, and the counts it holds
        // lie between those before and after it.
        let during = source + "-during.tar"
        defer { try? FileManager.default.removeItem(atPath: during) }
        let authrep = "\(p.metering)/transactions/authrep.xml?provider_key=\(providerKey)&user_key=\(userKey)&usage%5Bhits%5D=1"
        let traffic = Task.detached { () -> Int in
            var ok = 0
            while !Task.isCancelled, ok < 2_000 {
                if (try? M.curl([authrep]))?.0 == 200 { ok += 1 }
            }
            return ok
        }
        let backup = try Self.portico(["backup", "--data-dir", source, "--output", during])
        traffic.cancel()
        let sent = await traffic.value
        #expect(backup.status == 0, "\(backup.errors)")
        #expect(backup.output.contains("backup written"))
        let final = try Self.hitsToday(p, userKey: userKey, providerKey: providerKey)
        #expect(final == 5 + sent)

        let fromDuring = Self.temporaryDirectory("during")
        defer { try? FileManager.default.removeItem(atPath: fromDuring) }
        let restoredDuring = try Self.portico(["restore", during, "--data-dir", fromDuring])
        #expect(restoredDuring.status == 0, "\(restoredDuring.errors)")

        // A backup of the stopped instance restores to exactly what clients saw.
        #expect(E.stop(p.running) == 0)
        let quiet = source + "-quiet.tar"
        defer { try? FileManager.default.removeItem(atPath: quiet) }
        let quietBackup = try Self.portico(["backup", "--data-dir", source, "--output", quiet])
        #expect(quietBackup.status == 0, "\(quietBackup.errors)")
        // Nothing overwrites an existing archive.
        #expect(try Self.portico(["backup", "--data-dir", source, "--output", quiet]).status == 1)

        p = try await Self.start(source, ports: ports)
        let original = try Self.observe(p, userKey: userKey, providerKey: providerKey)
        #expect(Self.hitsToday(original) == final)
        #expect(E.stop(p.running) == 0)

        var instance = try await Self.start(fromDuring, ports: ports)
        let duringHits = try Self.hitsToday(instance, userKey: userKey, providerKey: providerKey)
        #expect(duringHits >= 5 && duringHits <= final, "the backup during traffic holds \(duringHits) hits")
        #expect(E.stop(instance.running) == 0)

        // Into a fresh SQLite data directory.
        let sqlite = Self.temporaryDirectory("sqlite")
        defer { try? FileManager.default.removeItem(atPath: sqlite) }
        let intoSQLite = try Self.portico(["restore", quiet, "--data-dir", sqlite])
        #expect(intoSQLite.status == 0, "\(intoSQLite.errors)")
        #expect(intoSQLite.output.contains("verified"))
        instance = try await Self.start(sqlite, ports: ports)
        Self.expectSame(try Self.observe(instance, userKey: userKey, providerKey: providerKey), original)
        #expect(E.stop(instance.running) == 0)

        // Into PostgreSQL (metering stays embedded in the data directory).
        if let database = try Self.freshPostgresDatabase() {
            let pgData = Self.temporaryDirectory("pg"), other = Self.temporaryDirectory("pg-other")
            defer { for d in [pgData, other] { try? FileManager.default.removeItem(atPath: d) } }
            let intoPG = try Self.portico(["restore", quiet, "--data-dir", pgData, "--database-url", database])
            #expect(intoPG.status == 0, "\(intoPG.errors)")
            let onPG = try await Self.start(pgData, ports: ports, environment: ["DATABASE_URL": database])
            Self.expectSame(try Self.observe(onPG, userKey: userKey, providerKey: providerKey), original)
            // The same archive again: PostgreSQL now holds data, so it is refused unless --replace.
            let again = try Self.portico(["restore", quiet, "--data-dir", other, "--database-url", database])
            #expect(again.status == 1)
            #expect(again.errors.contains("running portico serve"))
            #expect(E.stop(onPG.running) == 0)
            let refused = try Self.portico(["restore", quiet, "--data-dir", other, "--database-url", database])
            #expect(refused.status == 1)
            #expect(refused.errors.contains("already holds"))
        }

        // Into an installation under another wildcard domain: product hosts move, nothing else changes.
        let moved = Self.temporaryDirectory("domain")
        defer { try? FileManager.default.removeItem(atPath: moved) }
        let intoDomain = try Self.portico(["restore", quiet, "--data-dir", moved, "--wildcard-domain", "example.test"])
        #expect(intoDomain.status == 0, "\(intoDomain.errors)")
        let onDomain = try await Self.start(moved, ports: ports, environment: ["WILDCARD_DOMAIN": "example.test"])
        let seenOnDomain = try Self.observe(onDomain, userKey: userKey, providerKey: providerKey)
        #expect(E.stop(onDomain.running) == 0)
        var changed = 0
        for (path, body) in original {
            let expected = body.replacingOccurrences(of: "apicast-production.localhost", with: "apicast-production.example.test")
                .replacingOccurrences(of: "apicast-staging.localhost", with: "apicast-staging.example.test")
            if expected != body { changed += 1 }
            #expect(seenOnDomain[path] == expected, "\(path)")
        }
        #expect(changed >= 2)
    }

    static func expectSame(_ seen: [String: String], _ original: [String: String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(seen.keys.sorted() == original.keys.sorted(), sourceLocation: sourceLocation)
        for (path, body) in original { #expect(seen[path] == body, "\(path)", sourceLocation: sourceLocation) }
    }

    static func hitsToday(_ seen: [String: String]) -> Int { M.currentValue(seen["authorize.xml"] ?? "", period: "day") ?? -1 }

    static func digest(_ directory: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in ["portico.db", "metering/snapshot.resp", "metering/log.resp", "credentials"] {
            out[name] = FileManager.default.contents(atPath: directory + "/" + name)
        }
        return out
    }

    /// Rewrites the archive's manifest with `edit` (through the system's tar, as an operator might).
    static func repack(_ archive: String, to output: String, edit: (String) -> String) throws {
        let work = Self.temporaryDirectory("repack")
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        func tar(_ arguments: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
            p.arguments = arguments
            p.currentDirectoryURL = URL(fileURLWithPath: work)
            try p.run()
            p.waitUntilExit()
        }
        try tar(["xf", archive])
        let manifest = try String(contentsOfFile: work + "/manifest.json", encoding: .utf8)
        try edit(manifest).write(toFile: work + "/manifest.json", atomically: true, encoding: .utf8)
        let members = try FileManager.default.subpathsOfDirectory(atPath: work).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: work + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
        try tar(["cf", output, "--format=ustar", "manifest.json"] + members.filter { $0 != "manifest.json" })
    }

    @Test func brokenArchivesAndInterruptedRestoresLeaveTheTargetUntouched() async throws {
        let ports = E.freePorts()
        let source = Self.temporaryDirectory("source")
        let target = Self.temporaryDirectory("target")
        let archives = Self.temporaryDirectory("archives")
        defer { for d in [source, target, archives] { try? FileManager.default.removeItem(atPath: d) } }
        try FileManager.default.createDirectory(atPath: archives, withIntermediateDirectories: true)
        let p = try await Self.start(source, ports: ports)
        _ = try Self.populate(p, dataDir: source, calls: 3)
        // Restoring into the data directory of a running serve is refused.
        let good = archives + "/good.tar"
        #expect(try Self.portico(["backup", "--data-dir", source, "-o", good]).status == 0)
        let busy = try Self.portico(["restore", good, "--data-dir", source, "--replace"])
        #expect(busy.status == 1)
        #expect(busy.errors.contains("in use by another portico process"))
        #expect(E.stop(p.running) == 0)

        // The target already holds an instance (another restore of the same data, plus a later change).
        #expect(try Self.portico(["restore", good, "--data-dir", target]).status == 0)
        let before = try Self.digest(target)
        #expect(before["portico.db"] != nil)

        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        var corrupted = bytes
        corrupted[bytes.count / 2] ^= 0x55
        try corrupted.write(to: URL(fileURLWithPath: archives + "/corrupted.tar"))
        try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: archives + "/truncated.tar"))
        try Self.repack(good, to: archives + "/newer.tar") { $0.replacingOccurrences(of: #""schema_version" : \d+"#, with: #""schema_version" : 99"#, options: .regularExpression) }

        for (name, message) in [("corrupted", "corrupted"), ("truncated", "truncated"), ("newer", "newer than this portico")] {
            let outcome = try Self.portico(["restore", archives + "/\(name).tar", "--data-dir", target, "--replace"])
            #expect(outcome.status == 1, "\(name)")
            #expect(outcome.errors.contains(message), "\(name): \(outcome.errors)")
            #expect(try Self.digest(target) == before, "\(name)")
        }

        // Killed while staging, and killed right after checking: the target is as it was.
        for point in ["checking the target stores", "staging copy of", "metering keys into a staging copy"] {
            let p = E.process(["restore", good, "--data-dir", target, "--replace"], environment: ["PORTICO_TEST_STOP_AT": point])
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            try await Self.waitStopped(p.processIdentifier)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(try Self.digest(target) == before, "killed at \(point)")
        }

        // After all that, a restore still completes, keeps the replaced data aside, and serve starts on it.
        let replaced = try Self.portico(["restore", good, "--data-dir", target, "--replace"])
        #expect(replaced.status == 0, "\(replaced.errors)")
        #expect(replaced.output.contains("kept as"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: target).filter { $0.hasSuffix(".restoring") }
        #expect(leftovers.isEmpty)
        let restarted = try await Self.start(target, ports: ports)
        #expect(E.stop(restarted.running) == 0)
    }

    /// Waits until the process has stopped itself (state `T` in /proc).
    static func waitStopped(_ pid: Int32) async throws {
        for _ in 0..<600 {
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.range(of: ") ", options: .backwards), stat[close.upperBound...].hasPrefix("T") { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CancellationError()
    }

    @Test(.enabled(if: RedisServerProcess.isAvailable, "needs redis-server"))
    func embeddedCountersRestoreIntoRedisAndBack() async throws {
        let ports = E.freePorts()
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let source = Self.temporaryDirectory("embedded")
        let onRedis = Self.temporaryDirectory("redis")
        let back = Self.temporaryDirectory("back"), busyTarget = Self.temporaryDirectory("busy")
        defer { for d in [source, onRedis, back, busyTarget] { try? FileManager.default.removeItem(atPath: d) } }
        let p = try await Self.start(source, ports: ports)
        let seeded = try Self.populate(p, dataDir: source, calls: 7)
        let original = try Self.observe(p, userKey: seeded.userKey, providerKey: seeded.providerKey)
        #expect(Self.hitsToday(original) == 7)
        #expect(E.stop(p.running) == 0)
        let first = source + ".tar", second = onRedis + ".tar"
        defer { for f in [first, second] { try? FileManager.default.removeItem(atPath: f) } }
        #expect(try Self.portico(["backup", "--data-dir", source, "-o", first]).status == 0)

        let redisEnvironment = ["REDIS_STORAGE_URL": redis.url + "/0", "REDIS_QUEUES_URL": redis.url + "/1"]
        let intoRedis = try Self.portico(["restore", first, "--data-dir", onRedis], environment: redisEnvironment)
        #expect(intoRedis.status == 0, "\(intoRedis.errors)")
        let r = try await Self.start(onRedis, ports: ports, environment: redisEnvironment)
        Self.expectSame(try Self.observe(r, userKey: seeded.userKey, providerKey: seeded.providerKey), original)
        // A backup of a Redis-backed instance while it runs, restored into the embedded store.
        let fromRedis = try Self.portico(["backup", "--data-dir", onRedis, "-o", second], environment: redisEnvironment)
        #expect(fromRedis.status == 0, "\(fromRedis.errors)")
        // Redis now holds data and a serve is connected: restoring into it again is refused.
        let busy = try Self.portico(["restore", first, "--data-dir", busyTarget], environment: redisEnvironment)
        #expect(busy.status == 1)
        #expect(busy.errors.contains("running portico serve"))
        #expect(E.stop(r.running) == 0)

        let intoEmbedded = try Self.portico(["restore", second, "--data-dir", back])
        #expect(intoEmbedded.status == 0, "\(intoEmbedded.errors)")
        let b = try await Self.start(back, ports: ports)
        Self.expectSame(try Self.observe(b, userKey: seeded.userKey, providerKey: seeded.providerKey), original)
        #expect(E.stop(b.running) == 0)
    }

    @Test(.enabled(if: RedisServerProcess.isAvailable && ProcessInfo.processInfo.environment["PORTICO_TEST_DATABASE_URL"] != nil,
                   "needs redis-server and PORTICO_TEST_DATABASE_URL"))
    func moveEmbeddedToPostgresAndRedisAndBack() async throws {
        let ports = E.freePorts()
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let database = try #require(try Self.freshPostgresDatabase())
        let dir = Self.temporaryDirectory("move")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try await Self.start(dir, ports: ports)
        let seeded = try Self.populate(p, dataDir: dir, calls: 6)
        let original = try Self.observe(p, userKey: seeded.userKey, providerKey: seeded.providerKey)
        #expect(Self.hitsToday(original) == 6)
        let external = ["--to-database-url", database, "--to-redis-storage-url", redis.url + "/0", "--to-redis-queues-url", redis.url + "/1"]

        // A serve on the source: the move refuses and says what to do.
        let busy = try Self.portico(["move", "--data-dir", dir] + external)
        #expect(busy.status == 1)
        #expect(busy.errors.contains("in use by another portico process") && busy.errors.contains("stop it before moving"), "\(busy.errors)")
        #expect(E.stop(p.running) == 0)

        // Embedded → PostgreSQL + Redis: verified per table and family, the source untouched, the serve command printed.
        let before = try Self.digest(dir)
        let out = try Self.portico(["move", "--data-dir", dir] + external)
        #expect(out.status == 0, "\(out.errors)")
        #expect(out.output.contains("the copy matches the source") && out.output.contains("table applications: 1,") && out.output.contains("keys stats:"), "\(out.output)")
        #expect(try Self.digest(dir) == before)
        let serveLine = try #require(out.output.split(separator: "\n").first { $0.hasPrefix("start serve on the new stores with: portico serve ") })
        #expect(serveLine.contains("--database-url") && serveLine.contains("--redis-storage-url") && serveLine.contains("--redis-queues-url"))
        // Moving again into stores that now hold data is refused without --replace.
        let again = try Self.portico(["move", "--data-dir", dir] + external)
        #expect(again.status == 1 && again.errors.contains("--replace"), "\(again.errors)")

        let onExternal = ["DATABASE_URL": database, "REDIS_STORAGE_URL": redis.url + "/0", "REDIS_QUEUES_URL": redis.url + "/1"]
        let q = try await Self.start(dir, ports: ports, environment: onExternal)
        Self.expectSame(try Self.observe(q, userKey: seeded.userKey, providerKey: seeded.providerKey), original)
        // Traffic on the new stores, then back into the embedded stores of the same data directory (which still
        // hold the old copy, so --replace; the old files are kept aside).
        let authrep = "\(q.metering)/transactions/authrep.xml?provider_key=\(seeded.providerKey)&user_key=\(seeded.userKey)&usage%5Bhits%5D=1"
        for _ in 0..<4 { #expect(try M.curl([authrep]).0 == 200) }
        let moved = try Self.observe(q, userKey: seeded.userKey, providerKey: seeded.providerKey)
        #expect(Self.hitsToday(moved) == 10)
        #expect(E.stop(q.running) == 0)

        let back = try Self.portico(["move", "--data-dir", dir, "--to-database-url", "embedded", "--to-redis-storage-url", "embedded", "--replace"],
                                    environment: onExternal)
        #expect(back.status == 0, "\(back.errors)")
        #expect(back.output.contains("kept as:") && back.output.contains("portico serve --data-dir \(dir)\n"), "\(back.output)")
        let b = try await Self.start(dir, ports: ports)
        Self.expectSame(try Self.observe(b, userKey: seeded.userKey, providerKey: seeded.providerKey), moved)
        #expect(E.stop(b.running) == 0)
    }
}
