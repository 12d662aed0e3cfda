import Foundation
@testable import PorticoAdmin
import PorticoStore
import Testing

@Suite struct SyncBacklogFileTests {
    @Test func changesRoundTripInOrderAndATornLineIsCountedNotApplied() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portico-backlog-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = SyncBacklogFile(path: path)
        let app = RawRecord(id: 7, tenantID: 2, scope: "account/3", lookupKey: "user-key \"quoted\"", data: Array(#"{"name":"Ünïcode app","state":"live"}"#.utf8))
        let saved = RecordChange(table: .applications, tenantID: 2, old: nil, new: app)
        let deleted = RecordChange(table: .applications, tenantID: 2, old: app, new: nil)
        let limit = RecordChange(table: .usageLimits, tenantID: 2, old: nil,
                                 new: RawRecord(id: 9, tenantID: 2, scope: "plan/4", lookupKey: nil, data: Array("{}".utf8)))
        try file.append([saved, deleted])
        try file.append([limit])
        // A crash while appending leaves half a line.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"table":"applications","tenant_id":2,"old":nu"#.utf8))
        try handle.close()

        let loaded = try file.load()
        #expect(loaded.unreadable == 1)
        #expect(loaded.changes.map(\.table) == [.applications, .applications, .usageLimits])
        #expect(loaded.changes[0].old == nil && loaded.changes[0].new?.data == app.data && loaded.changes[0].new?.lookupKey == app.lookupKey)
        #expect(loaded.changes[1].new == nil && loaded.changes[1].old?.id == 7 && loaded.changes[1].old?.scope == "account/3")
        #expect(loaded.changes[2].new?.lookupKey == nil)

        try file.rewrite(Array(loaded.changes.dropFirst(2)))
        #expect(try file.load().changes.map(\.table) == [.usageLimits])
        try file.rewrite([])
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try file.load().changes.isEmpty)
    }
}
