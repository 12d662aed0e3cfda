import Foundation
import PorticoPostgres
import PorticoRedis
import Testing
@testable import PorticoOperations

/// The pure parts of `portico doctor`: version rules shared with `serve`, the disk and TLS findings, the report.
@Suite struct DoctorTests {
    @Test func redisVersionsBelow62AreRefusedWithOneMessage() throws {
        let info = "# Server\r\nredis_version:6.0.16\r\nredis_git_sha1:00000000\r\n"
        #expect(RedisServerRequirements.version(fromInfo: info) == "6.0.16")
        let endpoint = RedisEndpoint(host: "cache.internal", port: 6379)
        let message = try #require(RedisServerRequirements.unsupportedMessage(version: "6.0.16", setting: "REDIS_STORAGE_URL", endpoint: endpoint))
        #expect(message.contains("Redis 6.0.16") && message.contains("needs Redis 6.2 or newer"))
        for supported in ["6.2.0", "6.2.14", "7.0.15", "7.2.4", "10.0.0"] {
            #expect(RedisServerRequirements.unsupportedMessage(version: supported, setting: "REDIS_STORAGE_URL", endpoint: endpoint) == nil, "\(supported)")
        }
        #expect(RedisServerRequirements.unsupportedMessage(version: "5.0.14", setting: "REDIS_QUEUES_URL", endpoint: endpoint)?.contains("REDIS_QUEUES_URL") == true)
    }

    @Test func postgresBelow13IsRefused() throws {
        let settings = try PostgresConnectionSettings(url: "postgresql://portico@db.internal:5432/portico")
        let message = try #require(PostgresRecordStore.unsupportedServerMessage((120015, "12.15"), settings: settings))
        #expect(message.contains("PostgreSQL 12.15") && message.contains("13 or newer") && message.contains("db.internal:5432"))
        #expect(PostgresRecordStore.unsupportedServerMessage((130000, "13.0"), settings: settings) == nil)
        #expect(PostgresRecordStore.unsupportedServerMessage((170002, "17.2"), settings: settings) == nil)
    }

    @Test func diskSpaceBelowTheMinimumIsAProblem() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let full = Doctor.dataDirectory(directory, options: .init(minimumFreeBytes: .max))
        #expect(full.contains { $0.check == "disk space" && $0.severity == .problem && $0.fix?.contains("portico move --to-data-dir") == true })
        #expect(full.contains { $0.check == "data directory" && $0.severity == .ok })
        let fine = Doctor.dataDirectory(directory, options: .init(minimumFreeBytes: 0))
        #expect(fine.allSatisfy { $0.severity == .ok })
        // The probe leaves nothing behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        let missing = Doctor.dataDirectory(directory + "/not/yet", options: .init(minimumFreeBytes: 0))
        #expect(missing.contains { $0.message.contains("does not exist yet; serve creates it") })
    }

    @Test func transportSecurityWarnsAboutCleartextToOtherHosts() {
        func findings(_ url: String) -> [DoctorFinding] {
            Doctor.transportSecurity(StoreLocations(dataDirectory: "/tmp/x", databaseURL: url, redisStorage: nil, redisQueues: nil, wildcardDomain: "example.com"))
        }
        #expect(findings("postgresql://p@db.internal/portico?sslmode=disable").contains { $0.severity == .warning && $0.message.contains("without TLS") })
        #expect(findings("postgresql://p@db.internal/portico").contains { $0.severity == .warning && $0.message.contains("sslmode=prefer") })
        #expect(findings("postgresql://p@db.internal/portico?sslmode=require").allSatisfy { $0.severity == .ok })
        #expect(findings("postgresql://p@127.0.0.1/portico?sslmode=disable").allSatisfy { $0.severity == .ok })
    }

    @Test func reportListsFixesAndCounts() {
        let lines = DoctorFinding.report([
            DoctorFinding("a", .ok, "fine", fix: "never shown"),
            DoctorFinding("b", .warning, "meh", fix: "do b"),
            DoctorFinding("c", .problem, "broken", fix: "do c"),
        ])
        #expect(lines == ["[ok] a: fine", "[warning] b: meh", "    fix: do b", "[problem] c: broken", "    fix: do c",
                          "1 problem(s), 1 warning(s); serve or an upgrade would fail until the problems are fixed"])
        #expect(DoctorFinding.report([DoctorFinding("a", .ok, "fine")]).last == "no problems found")
        #expect(Doctor.bytes(512) == "512 B")
        #expect(Doctor.bytes(3 << 30) == "3.0 GiB")
    }
}
