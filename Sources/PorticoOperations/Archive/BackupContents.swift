import Crypto
import Foundation
import PorticoCore
import PorticoMeteringStore
import PorticoPostgres
import PorticoSQLite
import PorticoStore

/// Everything a backup holds, decoded: admin rows per table, metering keys, stored files, and the manifest that
/// describes them. `archive()` writes it as a tar file; `read(_:)` reads one back and verifies it whole.
struct BackupContents: Sendable {
    var manifest: BackupManifest
    var rows: [RecordTable: [RawRecord]]
    var storage: [MeteringEntry]
    var queues: [MeteringEntry]
    /// Stored files of the data directory by name (`credentials`).
    var files: [String: [UInt8]]

    /// The newest admin schema this binary knows (both dialects share version numbers).
    static var binarySchemaVersion: Int { max(SQLiteMigrations.all.map(\.version).max() ?? 0, PostgresMigrations.all.map(\.version).max() ?? 0) }

    static func adminMember(_ table: RecordTable) -> String { "admin/\(table.name).jsonl" }
    static let storageMember = "metering/storage.resp"
    static let queuesMember = "metering/queues.resp"
    static func fileMember(_ name: String) -> String { "files/\(name)" }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// The archive bytes, manifest first, with the manifest's parts filled in.
    func archive() -> [UInt8] {
        var members: [TarArchive.Member] = []
        for table in RecordTable.all {
            members.append(.init(name: Self.adminMember(table), bytes: AdminRowsCodec.encode(rows[table] ?? [])))
        }
        members.append(.init(name: Self.storageMember, bytes: MeteringEntriesCodec.encode(storage)))
        if !queues.isEmpty { members.append(.init(name: Self.queuesMember, bytes: MeteringEntriesCodec.encode(queues))) }
        for (name, bytes) in files.sorted(by: { $0.key < $1.key }) { members.append(.init(name: Self.fileMember(name), bytes: bytes)) }
        var manifest = self.manifest
        manifest.parts = members.map { .init(path: $0.name, bytes: $0.bytes.count, sha256: Self.sha256($0.bytes)) }
        manifest.files = files.keys.sorted()
        return TarArchive.write([.init(name: "manifest.json", bytes: manifest.encoded())] + members,
                                modificationTime: Int64(Date().timeIntervalSince1970))
    }

    /// Reads and verifies an archive: structure, manifest, format and schema version, then every part's size,
    /// checksum and counts. Nothing is returned unless all of it holds.
    static func read(_ path: String) throws(OperationsError) -> BackupContents {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OperationsError("cannot read \(path): it does not exist or is not readable")
        }
        let members = try TarArchive.read(Array(data))
        guard let first = members.first, first.name == "manifest.json" else {
            throw OperationsError("\(path) has no manifest.json: it is not a Portico backup")
        }
        let manifest = try BackupManifest.decode(first.bytes)
        guard manifest.format == BackupManifest.formatName else { throw OperationsError("\(path) is a \(manifest.format), not a Portico backup") }
        guard manifest.formatVersion <= BackupManifest.currentFormatVersion else {
            throw OperationsError("\(path) uses backup format \(manifest.formatVersion), newer than this portico \(PorticoVersion.current) reads (\(BackupManifest.currentFormatVersion)); restore it with portico \(manifest.porticoVersion) or newer")
        }
        guard manifest.schemaVersion <= binarySchemaVersion else {
            throw OperationsError("\(path) was taken at admin schema version \(manifest.schemaVersion) by portico \(manifest.porticoVersion), newer than this portico \(PorticoVersion.current) knows (\(binarySchemaVersion)); restore it with portico \(manifest.porticoVersion) or newer")
        }
        var byName: [String: [UInt8]] = [:]
        for m in members.dropFirst() { byName[m.name] = m.bytes }
        for part in manifest.parts {
            guard let bytes = byName[part.path] else {
                throw OperationsError("\(path) lacks \(part.path), which its manifest lists: the archive is truncated or damaged")
            }
            guard bytes.count == part.bytes, sha256(bytes) == part.sha256 else {
                throw OperationsError("\(part.path) in \(path) does not match its checksum: the archive is corrupted; use another copy")
            }
        }
        let listed = Set(manifest.parts.map(\.path))
        if let extra = byName.keys.sorted().first(where: { !listed.contains($0) }) {
            throw OperationsError("\(path) holds \(extra), which its manifest does not list: the archive was altered")
        }
        var rows: [RecordTable: [RawRecord]] = [:]
        for table in RecordTable.all {
            let name = adminMember(table)
            let decoded = try AdminRowsCodec.decode(byName[name] ?? [], member: name)
            guard decoded.count == manifest.admin.rows[table.name] ?? 0 else {
                throw OperationsError("\(name) holds \(decoded.count) rows but the manifest records \(manifest.admin.rows[table.name] ?? 0): the archive is inconsistent")
            }
            rows[table] = decoded
        }
        let storage = try MeteringEntriesCodec.decode(byName[storageMember] ?? [], member: storageMember)
        let queues = try MeteringEntriesCodec.decode(byName[queuesMember] ?? [], member: queuesMember)
        guard MeteringEntriesCodec.families(storage) == manifest.metering.storageKeys,
              MeteringEntriesCodec.families(queues) == manifest.metering.queueKeys else {
            throw OperationsError("the metering keys in \(path) do not match the counts its manifest records: the archive is inconsistent")
        }
        var files: [String: [UInt8]] = [:]
        for name in manifest.files { files[name] = byName[fileMember(name)] ?? [] }
        return BackupContents(manifest: manifest, rows: rows, storage: storage, queues: queues, files: files)
    }
}
