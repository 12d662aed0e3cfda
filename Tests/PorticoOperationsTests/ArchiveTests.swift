import Foundation
import PorticoMeteringStore
@testable import PorticoOperations
import Testing

struct ArchiveTests {
    static let members: [TarArchive.Member] = [
        .init(name: "manifest.json", bytes: Array("{}\n".utf8)),
        .init(name: "admin/accounts.jsonl", bytes: Array(repeating: UInt8(ascii: "a"), count: 700)),
        .init(name: "metering/storage.resp", bytes: []),
    ]

    @Test func tarRoundTripsAndIsReadableByTar() throws {
        let bytes = TarArchive.write(Self.members, modificationTime: 1_700_000_000)
        #expect(bytes.count % 512 == 0)
        #expect(try TarArchive.read(bytes) == Self.members)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portico-tar-\(UUID().uuidString).tar").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        p.arguments = ["tf", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let listing = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(listing.split(separator: "\n").map(String.init) == Self.members.map(\.name))
    }

    /// Every strict prefix of an archive is refused: a truncated copy is never mistaken for a whole one.
    @Test func everyTruncationIsRefused() {
        let bytes = TarArchive.write(Self.members, modificationTime: 0)
        for length in 0..<bytes.count {
            #expect(throws: OperationsError.self) { try TarArchive.read(Array(bytes[0..<length])) }
        }
    }

    /// Damaged bytes anywhere give an error or the original members, never a crash or different content
    /// without an error (payload bytes are covered by the manifest's checksums, checked by `BackupContents`).
    @Test func randomDamageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let bytes = TarArchive.write(Self.members, modificationTime: 0)
        for _ in 0..<2_000 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                damaged[Int.random(in: 0..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? TarArchive.read(damaged)
        }
    }

    @Test func meteringEntriesRoundTrip() throws {
        let entries = [
            MeteringEntry(key: "a/set", value: .set(["x", "y"])),
            MeteringEntry(key: "b/hash", value: .hash(["f": "1", "g": ""]), expiresAtMilliseconds: 99),
            MeteringEntry(key: "c/list", value: .list(["3", "1", "2"])),
            MeteringEntry(key: "d/string", value: .string("42"), expiresAtMilliseconds: 7),
            MeteringEntry(key: "e/zset", value: .sortedSet(["m": 5, "n": -1])),
        ]
        let bytes = MeteringEntriesCodec.encode(entries)
        #expect(try MeteringEntriesCodec.decode(bytes, member: "m") == entries)
        #expect(throws: OperationsError.self) { try MeteringEntriesCodec.decode(Array(bytes.dropLast(3)), member: "m") }
        #expect(MeteringEntriesCodec.families(entries) == ["a": 1, "b": 1, "c": 1, "d": 1, "e": 1])
    }

    @Test func wildcardRewriteMovesOnlyHostsUnderTheOldDomain() {
        let r = WildcardDomainRewrite(from: "localhost", to: "apps.example.com")
        #expect(r.rewrittenHost("http://api-acme-apicast-production.localhost:8080") == "http://api-acme-apicast-production.apps.example.com:8080")
        #expect(r.rewrittenHost("https://x.LOCALHOST/path?q=1") == "https://x.apps.example.com/path?q=1")
        #expect(r.rewrittenHost("api.staging.localhost") == "api.staging.apps.example.com")
        #expect(r.rewrittenHost("https://api.example.org") == nil)
        #expect(r.rewrittenHost("http://localhost:8080") == nil)
        #expect(r.rewrittenHost("http://notlocalhost:8080") == nil)
    }

    /// A restore killed after writing its journal is finished by the next process, and finishing is idempotent.
    @Test func journalRollsForward() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-journal-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/portico.db"))
        try Data("new".utf8).write(to: URL(fileURLWithPath: dir + "/portico.db.restoring"))
        let journal = RestoreJournal(renames: [.init(staged: dir + "/portico.db.restoring", final: dir + "/portico.db", keptAs: dir + "/portico.db.kept")])
        try JSONEncoder().encode(journal).write(to: URL(fileURLWithPath: dir + "/restore.journal"))
        #expect(try RestoreJournal.finishInterrupted(dataDirectory: dir))
        #expect(FileManager.default.contents(atPath: dir + "/portico.db") == Data("new".utf8))
        #expect(FileManager.default.contents(atPath: dir + "/portico.db.kept") == Data("old".utf8))
        #expect(!FileManager.default.fileExists(atPath: dir + "/restore.journal"))
        #expect(try !RestoreJournal.finishInterrupted(dataDirectory: dir))
    }
}
