import ArgumentParser
import Foundation
import Logging
import PorticoCore
import PorticoOperations
import PorticoServer

@main
struct Portico: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portico",
        abstract: "An API management platform that speaks 3scale's APIs.",
        version: PorticoVersion.current,
        subcommands: [Serve.self, Migrate.self, Config.self, BackupCommand.self, RestoreCommand.self, MoveCommand.self, DoctorCommand.self, UpgradeCommand.self,
                      ExportCommand.self, ImportCommand.self, DiffCommand.self])
}

/// Every setting as a flag; each is also an environment variable (see `portico config check`).
struct SettingOptions: ParsableArguments {
    @Option(help: "Directory for the embedded store and generated credentials (PORTICO_DATA_DIR; default ./portico-data).") var dataDir: String?
    @Option(help: "all, admin, metering or gateway (PORTICO_ROLE; default all).") var role: String?
    @Option(help: "Address the listeners bind to (PORTICO_BIND; default 0.0.0.0).") var bind: String?
    @Option(help: "Admin API port (PORTICO_ADMIN_PORT; default 3000).") var adminPort: String?
    @Option(help: "Metering port (PORTICO_METERING_PORT; default 3001).") var meteringPort: String?
    @Option(help: "Production gateway port (PORTICO_GATEWAY_PORT; default 8080).") var gatewayPort: String?
    @Option(help: "Staging gateway port (PORTICO_STAGING_PORT; default 8081).") var stagingPort: String?
    @Option(help: "Management port (PORTICO_MANAGEMENT_PORT; default 8090).") var managementPort: String?
    @Option(help: "postgresql:// URL of the admin database (DATABASE_URL; default the embedded SQLite file).") var databaseUrl: String?
    @Option(help: "Domain tenant hosts live under (WILDCARD_DOMAIN; default localhost).") var wildcardDomain: String?
    @Option(help: "Log level (LOG_LEVEL; default info).") var logLevel: String?
    @Option(help: "redis:// URL of metering's counters (REDIS_STORAGE_URL; default the embedded store).") var redisStorageUrl: String?
    @Option(help: "redis:// URL of metering's report queue (REDIS_QUEUES_URL; default the storage Redis).") var redisQueuesUrl: String?

    var flags: [String: String] {
        var f: [String: String] = [:]
        let pairs: [(String, String?)] = [
            ("data-dir", dataDir), ("role", role), ("bind", bind), ("admin-port", adminPort), ("metering-port", meteringPort),
            ("gateway-port", gatewayPort), ("staging-port", stagingPort), ("management-port", managementPort),
            ("database-url", databaseUrl), ("wildcard-domain", wildcardDomain), ("log-level", logLevel),
            ("redis-storage-url", redisStorageUrl), ("redis-queues-url", redisQueuesUrl),
        ]
        for (k, v) in pairs { if let v { f[k] = v } }
        return f
    }

    /// Loads the configuration; prints every problem and exits 2 when there is any.
    func load() throws -> ConfigurationLoader.Loaded {
        let loaded = ConfigurationLoader.load(flags: flags, environment: ProcessInfo.processInfo.environment)
        if !loaded.problems.isEmpty {
            var text = "portico: the configuration has \(loaded.problems.count) problem(s):\n"
            for p in loaded.problems { text += "  - \(p)\n" }
            FileHandle.standardError.write(Data(text.utf8))
            throw ExitCode(2)
        }
        return loaded
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the platform (all roles in one process by default).")
    @OptionGroup var settings: SettingOptions

    func run() async throws {
        PlatformServer.sizeEventLoops()
        let loaded = try settings.load()
        let registry = PlatformServer.bootstrapObservability(logLevel: loaded.configuration.logLevel)
        do {
            try await PlatformServer.serve(loaded.configuration, registry: registry)
        } catch {
            FileHandle.standardError.write(Data("portico: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations to the admin database.")
    @OptionGroup var settings: SettingOptions
    @Flag(help: "List pending migrations without applying them.") var plan = false
    @Option(help: "Apply migrations only up to this schema version (staged upgrades).") var toVersion: Int?

    func run() async throws {
        let loaded = try settings.load()
        _ = PlatformServer.bootstrapObservability(logLevel: "warning")
        let (plan, toVersion) = (self.plan, self.toVersion)
        do {
            let lines = try await PlatformServer.withStore(loaded.configuration, logger: Logger(label: "portico.migrate")) { opened in
                var out = ["database: \(opened.description)"]
                let applied = try await opened.migrations.appliedMigrations()
                out.append("applied: " + (applied.isEmpty ? "none" : applied.map { "\($0.version) \($0.name) (\($0.appliedAt))" }.joined(separator: ", ")))
                if plan {
                    let pending = try await opened.migrations.pendingMigrations()
                    out.append("pending: " + (pending.isEmpty ? "none" : pending.map { "\($0.version) \($0.name)" }.joined(separator: ", ")))
                } else {
                    let done = try await opened.migrations.migrate(upTo: toVersion)
                    out.append("now applied: " + (done.isEmpty ? "nothing to do" : done.map { "\($0.version) \($0.name)" }.joined(separator: ", ")))
                }
                return out
            }
            print(lines.joined(separator: "\n"))
        } catch {
            FileHandle.standardError.write(Data("portico migrate: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect the configuration.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the effective configuration (secrets redacted) and every problem.")
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let loaded = ConfigurationLoader.load(flags: settings.flags, environment: ProcessInfo.processInfo.environment)
            print(ConfigurationLoader.describe(loaded).joined(separator: "\n"))
            if loaded.problems.isEmpty {
                print("\nconfiguration OK")
            } else {
                print("\n\(loaded.problems.count) problem(s):")
                for p in loaded.problems { print("  - \(p)") }
                throw ExitCode(2)
            }
        }
    }
}

/// Progress of long operations goes to standard error, so standard output holds only the summary.
/// `PORTICO_TEST_STOP_AT` is fault injection for the end-to-end tests: the process stops itself (SIGSTOP) right
/// after printing a progress line containing that text, so a test can kill it at that exact point.
let operationProgress: @Sendable (String) -> Void = { line in
    FileHandle.standardError.write(Data("portico: \(line)…\n".utf8))
    if let stopAt = ProcessInfo.processInfo.environment["PORTICO_TEST_STOP_AT"], !stopAt.isEmpty, line.contains(stopAt) {
        kill(getpid(), SIGSTOP)
    }
}

/// Runs an operation: prints its summary, or its error and exit status 1.
func runOperation(_ name: String, _ body: () async throws -> [String]) async throws {
    _ = PlatformServer.bootstrapObservability(logLevel: "warning")
    do {
        let summary = try await body()
        if !summary.isEmpty { print(summary.joined(separator: "\n")) }
    } catch {
        FileHandle.standardError.write(Data("portico \(name): \(error)\n".utf8))
        throw ExitCode(1)
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write one archive of the admin data, metering data and stored files (safe while serve runs).")
    @OptionGroup var settings: SettingOptions
    @Option(name: .shortAndLong, help: "Archive to write (a tar file; never overwritten).") var output: String

    func run() async throws {
        let loaded = try settings.load()
        try await runOperation("backup") {
            try await Backup.run(PlatformServer.storeLocations(loaded.configuration), output: output, progress: operationProgress)
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into the configured stores (empty unless --replace), verified before and after.",
        discussion: "--wildcard-domain (or WILDCARD_DOMAIN) given explicitly rewrites product gateway hosts from the backup's domain to it.")
    @OptionGroup var settings: SettingOptions
    @Argument(help: "The archive written by portico backup.") var archive: String
    @Flag(help: "Overwrite stores that already hold data (data-directory files are kept aside, not deleted).") var replace = false

    func run() async throws {
        let loaded = try settings.load()
        let explicitDomain = settings.wildcardDomain ?? ProcessInfo.processInfo.environment["WILDCARD_DOMAIN"]
        try await runOperation("restore") {
            try await Restore.run(archive: archive, into: PlatformServer.storeLocations(loaded.configuration), replace: replace,
                                  wildcardDomain: explicitDomain, progress: operationProgress)
        }
    }
}

struct MoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Copy the admin and/or metering data to other stores (embedded ↔ PostgreSQL/Redis), verify the copy, print the serve command.",
        discussion: """
            The source is the configured stores (the same settings as serve) and is never written: rolling back is starting serve on it again. \
            A serve using the source must be stopped first, so the copy misses no write. \
            Give `embedded` instead of a URL to move back into the embedded stores of the (target) data directory.
            """)
    @OptionGroup var settings: SettingOptions
    @Option(help: "postgresql:// URL to copy the admin data to, or `embedded` for <data-dir>/portico.db.") var toDatabaseUrl: String?
    @Option(help: "redis:// URL to copy the counters to, or `embedded` for <data-dir>/metering.") var toRedisStorageUrl: String?
    @Option(help: "redis:// URL for the report queue (default: the storage Redis).") var toRedisQueuesUrl: String?
    @Option(help: "Data directory of the target (default: the source's).") var toDataDir: String?
    @Flag(help: "Overwrite target stores that already hold data (data-directory files are kept aside, not deleted).") var replace = false

    func run() async throws {
        let source = try settings.load()
        var flags = settings.flags
        var environment = ProcessInfo.processInfo.environment
        if let url = toDatabaseUrl {
            ConfigurationLoader.removeSettings(startingWith: "database-url", flags: &flags, environment: &environment)
            if url != "embedded" { flags["database-url"] = url }
        }
        if let url = toRedisStorageUrl {
            for prefix in ["redis-storage-", "redis-queues-"] {
                ConfigurationLoader.removeSettings(startingWith: prefix, flags: &flags, environment: &environment)
            }
            if url != "embedded" { flags["redis-storage-url"] = url }
        }
        if let url = toRedisQueuesUrl {
            ConfigurationLoader.removeSettings(startingWith: "redis-queues-", flags: &flags, environment: &environment)
            flags["redis-queues-url"] = url
        }
        if let dir = toDataDir { flags["data-dir"] = dir }
        let target = ConfigurationLoader.load(flags: flags, environment: environment)
        if !target.problems.isEmpty {
            FileHandle.standardError.write(Data("portico move: the target has \(target.problems.count) problem(s):\n".utf8))
            for p in target.problems { FileHandle.standardError.write(Data("  - \(p)\n".utf8)) }
            throw ExitCode(2)
        }
        if target.configuration.redisStorage == nil, target.configuration.redisQueues != nil {
            FileHandle.standardError.write(Data("portico move: --to-redis-queues-url needs a Redis for the counters too (--to-redis-storage-url)\n".utf8))
            throw ExitCode(2)
        }
        try await runOperation("move") {
            try await Move.run(from: PlatformServer.storeLocations(source.configuration), to: PlatformServer.storeLocations(target.configuration),
                               replace: replace, progress: operationProgress)
        }
    }
}

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check everything an install or upgrade trips on and report all findings at once, each with its fix.",
        discussion: "Exits 0 when there is no problem (warnings allowed), 1 otherwise. It only reads; it never creates a database, table or key.")
    @OptionGroup var settings: SettingOptions
    @OptionGroup var disk: DiskOptions

    func run() async throws {
        let minimum = try disk.minimumFreeBytes(command: "doctor")
        let loaded = ConfigurationLoader.load(flags: settings.flags, environment: ProcessInfo.processInfo.environment)
        _ = PlatformServer.bootstrapObservability(logLevel: "critical")
        let findings = await Doctor.run(PlatformServer.storeLocations(loaded.configuration), configurationProblems: loaded.problems.map(\.description),
                                        options: .init(minimumFreeBytes: minimum))
        print(DoctorFinding.report(findings).joined(separator: "\n"))
        if findings.contains(where: { $0.severity == .problem }) { throw ExitCode(1) }
    }
}

struct UpgradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Upgrade the stores to this portico: preflight (doctor), a backup, the schema migrations, and how to roll back.",
        discussion: "Run it with the new binary while serve is stopped. --plan lists the migrations; --dry-run runs every check and changes nothing.")
    @OptionGroup var settings: SettingOptions
    @Flag(help: "Only list the pending migrations and their statements.") var plan = false
    @Flag(help: "Run the preflight and show what would happen; change nothing.") var dryRun = false
    @Option(help: "Where to write the pre-upgrade backup (default <data-dir>/backups/pre-upgrade-….tar).") var backup: String?
    @OptionGroup var disk: DiskOptions

    func run() async throws {
        let minimum = try disk.minimumFreeBytes(command: "upgrade")
        let loaded = ConfigurationLoader.load(flags: settings.flags, environment: ProcessInfo.processInfo.environment)
        let options = Upgrade.Options(plan: plan, dryRun: dryRun, backupPath: backup, doctor: .init(minimumFreeBytes: minimum))
        try await runOperation("upgrade") {
            try await Upgrade.run(PlatformServer.storeLocations(loaded.configuration), configurationProblems: loaded.problems.map(\.description),
                                  options: options, progress: operationProgress)
        }
    }
}

/// The free space doctor (and upgrade's preflight) require on the data directory's volume.
struct DiskOptions: ParsableArguments {
    @Option(help: "Free space the data directory's volume needs, in bytes or with a K, M, G or T suffix (default 1G).") var minFreeDisk = "1G"

    func minimumFreeBytes(command: String) throws -> UInt64 {
        guard let bytes = Self.byteCount(minFreeDisk) else {
            FileHandle.standardError.write(Data("portico \(command): --min-free-disk takes a number of bytes, optionally with K, M, G or T (got \(minFreeDisk))\n".utf8))
            throw ExitCode(2)
        }
        return bytes
    }

    static func byteCount(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        if let last = text.uppercased().last, let unit = units[last] {
            return UInt64(text.dropLast()).flatMap { $0.multipliedReportingOverflow(by: unit).overflow ? nil : $0 * unit }
        }
        return UInt64(text)
    }
}
