import Foundation

/// `manifest.json` of a backup archive: what it holds, from which stores and schema, and how to verify it.
public struct BackupManifest: Codable, Sendable, Equatable {
    public static let formatName = "portico-backup"
    public static let currentFormatVersion = 1

    public struct Part: Codable, Sendable, Equatable {
        /// Path of the member in the archive.
        public var path: String
        public var bytes: Int
        /// Lowercase hex SHA-256 of the member's bytes.
        public var sha256: String
    }

    public struct AdminData: Codable, Sendable, Equatable {
        /// `sqlite` or `postgresql`.
        public var source: String
        /// When the one read transaction all tables were read in began.
        public var capturedAt: String
        /// Rows per table.
        public var rows: [String: Int]
    }

    public struct MeteringData: Codable, Sendable, Equatable {
        /// `embedded` or `redis`.
        public var source: String
        /// For the embedded store: its last flush before this time (at most a second earlier). For Redis: the
        /// keyspace walk started here and ended at `completedAt`; counters changed meanwhile are read as reached.
        public var capturedAt: String
        public var completedAt: String
        /// Keys per family (first path segment) of the storage database.
        public var storageKeys: [String: Int]
        /// Keys per family of a separate queues database (`REDIS_QUEUES_URL`); empty when it is the storage one.
        public var queueKeys: [String: Int]
    }

    public var format = BackupManifest.formatName
    public var formatVersion = BackupManifest.currentFormatVersion
    public var porticoVersion: String
    /// The admin schema version the data was read at.
    public var schemaVersion: Int
    public var createdAt: String
    /// The wildcard domain tenant and product hosts were made under; `restore --wildcard-domain` rewrites from it.
    public var wildcardDomain: String
    public var admin: AdminData
    public var metering: MeteringData
    /// Stored files of the data directory (the generated `credentials` file).
    public var files: [String]
    public var parts: [Part]

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Array(((try? encoder.encode(self)) ?? Data()) + Data("\n".utf8))
    }

    public static func decode(_ bytes: [UInt8]) throws(OperationsError) -> BackupManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(BackupManifest.self, from: Data(bytes))
        } catch {
            throw OperationsError("the archive's manifest.json is unreadable (\(error)); the archive is corrupted or not a Portico backup")
        }
    }
}

enum ISOTime {
    static func now() -> String { string(Date()) }
    static func string(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
    static func milliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
