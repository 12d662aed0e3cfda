import ArgumentParser
import Foundation
import PorticoOperations
import PorticoServer

/// Where export, import and diff find the admin API: a URL and token given, or this installation's own admin port
/// with its ADMIN_ACCESS_TOKEN (from the environment or the credentials file serve wrote on first start).
/// The token can come from PORTICO_ACCESS_TOKEN instead of --token, which other users of the machine can see in `ps`.
struct AdminAPIOptions: ParsableArguments {
    @Option(help: "Access token with the account_management scope (read-write to import); default PORTICO_ACCESS_TOKEN, else this installation's ADMIN_ACCESS_TOKEN.")
    var token: String?

    func client(url: String?, settings: SettingOptions, command: String) throws -> AdminAPIClient {
        let loaded = ConfigurationLoader.load(flags: settings.flags, environment: ProcessInfo.processInfo.environment)
        let c = loaded.configuration
        let base = url ?? "http://127.0.0.1:\(c.adminPort)"
        var value = token ?? ProcessInfo.processInfo.environment["PORTICO_ACCESS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if value == nil, url == nil {
            value = c.seed.adminAccessToken ?? Self.credential("ADMIN_ACCESS_TOKEN", in: c.credentialsPath)
        }
        do {
            return try AdminAPIClient(baseURL: base, token: value ?? "")
        } catch {
            FileHandle.standardError.write(Data("portico \(command): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func credential(_ name: String, in path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("\(name)=") { return String(line.dropFirst(name.count + 1)) }
        return nil
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a tenant's whole configuration as one YAML document keyed by system names.",
        discussion: """
            Reads any 3scale-compatible Account Management API: a 3scale tenant (--from https://acme-admin.3scale.net --token …) \
            or a Portico instance (default: this installation). Credentials (application keys, user keys, the proxy secret token) \
            are written only with --include-secrets.
            """)
    @OptionGroup var settings: SettingOptions
    @OptionGroup var apiOptions: AdminAPIOptions
    @Option(help: "Admin API address of the tenant to read (default this installation's admin port).") var from: String?
    @Option(name: .shortAndLong, help: "File to write (never overwritten); default standard output.") var output: String?
    @Flag(help: "Also write credentials: application user keys, app ids and keys, the proxy secret token.") var includeSecrets = false

    func run() async throws {
        let api = try apiOptions.client(url: from, settings: settings, command: "export")
        try await runOperation("export") {
            let (document, summary) = try await ConfigurationTransfer.export(from: api, output: output, includeSecrets: includeSecrets, progress: operationProgress)
            if output == nil {
                print(document, terminator: "")
                FileHandle.standardError.write(Data((summary.joined(separator: "\n") + "\n").utf8))
                return []
            }
            return summary
        }
    }
}

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show how an instance differs from a configuration document; exit 2 on drift, 0 when none.",
        discussion: "Only what the document holds is compared. `+` is missing on the instance, `~` differs, `-` exists only on the instance.")
    @OptionGroup var settings: SettingOptions
    @OptionGroup var apiOptions: AdminAPIOptions
    @Argument(help: "A document written by portico export.") var file: String
    @Option(help: "Admin API address of the instance to compare (default this installation's admin port).") var to: String?

    func run() async throws {
        let api = try apiOptions.client(url: to, settings: settings, command: "diff")
        var drift = false
        try await runOperation("diff") {
            let outcome = try await ConfigurationTransfer.diff(file: file, against: api, progress: operationProgress)
            drift = outcome.drift
            return outcome.lines
        }
        if drift { throw ExitCode(2) }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make an instance hold what a configuration document describes (idempotent).",
        discussion: """
            Prints the plan first. --mode upsert (default) creates and changes; create-only only creates; replace also deletes \
            what the document does not hold, which it lists first and does only with --yes.
            """)
    @OptionGroup var settings: SettingOptions
    @OptionGroup var apiOptions: AdminAPIOptions
    @Argument(help: "A document written by portico export.") var file: String
    @Option(help: "Admin API address of the instance to change (default this installation's admin port).") var to: String?
    @Option(help: "upsert, replace or create-only.") var mode = "upsert"
    @Flag(help: "Show the plan; change nothing.") var dryRun = false
    @Flag(help: "Confirm the deletions replace mode lists.") var yes = false
    @Flag(help: "Afterwards promote each product's newest staging configuration to production.") var promote = false

    func run() async throws {
        guard let mode = ConfigurationTransfer.Mode(rawValue: mode) else {
            FileHandle.standardError.write(Data("portico import: --mode takes upsert, replace or create-only (got \(mode))\n".utf8))
            throw ExitCode(2)
        }
        let api = try apiOptions.client(url: to, settings: settings, command: "import")
        let options = ConfigurationTransfer.ImportOptions(mode: mode, dryRun: dryRun, confirmDeletions: yes, promote: promote)
        try await runOperation("import") {
            _ = try await ConfigurationTransfer.importDocument(file: file, into: api, options: options, output: { print($0) }, progress: operationProgress)
            return []
        }
    }
}
