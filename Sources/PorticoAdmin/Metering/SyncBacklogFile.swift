import Foundation
import PorticoCore
import PorticoStore

/// The backlog of changes a separate metering process has not received, kept on disk so that a restart of
/// admin while metering is unreachable loses nothing — deletions included, which republishing the whole
/// configuration at start cannot bring back. One JSON line per change, oldest first: a change is appended (and
/// synced to disk) when it joins the backlog, and the file is rewritten with what is left after each push
/// attempt (removed once empty). A change pushed just before a crash may be pushed again after the restart;
/// pushing a suffix of the history again, in order, ends in the same configuration.
struct SyncBacklogFile: Sendable {
    let path: String

    static func line(_ change: RecordChange) -> String {
        func raw(_ r: RawRecord?) -> JSONValue {
            guard let r else { return .null }
            return .object(["id": .int(r.id), "tenant_id": .int(r.tenantID), "scope": .string(r.scope),
                            "lookup_key": r.lookupKey.map { .string($0) } ?? .null, "data": .string(String(decoding: r.data, as: UTF8.self))])
        }
        return JSONValue.object(["table": .string(change.table.name), "tenant_id": .int(change.tenantID), "old": raw(change.old),
                                 "new": raw(change.new)]).serializedString
    }

    static func change(_ line: Substring) -> RecordChange? {
        guard let object = (try? JSONParser.parse(String(line)))?.objectValue,
              let name = object["table"]?.stringValue, let table = RecordTable.all.first(where: { $0.name == name }),
              let tenantID = object["tenant_id"]?.stringValue.flatMap({ Int64($0) })
        else { return nil }
        func raw(_ v: JSONValue?) -> RawRecord?? {
            guard let v, !v.isNull else { return .some(nil) }
            guard let o = v.objectValue, let id = o["id"]?.stringValue.flatMap({ Int64($0) }),
                  let tenant = o["tenant_id"]?.stringValue.flatMap({ Int64($0) }), let scope = o["scope"]?.stringValue,
                  let data = o["data"]?.stringValue
            else { return nil }
            let lookup = o["lookup_key"].flatMap { $0.isNull ? nil : $0.stringValue }
            return .some(RawRecord(id: id, tenantID: tenant, scope: scope, lookupKey: lookup, data: Array(data.utf8)))
        }
        guard let old = raw(object["old"]), let new = raw(object["new"]), old != nil || new != nil else { return nil }
        return RecordChange(table: table, tenantID: tenantID, old: old, new: new)
    }

    /// The saved changes, oldest first, and how many lines could not be read (a torn last line after a crash).
    func load() throws -> (changes: [RecordChange], unreadable: Int) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], 0) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var changes: [RecordChange] = []
        var unreadable = 0
        for line in text.split(separator: "\n") where !line.isEmpty {
            if let c = Self.change(line) { changes.append(c) } else { unreadable += 1 }
        }
        return (changes, unreadable)
    }

    func append(_ changes: some Sequence<RecordChange>) throws {
        var text = ""
        for c in changes { text += Self.line(c) + "\n" }
        guard !text.isEmpty else { return }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw SyncBacklogFileError(description: "cannot create \(path); check the data directory's permissions and free space")
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }

    /// Replaces the file by `changes` (atomically, through a temporary file), or removes it when there are none.
    func rewrite(_ changes: [RecordChange]) throws {
        if changes.isEmpty {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            return
        }
        let temporary = path + ".tmp"
        var text = ""
        for c in changes { text += Self.line(c) + "\n" }
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw SyncBacklogFileError(description: "cannot write \(temporary); check the data directory's permissions and free space")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        if rename(temporary, path) != 0 {
            throw SyncBacklogFileError(description: "cannot replace \(path) (errno \(errno))")
        }
    }
}

struct SyncBacklogFileError: Error, CustomStringConvertible {
    let description: String
}
