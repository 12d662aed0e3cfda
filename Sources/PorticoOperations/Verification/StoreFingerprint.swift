import PorticoMeteringStore
import PorticoRedis
import PorticoStore

/// Row counts and checksums per admin table and per metering key family: what `restore` and `move` compare
/// between the source and the copy, and print so an operator can compare them with their own tools.
struct StoreFingerprint: Equatable, Sendable {
    struct Part: Equatable, Sendable, CustomStringConvertible {
        var count: Int
        var sha256: String
        var description: String { "\(count), sha256 \(sha256.prefix(16))" }
    }

    var tables: [String: Part] = [:]
    var families: [String: Part] = [:]

    /// Tables are fingerprinted as their archive encoding (record JSON byte for byte, ids, tenants, scopes).
    static func admin(_ rows: [RecordTable: [RawRecord]]) -> [String: Part] {
        var out: [String: Part] = [:]
        for (table, list) in rows {
            out[table.name] = Part(count: list.count, sha256: BackupContents.sha256(AdminRowsCodec.encode(list.sorted { $0.id < $1.id })))
        }
        return out
    }

    /// Families are fingerprinted as the canonical commands of their keys, without deadlines (Redis reports a
    /// key's remaining time, so a deadline read back may differ by the milliseconds the copy took).
    static func metering(_ entries: [MeteringEntry]) -> [String: Part] {
        var byFamily: [String: [MeteringEntry]] = [:]
        for entry in entries { byFamily[entry.family, default: []].append(entry) }
        var out: [String: Part] = [:]
        for (family, list) in byFamily {
            var bytes: [UInt8] = []
            for entry in list.sorted(by: { $0.key < $1.key }) {
                for command in entry.commands(includeExpiry: false) { RESPEncoder.encodeCommand(command, into: &bytes) }
            }
            out[family] = Part(count: list.count, sha256: BackupContents.sha256(bytes))
        }
        return out
    }

    /// One line per table and family, for summaries.
    var lines: [String] {
        tables.keys.sorted().map { "  table \($0): \(tables[$0]!)" } + families.keys.sorted().map { "  keys \($0): \(families[$0]!)" }
    }
}
