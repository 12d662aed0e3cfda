import Foundation
import PorticoTesting
import Testing

/// Drives the real `portico` binary over real HTTP (curl), as an operator would.
@Suite(.serialized) struct ServeProcessTests {
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["PORTICO_BINARY"] { return b }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/portico").path
    }

    struct Running {
        let process: Process
        let output: Pipe
        let ports: [String: Int]
    }

    static func freePorts() -> [String: Int] {
        let base = LoopbackPorts.base()
        return ["admin": base, "metering": base + 1, "gateway": base + 2, "staging": base + 3, "management": base + 4]
    }

    /// The binary with `arguments`, on the embedded store unless `environment` says otherwise.
    static func process(_ arguments: [String], environment: [String: String]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = nil
        // A crash report on stdout (the pipe a test reads when the process dies), short enough not to fill it.
        env["SWIFT_BACKTRACE"] = env["SWIFT_BACKTRACE"] ?? "enable=yes,interactive=no,color=no,output-to=stdout,threads=crashed,images=none,registers=none"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        return p
    }

    static func start(dataDir: String, ports: [String: Int] = freePorts(), environment: [String: String] = [:]) throws -> Running {
        let p = process(["serve", "--data-dir", dataDir, "--bind", "127.0.0.1", "--admin-port", "\(ports["admin"]!)",
                         "--metering-port", "\(ports["metering"]!)", "--gateway-port", "\(ports["gateway"]!)",
                         "--staging-port", "\(ports["staging"]!)", "--management-port", "\(ports["management"]!)"], environment: environment)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        return Running(process: p, output: out, ports: ports)
    }

    /// `curl` status code and body.
    static func curl(_ url: String, host: String? = nil) throws -> (Int, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-o", "-", "-w", "\n%{http_code}"] + (host.map { ["-H", "Host: \($0)"] } ?? []) + [url]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    static func waitReady(_ r: Running) async throws {
        for _ in 0..<600 {  // up to 60 s: the debug build hashes seed passwords slowly while other suites run
            if (try? curl("http://127.0.0.1:\(r.ports["management"]!)/status/ready"))?.0 == 200 { return }
            // A process that died (a crash, a refused configuration) is reported at once with what it printed,
            // rather than after a minute of polling.
            if !r.process.isRunning {
                let output = String(decoding: r.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw ExitedBeforeReady(status: r.process.terminationStatus, output: String(output.suffix(4000)))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CancellationError()
    }

    struct ExitedBeforeReady: Error, CustomStringConvertible {
        let status: Int32
        let output: String
        var description: String { "portico exited with status \(status) before it was ready; it printed:\n\(output)" }
    }

    static func stop(_ r: Running) -> Int32 {
        r.process.terminate()  // SIGTERM
        r.process.waitUntilExit()
        return r.process.terminationStatus
    }

    @Test func servesSeedsAndStopsCleanly() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try Self.start(dataDir: dir)
        try await Self.waitReady(first)
        let m = first.ports["management"]!, a = first.ports["admin"]!
        #expect(try Self.curl("http://127.0.0.1:\(m)/status/live").0 == 200)

        let credentials = try String(contentsOfFile: dir + "/credentials", encoding: .utf8)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/credentials")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let token = try #require(credentials.split(separator: "\n").first { $0.hasPrefix("ADMIN_ACCESS_TOKEN=") }?.dropFirst("ADMIN_ACCESS_TOKEN=".count))
        let (status, body) = try Self.curl("http://127.0.0.1:\(a)/admin/api/services.json?access_token=\(token)", host: "provider-admin.localhost")
        #expect(status == 200)
        #expect(body.contains(#""system_name":"api""#))
        #expect(try Self.curl("http://127.0.0.1:\(a)/admin/api/services.json?access_token=wrong", host: "provider-admin.localhost").0 == 403)
        let metrics = try Self.curl("http://127.0.0.1:\(m)/metrics").1
        #expect(metrics.contains("portico_admin_http_requests_total"))
        #expect(Self.stop(first) == 0)
        let printed = String(decoding: first.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed.contains("ADMIN_ACCESS_TOKEN=\(token)"))

        // A second start on the same data directory creates nothing and prints no credentials.
        let second = try Self.start(dataDir: dir)
        try await Self.waitReady(second)
        #expect(try Self.curl("http://127.0.0.1:\(second.ports["admin"]!)/admin/api/services.json?access_token=\(token)").0 == 200)
        #expect(Self.stop(second) == 0)
        let printedAgain = String(decoding: second.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!printedAgain.contains("ACCESS_TOKEN"))
        #expect(try String(contentsOfFile: dir + "/credentials", encoding: .utf8) == credentials)
    }

    @Test func givenSeedValuesAreUsed() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Self.start(dataDir: dir, environment: ["ADMIN_ACCESS_TOKEN": "given-admin-token-123456", "TENANT_NAME": "acme",
                                                           "MASTER_ACCESS_TOKEN": "given-master-token-123456"])
        try await Self.waitReady(r)
        let a = r.ports["admin"]!
        #expect(try Self.curl("http://127.0.0.1:\(a)/admin/api/provider.json?access_token=given-admin-token-123456", host: "acme-admin.localhost").0 == 200)
        #expect(try Self.curl("http://127.0.0.1:\(a)/master/api/providers/2.json?access_token=given-master-token-123456", host: "master.localhost").0 == 200)
        #expect(Self.stop(r) == 0)
        let credentials = try String(contentsOfFile: dir + "/credentials", encoding: .utf8)
        #expect(!credentials.contains("given-admin-token"))  // only generated values are written
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
        let p = process(arguments, environment: environment)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func configCheckReportsEveryProblemAndRedactsSecrets() throws {
        let (status, text) = try Self.run(["config", "check", "--admin-port", "70000", "--role", "bogus", "--database-url", "mysql://x"],
                                          environment: ["ADMIN_PASSWORD": "super-secret-password", "WILDCARD_DOMAIN": "http://bad"])
        #expect(status == 2)
        for expected in ["admin-port", "role", "database-url", "wildcard-domain", "4 problem(s)"] { #expect(text.contains(expected)) }
        #expect(!text.contains("super-secret-password"))
        let ok = try Self.run(["config", "check"], environment: ["DATABASE_URL": "postgresql://u:pw-in-url@db:5432/p"])
        #expect(ok.0 == 0)
        #expect(ok.1.contains("postgresql://u:***@db:5432/p"))
        #expect(!ok.1.contains("pw-in-url"))
    }

    @Test func migratePlanListsThenApplies() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plan = try Self.run(["migrate", "--plan", "--data-dir", dir])
        #expect(plan.0 == 0 && plan.1.contains("pending: 1 record tables"))
        let apply = try Self.run(["migrate", "--data-dir", dir])
        #expect(apply.0 == 0 && apply.1.contains("now applied: 1 record tables"))
        let again = try Self.run(["migrate", "--plan", "--data-dir", dir])
        #expect(again.1.contains("pending: none"))
    }
}
