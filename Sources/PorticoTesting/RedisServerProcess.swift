import Foundation

/// A real redis-server on loopback for tests: its own port and directory, append-only persistence (so a restart
/// keeps the data, as a production Redis would), stopped and restarted at will to simulate outages.
public final class RedisServerProcess: @unchecked Sendable {
    public static let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
    public static var isAvailable: Bool { executable != nil }

    public let port: Int
    public let directory: String
    let extraArguments: [String]
    private var process: Process?

    public init(port: Int? = nil, extraArguments: [String] = []) throws {
        self.port = port ?? Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("portico-redis-\(UUID().uuidString)").path
        self.extraArguments = extraArguments
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start()
    }

    /// A server speaking only TLS with the test certificates, on a free port.
    public convenience init(tls certificates: TestCertificates, requireClientCertificates: Bool) throws {
        let port = Self.freePort()
        try self.init(port: port, extraArguments: certificates.redisArguments(port: port, requireClientCertificates: requireClientCertificates))
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public func start() throws {
        guard let executable = Self.executable else { throw TestSetupError("redis-server is not installed (apt-get install redis-server)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "yes",
                       "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning",
                       "--proc-title-template", "portico-test-redis {port}"] + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try waitUntilListening()
    }

    /// Kills the server and waits for it to exit. SIGKILL, because children of the test process can inherit a
    /// signal mask that blocks SIGTERM; with `appendfsync always` every acknowledged write is on disk anyway.
    public func stop() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func waitUntilListening() throws {
        for _ in 0..<100 {
            if Self.canConnect(port: port) { return }
            usleep(50_000)
        }
        throw TestSetupError("redis-server did not start listening on port \(port)")
    }

    static func canConnect(port: Int) -> Bool { LoopbackPorts.canConnect(port) }

    /// A port the kernel considers free right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A test's environment lacks something it needs.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
