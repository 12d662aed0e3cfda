import Foundation
import PorticoCore

/// Typed access to records: JSON-encodes values into the `data` column and back.
extension RecordStore {
    @discardableResult
    public func insert<R: StoredRecord>(_ record: R) async throws -> R {
        var copy = record
        let data = try RecordCoding.encode(record)
        copy.id = try await insert(R.table, tenantID: record.tenantID, scope: record.scope, lookupKey: record.lookupKey, data: data)
        return copy
    }

    /// Saves a changed record; throws `notFound` when it no longer exists.
    public func update<R: StoredRecord>(_ record: R) async throws {
        let data = try RecordCoding.encode(record)
        let found = try await update(R.table, id: record.id, tenantID: record.tenantID, scope: record.scope, lookupKey: record.lookupKey, data: data)
        if !found { throw StorageError(.notFound, "\(R.table) \(record.id) no longer exists") }
    }

    @discardableResult
    public func delete<R: StoredRecord>(_ type: R.Type, tenantID: Int64, id: Int64) async throws -> Bool {
        try await delete(R.table, tenantID: tenantID, id: id)
    }

    public func find<R: StoredRecord>(_ type: R.Type, tenantID: Int64, id: Int64) async throws -> R? {
        try await fetch(R.table, tenantID: tenantID, ids: [id]).first.map(RecordCoding.decode)
    }

    /// Records with the given ids, in id order; missing ids are skipped.
    public func find<R: StoredRecord>(_ type: R.Type, tenantID: Int64, ids: [Int64]) async throws -> [R] {
        guard !ids.isEmpty else { return [] }
        return try await fetch(R.table, tenantID: tenantID, ids: Array(Set(ids)).sorted()).map(RecordCoding.decode)
    }

    public func list<R: StoredRecord>(_ type: R.Type, tenantID: Int64, scope: String? = nil, lookupKey: String? = nil,
                                      page: PageRequest? = nil) async throws -> [R] {
        try await fetch(R.table, tenantID: tenantID, filter: RecordFilter(scope: scope, lookupKey: lookupKey), page: page).map(RecordCoding.decode)
    }

    public func count<R: StoredRecord>(_ type: R.Type, tenantID: Int64, scope: String? = nil, lookupKey: String? = nil) async throws -> Int {
        try await count(R.table, tenantID: tenantID, filter: RecordFilter(scope: scope, lookupKey: lookupKey))
    }

    public func findAcrossTenants<R: StoredRecord>(_ type: R.Type, lookupKey: String) async throws -> [R] {
        try await fetchAcrossTenants(R.table, lookupKey: lookupKey).map(RecordCoding.decode)
    }
}

public enum RecordCoding {
    public static func encode<R: StoredRecord>(_ record: R) throws -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(record))
        } catch {
            throw StorageError(.corruptRecord, "could not encode a \(R.table) record", underlying: error)
        }
    }

    public static func decode<R: StoredRecord>(_ raw: RawRecord) throws -> R {
        do {
            var record = try JSONDecoder().decode(R.self, from: Data(raw.data))
            record.id = raw.id
            return record
        } catch {
            throw StorageError(.corruptRecord, "\(R.table) \(raw.id) could not be read; restore it from a backup", underlying: error)
        }
    }
}

extension RawRecord {
    /// Decodes the row as a record of its table.
    public func decoded<R: StoredRecord>(as type: R.Type) throws -> R { try RecordCoding.decode(self) }
}
