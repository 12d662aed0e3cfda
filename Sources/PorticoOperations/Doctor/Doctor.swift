import Foundation
import PorticoCore
import PorticoPostgres
import PorticoRedis
import PorticoStore
#if canImport(Glibc)
import Glibc
#endif

/// `portico doctor`: everything an install or an upgrade trips on, checked at once, each finding with its fix.
/// It only reads: it never creates a database, a table or a key (the data-directory probe file is removed).
public enum Doctor {
    public struct Options: Sendable {
        /// Below this much free space on the data directory's volume is a problem.
        public var minimumFreeBytes: UInt64
        public init(minimumFreeBytes: UInt64 = 1 << 30) { self.minimumFreeBytes = minimumFreeBytes }
    }

    public static func run(_ locations: StoreLocations, configurationProblems: [String], options: Options = .init()) async -> [DoctorFinding] {
        var findings: [DoctorFinding] = [DoctorFinding("version", .ok, "portico \(PorticoVersion.current), admin schema version \(BackupContents.binarySchemaVersion)")]
        if configurationProblems.isEmpty {
            findings.append(DoctorFinding("configuration", .ok, "no problems"))
        } else {
            for problem in configurationProblems {
                findings.append(DoctorFinding("configuration", .problem, problem, fix: "correct the setting (portico config check shows every setting and where it came from)"))
            }
        }
        findings += dataDirectory(locations.dataDirectory, options: options)
        findings += await adminDatabase(locations)
        findings += await redis(locations)
        findings += transportSecurity(locations)
        findings += wildcardDomain(locations.wildcardDomain)
        return findings
    }

    // MARK: data directory

    static func dataDirectory(_ directory: String, options: Options) -> [DoctorFinding] {
        let check = "data directory"
        var existing = URL(fileURLWithPath: directory).standardizedFileURL
        var exists = FileManager.default.fileExists(atPath: existing.path)
        if !exists {
            while !FileManager.default.fileExists(atPath: existing.path), existing.path != "/" { existing.deleteLastPathComponent() }
            exists = false
        }
        var findings: [DoctorFinding] = []
        if exists {
            let probe = directory + "/.portico-doctor-probe-\(getpid())"
            if let error = writeProbe(probe) {
                findings.append(DoctorFinding(check, .problem, "cannot write in \(directory): \(error)",
                                              fix: error.contains("No space") ? "free space on its volume, or move the data directory to a larger one (portico move --to-data-dir)"
                                                                               : "give the user running portico write access to it"))
            } else {
                findings.append(DoctorFinding(check, .ok, "\(directory) is writable"))
            }
        } else if access(existing.path, W_OK) != 0 {
            findings.append(DoctorFinding(check, .problem, "\(directory) does not exist and \(existing.path) is not writable, so serve cannot create it",
                                          fix: "create it (mkdir -p \(directory)) and give the user running portico write access"))
        } else {
            findings.append(DoctorFinding(check, .ok, "\(directory) does not exist yet; serve creates it"))
        }
        var stats = statvfs()
        if statvfs(existing.path, &stats) == 0 {
            let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
            let total = UInt64(stats.f_blocks) * UInt64(stats.f_frsize)
            let text = "\(bytes(free)) free of \(bytes(total)) on the volume of \(existing.path)"
            if free < options.minimumFreeBytes {
                findings.append(DoctorFinding("disk space", .problem, "\(text), less than the \(bytes(options.minimumFreeBytes)) the embedded stores, restores and upgrade backups need",
                                              fix: "free space on that volume, or move the data directory to a larger one (portico move --to-data-dir)"))
            } else {
                findings.append(DoctorFinding("disk space", .ok, text))
            }
        }
        return findings
    }

    /// Writes, syncs and removes a small file; the error text when any step fails.
    static func writeProbe(_ path: String) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { unlink(path) }
        let block = [UInt8](repeating: 0, count: 4096)
        let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = written == block.count ? fsync(fd) : -1
        let error = written == block.count && synced == 0 ? nil : String(cString: strerror(errno))
        close(fd)
        return error
    }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    // MARK: admin database

    static func adminDatabase(_ locations: StoreLocations) async -> [DoctorFinding] {
        let check = "admin database"
        if locations.databaseURL == nil, !FileManager.default.fileExists(atPath: locations.sqlitePath) {
            return [DoctorFinding(check, .ok, "no \(locations.sqlitePath) yet; serve creates it at schema version \(BackupContents.binarySchemaVersion)")]
        }
        do {
            return try await locations.withAdminStore { store in
                var findings = [DoctorFinding(check, .ok, "\(locations.adminDescription) is reachable")]
                if let postgres = store as? PostgresRecordStore {
                    let version = try await postgres.serverVersion()
                    if let message = PostgresRecordStore.unsupportedServerMessage(version, settings: postgres.settings) {
                        findings.append(DoctorFinding("PostgreSQL version", .problem, message, fix: "upgrade PostgreSQL to 13 or newer"))
                    } else {
                        findings.append(DoctorFinding("PostgreSQL version", .ok, "PostgreSQL \(version.text) (13 or newer is needed)"))
                    }
                    let permission = try await postgres.createPermission()
                    if let schema = permission.schema, permission.allowed {
                        findings.append(DoctorFinding("PostgreSQL permissions", .ok, "the role may create tables in schema \(schema)"))
                    } else {
                        findings.append(DoctorFinding("PostgreSQL permissions", .problem,
                                                      "the role of DATABASE_URL may not create tables in schema \(permission.schema ?? "(none on its search_path)"), so migrations cannot run",
                                                      fix: "as the database owner: GRANT CREATE ON SCHEMA \(permission.schema ?? "public") TO <role> (PostgreSQL 15 no longer grants it on public by default), or make the role own the database"))
                    }
                }
                do {
                    findings.append(try await schema(store, description: locations.adminDescription))
                } catch {
                    findings.append(DoctorFinding("schema", .problem, "cannot read Portico's schema in \(locations.adminDescription): \(error)",
                                                  fix: "connect as the role that owns Portico's tables, or grant this one SELECT, INSERT, UPDATE and DELETE on them"))
                }
                return findings
            }
        } catch {
            let text = "\(error)"
            let fix = locations.databaseURL == nil
                ? "check that \(locations.sqlitePath) is a Portico database and readable; restore it from a backup if it is damaged"
                : "start PostgreSQL, or correct the host, port, database, user and password in DATABASE_URL (portico config check shows it)"
            return [DoctorFinding(check, .problem, "\(locations.adminDescription) cannot be used: \(text)", fix: fix)]
        }
    }

    /// The schema against the binary: newer is a problem (serve refuses it with the same message), older is
    /// pending migrations that serve or `portico upgrade` applies.
    static func schema(_ store: any SnapshotStore, description: String) async throws -> DoctorFinding {
        let check = "schema"
        let applied = try await store.appliedMigrations()
        let current = applied.map(\.version).max() ?? 0
        do {
            let pending = try await store.pendingMigrations()
            if current == 0 {
                return DoctorFinding(check, .ok, "empty database; serve creates the schema (version \(BackupContents.binarySchemaVersion))")
            }
            if pending.isEmpty { return DoctorFinding(check, .ok, "at version \(current), the version this portico uses") }
            return DoctorFinding(check, .warning,
                                 "at version \(current), older than this portico's \(BackupContents.binarySchemaVersion); pending: \(pending.map { "\($0.version) \($0.name)" }.joined(separator: ", "))",
                                 fix: "run portico upgrade (preflight, backup, migrations; --plan shows them); serve would also apply them when it starts")
        } catch let error as StorageError where error.code == .schemaTooNew {
            return DoctorFinding(check, .problem, "\(description): \(error.message)", fix: "run the portico version that wrote this database, or a newer one")
        }
    }

    // MARK: Redis

    static func redis(_ locations: StoreLocations) async -> [DoctorFinding] {
        guard let storage = locations.redisStorage else {
            return [DoctorFinding("metering store", .ok, "embedded in \(locations.meteringDirectory)")]
        }
        var findings: [DoctorFinding] = []
        var endpoints = [("REDIS_STORAGE_URL", storage)]
        if let queues = locations.separateQueues { endpoints.append(("REDIS_QUEUES_URL", queues)) }
        for (setting, endpoint) in endpoints {
            let check = "Redis (\(setting))"
            let client = RedisClient(endpoint: endpoint, poolSize: 1, commandTimeout: .seconds(10), clientName: "portico-operations")
            defer { client.close() }
            do {
                let info = try await client.command(["INFO", "server"])
                let version = RedisServerRequirements.version(fromInfo: info.string ?? "") ?? "unknown"
                if let message = RedisServerRequirements.unsupportedMessage(version: version, setting: setting, endpoint: endpoint) {
                    findings.append(DoctorFinding(check, .problem, message, fix: "upgrade Redis to 6.2 or newer"))
                } else {
                    findings.append(DoctorFinding(check, .ok, "\(endpoint) is reachable, Redis \(version) (6.2 or newer is needed)"))
                }
                // Managed services often forbid CONFIG; then there is nothing to say.
                if let policy = try? await client.command(["CONFIG", "GET", "maxmemory-policy"]), let value = policy.array?.last?.string,
                   value != "noeviction" {
                    findings.append(DoctorFinding(check, .warning, "maxmemory-policy is \(value): under memory pressure Redis evicts counters and queued reports",
                                                  fix: "set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf)"))
                }
            } catch {
                findings.append(DoctorFinding(check, .problem, "\(endpoint) cannot be used: \(error)",
                                              fix: "start Redis, or correct the host, port, database and password in \(setting)"))
            }
        }
        return findings
    }

    // MARK: transport security

    static func transportSecurity(_ locations: StoreLocations) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        if let url = locations.databaseURL, let settings = try? PostgresConnectionSettings(url: url) {
            switch (settings.tls, isLoopback(settings.host)) {
            case (.require, _): findings.append(DoctorFinding("TLS", .ok, "PostgreSQL connections require TLS"))
            case (_, true): findings.append(DoctorFinding("TLS", .ok, "PostgreSQL is on this machine (\(settings.host)); TLS is not needed"))
            case (.prefer, false):
                findings.append(DoctorFinding("TLS", .warning, "PostgreSQL at \(settings.host) is used with sslmode=prefer: TLS only if the server offers it, so the password may travel in clear",
                                              fix: "add sslmode=require to DATABASE_URL"))
            case (.disable, false):
                findings.append(DoctorFinding("TLS", .warning, "PostgreSQL at \(settings.host) is used without TLS (sslmode=disable): the password and data travel in clear",
                                              fix: "enable TLS on the server and set sslmode=require in DATABASE_URL"))
            }
        }
        for endpoint in [locations.redisStorage, locations.separateQueues].compactMap({ $0 }) {
            if endpoint.tls != nil {
                findings.append(DoctorFinding("TLS", .ok, "Redis at \(endpoint) is used over TLS, its certificate verified"))
            } else if !isLoopback(endpoint.host) || !endpoint.sentinels.isEmpty {
                findings.append(DoctorFinding("TLS", .warning, "Redis at \(endpoint) is used without TLS: the password and counters travel in clear",
                                              fix: "enable TLS on Redis and use rediss:// in REDIS_STORAGE_URL (REDIS_SSL_CA for a private CA), or keep Redis on a private network"))
            }
        }
        findings.append(DoctorFinding("TLS", .ok, "portico's listeners speak plain HTTP; terminate TLS in front of them (load balancer, ingress or route)"))
        return findings
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.") || host.hasPrefix("/")
    }

    // MARK: wildcard domain

    /// Tenant and product hosts live under the wildcard domain, so a name nobody registered must resolve.
    static func wildcardDomain(_ domain: String) -> [DoctorFinding] {
        let check = "wildcard domain"
        let probe = "portico-doctor-\(UInt32.random(in: 0...UInt32.max)).\(domain)"
        if let address = resolve(probe) {
            return [DoctorFinding(check, .ok, "*.\(domain) resolves (\(probe) → \(address))")]
        }
        if domain == "localhost" || domain.hasSuffix(".localhost") {
            return [DoctorFinding(check, .warning, "*.\(domain) does not resolve through this machine's resolver (curl and browsers resolve *.localhost themselves)",
                                  fix: "for clients on other machines, set WILDCARD_DOMAIN to a domain with a wildcard DNS record; on this one, use curl or --resolve")]
        }
        return [DoctorFinding(check, .problem, "\(probe) does not resolve, so tenant and product hosts under \(domain) are unreachable",
                              fix: "create a wildcard DNS record *.\(domain) pointing at the address of portico's listeners (or their load balancer)")]
    }

    static func resolve(_ host: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
