import Foundation
import PorticoCore

/// `portico export`, `portico diff` and `portico import`: a tenant's configuration as one YAML document
/// keyed by system names, moved between instances through the Account Management API.
public enum ConfigurationTransfer {
    public enum Mode: String, Sendable, CaseIterable {
        /// Create what is missing, change what differs, keep what the document does not hold.
        case upsert
        /// Like upsert, then delete what the document does not hold (after showing it; needs confirmation).
        case replace
        /// Only create what is missing.
        case createOnly = "create-only"
    }

    public struct ImportOptions: Sendable {
        public var mode: Mode
        public var dryRun: Bool
        /// Confirms the deletions replace mode shows.
        public var confirmDeletions: Bool
        /// Promote each product's newest staging configuration to production after the import.
        public var promote: Bool
        public init(mode: Mode = .upsert, dryRun: Bool = false, confirmDeletions: Bool = false, promote: Bool = false) {
            self.mode = mode
            self.dryRun = dryRun
            self.confirmDeletions = confirmDeletions
            self.promote = promote
        }
    }

    // MARK: export

    /// Reads the tenant behind `api` and writes the document to `output` (never overwriting a file), or returns it as text when `output` is nil.
    public static func export(from api: AdminAPIClient, output: String?, includeSecrets: Bool,
                              progress: @escaping @Sendable (String) -> Void) async throws -> (document: String, summary: [String])
    {
        if let output, FileManager.default.fileExists(atPath: output) {
            throw OperationsError("\(output) already exists; choose another --output (export never overwrites a file)")
        }
        let started = Date()
        let read = ConfigurationSchema.publishable(try await TenantExport(api: api, progress: progress).read(), includeSecrets: includeSecrets)
        var document = JSONObject()
        for (index, entry) in read.entries.enumerated() {
            document[entry.key] = entry.value
            if index == 1 { document["includes_secrets"] = .bool(includeSecrets) }
        }
        let text = "# Tenant configuration written by portico \(PorticoVersion.current) (portico import reads it; see docs/operations.md).\n"
            + (includeSecrets ? "# It HOLDS CREDENTIALS (application keys, the proxy secret token): keep it as you keep passwords.\n" : "")
            + (try ConfigurationYAML.render(.object(document)))
        var summary = ["exported the configuration of \(api.baseURL)" + (includeSecrets ? " with credentials" : " (without credentials; --include-secrets adds them)")]
        summary += counts(document).map { "  \($0)" }
        if let output {
            try write(text, to: output)
            summary.append("wrote \(output) (\(text.utf8.count) bytes) in \(seconds(since: started))")
        }
        return (text, summary)
    }

    /// Creates the file exclusively, writes it whole, then renames it into place, so a failed export leaves nothing half-written.
    static func write(_ text: String, to path: String) throws {
        let temporary = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw OperationsError("could not write \(temporary); check that its directory exists and is writable")
        }
        if link(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw OperationsError("could not create \(path): \(reason)")
        }
        unlink(temporary)
    }

    static func counts(_ document: JSONObject) -> [String] {
        ConfigurationSchema.collections.compactMap { schema in
            guard let items = document[schema.field]?.arrayValue else { return nil }
            var line = "\(items.count) \(schema.field.replacingUnderscores)"
            var inner: [String: Int] = [:]
            func tally(_ object: JSONObject, _ schemas: [CollectionSchema]) {
                for child in schemas {
                    for case .object(let item) in object[child.field]?.arrayValue ?? [] {
                        inner[child.field.replacingUnderscores, default: 0] += 1
                        tally(item, child.children)
                    }
                }
            }
            for case .object(let item) in items { tally(item, schema.children) }
            if !inner.isEmpty { line += " (" + inner.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")" }
            return line
        }
    }

    // MARK: diff

    public struct DiffOutcome: Sendable {
        public var lines: [String]
        public var drift: Bool
    }

    /// Compares the document with the instance; drift is anything the import in replace mode would change.
    public static func diff(file: String, against api: AdminAPIClient, progress: @escaping @Sendable (String) -> Void) async throws -> DiffOutcome {
        let desired = try load(file)
        let actual = try await TenantExport(api: api, progress: progress).read()
        let changes = ConfigurationDiff.changes(desired: desired, actual: actual)
        if changes.isEmpty { return DiffOutcome(lines: ["no drift: \(api.baseURL) holds what \(file) describes"], drift: false) }
        var lines = changes.map(\.description)
        lines.append(tally(changes) + " between \(file) and \(api.baseURL)")
        return DiffOutcome(lines: lines, drift: true)
    }

    static func tally(_ changes: [ConfigurationChange]) -> String {
        let n = { (a: ConfigurationChange.Action) in changes.filter { $0.action == a }.count }
        return "drift: \(n(.create)) to create, \(n(.update)) to change, \(n(.delete)) only on the instance"
    }

    public static func load(_ file: String) throws -> JSONObject {
        guard let data = FileManager.default.contents(atPath: file) else { throw OperationsError("cannot read \(file); check the path") }
        guard let text = String(data: data, encoding: .utf8) else { throw OperationsError("\(file) is not UTF-8 text") }
        return try ConfigurationSchema.validate(try ConfigurationYAML.parse(text))
    }

    static func seconds(since start: Date) -> String {
        String(format: "%.1f s", Date().timeIntervalSince(start))
    }
}
