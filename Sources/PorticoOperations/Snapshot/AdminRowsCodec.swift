import PorticoCore
import PorticoStore

/// Admin rows in an archive: one JSON object per line (`id`, `tenant_id`, `scope`, `lookup_key`, `data`), with
/// the record's JSON kept as a string so it restores byte for byte. Dialect-neutral: SQLite rows restore into
/// PostgreSQL and back.
enum AdminRowsCodec {
    static func encode(_ rows: [RawRecord]) -> [UInt8] {
        var out: [UInt8] = []
        for row in rows {
            let line: JSONValue = .object([
                "id": .int(row.id), "tenant_id": .int(row.tenantID), "scope": .string(row.scope),
                "lookup_key": row.lookupKey.map { .string($0) } ?? .null, "data": .string(String(decoding: row.data, as: UTF8.self)),
            ])
            out += Array(line.serializedString.utf8)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    static func decode(_ bytes: [UInt8], member: String) throws(OperationsError) -> [RawRecord] {
        var rows: [RawRecord] = []
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).enumerated() {
            guard let value = try? JSONParser.parse(Array(line)), case .int(let id)? = value["id"], case .int(let tenant)? = value["tenant_id"],
                  case .string(let scope)? = value["scope"], case .string(let data)? = value["data"] else {
                throw OperationsError("line \(index + 1) of \(member) is not a valid row; the archive is corrupted")
            }
            var lookup: String?
            if case .string(let k)? = value["lookup_key"] { lookup = k }
            rows.append(RawRecord(id: id, tenantID: tenant, scope: scope, lookupKey: lookup, data: Array(data.utf8)))
        }
        return rows
    }
}
