import Foundation
import PorticoTesting
import Testing

/// `portico doctor` and `portico upgrade` on the real binary against real PostgreSQL and redis-server.
@Suite(.serialized) struct UpgradeProcessTests {
    typealias E = ServeProcessTests
    typealias M = MeteringProcessTests
    typealias O = OperationsProcessTests

    static var postgresAvailable: Bool { ProcessInfo.processInfo.environment["PORTICO_TEST_DATABASE_URL"] != nil }

    static func psql(_ url: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = [url, "-qAtc", sql]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "psql: \(sql)")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A port nothing listens on: what a stopped server looks like to a client.
    static func closedPort() -> Int { LoopbackPorts.base() + 9 }

    @Test(.enabled(if: RedisServerProcess.isAvailable && postgresAvailable, "needs redis-server and PORTICO_TEST_DATABASE_URL"))
    func doctorNamesEachProblemWithItsFix() async throws {
        let dir = O.temporaryDirectory("doctor")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let redis = try RedisServerProcess()
        defer { redis.stop() }

        // Stopped PostgreSQL and Redis, and a disk with less free space than required: each named, with its fix.
        let port = Self.closedPort()
        let broken = try O.portico(["doctor", "--data-dir", dir, "--database-url", "postgresql://postgres@127.0.0.1:\(port)/portico?sslmode=disable",
                                    "--redis-storage-url", "redis://127.0.0.1:\(port)/0", "--min-free-disk", "1000000T"])
        #expect(broken.status == 1)
        for expected in ["[problem] admin database: postgresql://postgres@127.0.0.1:\(port)/portico", "fix: start PostgreSQL",
                         "[problem] Redis (REDIS_STORAGE_URL): redis://127.0.0.1:\(port)/0 cannot be used", "fix: start Redis",
                         "[problem] disk space:", "less than the 976.6 PiB", "fix: free space", "3 problem(s)"] {
            #expect(broken.output.contains(expected), "\(expected) in \(broken.output)")
        }

        // Healthy stores: exit 0, versions and permissions reported.
        let database = try #require(try O.freshPostgresDatabase())
        let healthy = try O.portico(["doctor", "--data-dir", dir, "--database-url", database, "--redis-storage-url", redis.url + "/0"])
        #expect(healthy.status == 0, "\(healthy.output)")
        for expected in ["[ok] PostgreSQL version: PostgreSQL", "[ok] PostgreSQL permissions", "[ok] schema: empty database", "[ok] Redis (REDIS_STORAGE_URL)"] {
            #expect(healthy.output.contains(expected), "\(expected) in \(healthy.output)")
        }

        // A schema older than the binary: named, with portico upgrade as the fix; not a problem (serve migrates it).
        #expect(try O.portico(["migrate", "--to-version", "1", "--data-dir", dir, "--database-url", database]).status == 0)
        let old = try O.portico(["doctor", "--data-dir", dir, "--database-url", database])
        #expect(old.status == 0)
        #expect(old.output.contains("[warning] schema: at version 1, older than this portico's 2; pending: 2 per-tenant lookup indexes"), "\(old.output)")
        #expect(old.output.contains("fix: run portico upgrade"))

        // A role that may not create tables (PostgreSQL 15's default on public for non-owners).
        let role = "portico_limited_\(UInt32.random(in: 0...UInt32.max))"
        _ = try Self.psql(database, "CREATE ROLE \(role) LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        let limited = database.replacingOccurrences(of: "postgres@", with: "\(role)@")
        let denied = try O.portico(["doctor", "--data-dir", dir, "--database-url", limited])
        #expect(denied.status == 1)
        #expect(denied.output.contains("[problem] PostgreSQL permissions") && denied.output.contains("GRANT CREATE ON SCHEMA public"), "\(denied.output)")
        // It cannot read the tables either (they belong to another role): said with the server's own reason.
        #expect(denied.output.contains("[problem] schema: cannot read") && denied.output.contains("permission denied for table"), "\(denied.output)")

        // A schema newer than the binary: doctor and serve say the same thing, and serve does not start.
        _ = try Self.psql(database, "INSERT INTO portico_schema_migrations (version, name, applied_at) VALUES (99, 'from the future', '2030-01-01T00:00:00Z')")
        let future = try O.portico(["doctor", "--data-dir", dir, "--database-url", database])
        #expect(future.status == 1)
        let message = "the database is at schema version 99 but this portico knows only up to 2; run a newer portico"
        #expect(future.output.contains("[problem] schema:") && future.output.contains(message), "\(future.output)")
        let ports = E.freePorts()
        let serve = try O.portico(["serve", "--data-dir", dir, "--database-url", database, "--bind", "127.0.0.1",
                                   "--admin-port", "\(ports["admin"]!)", "--metering-port", "\(ports["metering"]!)", "--gateway-port", "\(ports["gateway"]!)",
                                   "--staging-port", "\(ports["staging"]!)", "--management-port", "\(ports["management"]!)"],
                                  environment: ["ADMIN_ACCESS_TOKEN": M.token])
        #expect(serve.status != 0)
        #expect(serve.errors.contains(message), "\(serve.errors)")
    }

    @Test(.enabled(if: postgresAvailable, "needs PORTICO_TEST_DATABASE_URL"))
    func upgradePlansDryRunsBacksUpMigratesAndRollsBack() async throws {
        let ports = E.freePorts()
        let dir = O.temporaryDirectory("upgrade")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try #require(try O.freshPostgresDatabase())
        let onPostgres = ["DATABASE_URL": database]
        let p = try await O.start(dir, ports: ports, environment: onPostgres)
        let seeded = try O.populate(p, dataDir: dir, calls: 3)
        let original = try O.observe(p, userKey: seeded.userKey, providerKey: seeded.providerKey)
        // What the previous release left (the same tables and rows, without migration 2), with a serve of that
        // release still running on it: the upgrade refuses after its preflight, and changes nothing.
        let indexes = try Self.psql(database, "SELECT string_agg(indexname, ',') FROM pg_indexes WHERE indexname LIKE '%_tenant_lookup'")
        _ = try Self.psql(database, "DROP INDEX " + indexes + "; DELETE FROM portico_schema_migrations WHERE version = 2")
        let schemaVersion = { try Self.psql(database, "SELECT MAX(version) FROM portico_schema_migrations") }
        #expect(try schemaVersion() == "1")
        let refused = try O.portico(["upgrade", "--data-dir", dir], environment: onPostgres)
        #expect(refused.status == 1 && refused.errors.contains("stop it before upgrading"), "\(refused.errors)")
        #expect(try schemaVersion() == "1")
        #expect(E.stop(p.running) == 0)

        let plan = try O.portico(["upgrade", "--plan", "--data-dir", dir], environment: onPostgres)
        #expect(plan.status == 0)
        #expect(plan.output.contains("is at version 1; this portico") && plan.output.contains("  2 per-tenant lookup indexes")
                && plan.output.contains("CREATE INDEX applications_tenant_lookup"), "\(plan.output)")
        let dryRun = try O.portico(["upgrade", "--dry-run", "--data-dir", dir], environment: onPostgres)
        #expect(dryRun.status == 0 && dryRun.output.contains("nothing was changed"), "\(dryRun.output)")
        #expect(try schemaVersion() == "1")
        #expect(!FileManager.default.fileExists(atPath: dir + "/backups"))

        let backup = dir + "-pre-upgrade.tar"
        defer { try? FileManager.default.removeItem(atPath: backup) }
        let upgrade = try O.portico(["upgrade", "--data-dir", dir, "--backup", backup], environment: onPostgres)
        #expect(upgrade.status == 0, "\(upgrade.errors)")
        #expect(upgrade.output.contains("applied: 2 per-tenant lookup indexes") && upgrade.output.contains("rows, as before"), "\(upgrade.output)")
        #expect(upgrade.output.contains("to roll back:") && upgrade.output.contains("portico restore \(backup)"))
        #expect(try schemaVersion() == "2")
        #expect(FileManager.default.fileExists(atPath: backup))
        let upgraded = try await O.start(dir, ports: ports, environment: onPostgres)
        O.expectSame(try O.observe(upgraded, userKey: seeded.userKey, providerKey: seeded.providerKey), original)
        #expect(E.stop(upgraded.running) == 0)

        // Rolling back as printed: the backup into an empty database.
        let rollbackDatabase = try #require(try O.freshPostgresDatabase())
        let rollbackDir = dir + "-rollback"
        defer { try? FileManager.default.removeItem(atPath: rollbackDir) }
        let restore = try O.portico(["restore", backup, "--data-dir", rollbackDir, "--database-url", rollbackDatabase])
        #expect(restore.status == 0, "\(restore.errors)")
        let rolledBack = try await O.start(rollbackDir, ports: ports, environment: ["DATABASE_URL": rollbackDatabase])
        O.expectSame(try O.observe(rolledBack, userKey: seeded.userKey, providerKey: seeded.providerKey), original)
        #expect(E.stop(rolledBack.running) == 0)
    }
}
