import Foundation
import PorticoTesting

/// A lone gateway (`portico serve --role gateway`) started on a configuration file, with a fake Service
/// Management API and an upstream API, both real HTTP servers on loopback that record what they receive.
final class GatewayHarness: @unchecked Sendable {
    let backend: StubHTTPServer
    let upstream: StubHTTPServer
    let process: Process
    let gatewayPort: Int
    let managementPort: Int
    let directory: String

    /// Authorizes everything, like APIcast's fake backend.
    static let authorizeAll: StubHTTPServer.Handler = { _ in .init(status: 200) }
    /// Echoes the request line as the body.
    static let echo: StubHTTPServer.Handler = { r in .init(status: 200, headers: [("Content-Type", "text/plain")], body: "\(r.method) \(r.uri)") }

    /// `services` are service objects; `proxy.backend.endpoint` and `api_backend` default to the stubs.
    /// `pinnedToCPU`: run the gateway under `taskset -c N` (one allowed processor).
    init(services: [[String: Any]], environment: [String: String] = [:], backend: @escaping StubHTTPServer.Handler = GatewayHarness.authorizeAll,
         upstream: @escaping StubHTTPServer.Handler = GatewayHarness.echo, rawDocument: String? = nil, pinnedToCPU: Int? = nil) throws {
        self.backend = try StubHTTPServer(handler: backend)
        self.upstream = try StubHTTPServer(handler: upstream)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let documentPath = directory + "/config.json"
        let document: String
        if let rawDocument {
            document = rawDocument
        } else {
            let backendURL = self.backend.baseURL, upstreamURL = self.upstream.baseURL
            let filled = services.map { service -> [String: Any] in
                var s = service
                var proxy = s["proxy"] as? [String: Any] ?? [:]
                if proxy["backend"] == nil { proxy["backend"] = ["endpoint": backendURL, "host": "backend.test"] }
                if proxy["api_backend"] == nil { proxy["api_backend"] = upstreamURL }
                if proxy["hosts"] == nil { proxy["hosts"] = ["localhost"] }
                s["proxy"] = proxy
                return s
            }
            document = String(decoding: try JSONSerialization.data(withJSONObject: ["services": filled]), as: UTF8.self)
        }
        try document.write(toFile: documentPath, atomically: true, encoding: .utf8)
        let base = LoopbackPorts.base()
        gatewayPort = base
        managementPort = base + 4
        var env = ["THREESCALE_CONFIG_FILE": documentPath]
        for (k, v) in environment { env[k] = v }
        process = ServeProcessTests.process(["serve", "--role", "gateway", "--data-dir", directory, "--bind", "127.0.0.1", "--gateway-port", "\(base)",
                                             "--admin-port", "\(base + 1)", "--metering-port", "\(base + 2)", "--staging-port", "\(base + 3)",
                                             "--management-port", "\(base + 4)"], environment: env)
        if let cpu = pinnedToCPU, let binary = process.executableURL?.path {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            process.arguments = ["-c", String(cpu), binary] + (process.arguments ?? [])
        }
        _ = FileManager.default.createFile(atPath: directory + "/portico.log", contents: nil)
        let log = FileHandle(forWritingAtPath: directory + "/portico.log")
        process.standardOutput = log ?? FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
    }

    /// What the gateway logged so far (stderr and stdout).
    var log: String { (try? String(contentsOfFile: directory + "/portico.log", encoding: .utf8)) ?? "" }

    func waitReady() async throws {
        for _ in 0..<300 {
            if (try? HTTP.send("http://127.0.0.1:\(managementPort)/status/live"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CancellationError()
    }

    /// Fixed-window limiters count in windows that start at multiples of their length: a test whose requests must
    /// fall in one window of `seconds` starts them at least `margin` seconds before the next window starts.
    static func awayFromWindowStart(seconds: Double = 60, margin: Double = 10) async throws {
        let intoWindow = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: seconds)
        if intoWindow > seconds - margin { try await Task.sleep(for: .milliseconds(Int((seconds - intoWindow) * 1000) + 200)) }
    }

    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        backend.stop()
        upstream.stop()
        try? FileManager.default.removeItem(atPath: directory)
        return process.terminationStatus
    }

    /// A request to the gateway for `path` with Host `host`.
    func call(_ path: String, method: String = "GET", host: String = "localhost", headers: [(String, String)] = [], body: String? = nil) throws -> HTTP.Reply {
        try HTTP.send("http://127.0.0.1:\(gatewayPort)\(path)", method: method, headers: [("Host", host)] + headers, body: body)
    }

    /// Metering calls received so far, waiting up to `seconds` for at least `count` of them.
    func meteringCalls(atLeast count: Int, within seconds: Double = 3) async throws -> [StubHTTPServer.Received] {
        let deadline = Date().addingTimeInterval(seconds)
        while backend.requests.count < count, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        return backend.requests
    }

    /// A service object in APIcast's shape.
    static func service(id: Int, version: String = "1", proxy: [String: Any] = [:], rules: [[String: Any]]? = nil, chain: [[String: Any]]? = nil) -> [String: Any] {
        var p = proxy
        p["proxy_rules"] = rules ?? [rule("GET", "/", metric: "hits", delta: 1)]
        if let chain { p["policy_chain"] = chain }
        return ["id": id, "system_name": "svc\(id)", "backend_version": version, "backend_authentication_type": "service_token",
                "backend_authentication_value": "token-\(id)", "proxy": p]
    }

    static func rule(_ method: String, _ pattern: String, metric: String = "hits", delta: Int = 1, last: Bool = false,
                     query: [String: String] = [:]) -> [String: Any] {
        ["http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta, "last": last, "querystring_parameters": query]
    }
}

/// HTTP through curl (a client written by others), with response headers.
enum HTTP {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: String
        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    static func send(_ url: String, method: String = "GET", headers: [(String, String)] = [], body: String? = nil, maxSeconds: Double = 10) throws -> Reply {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        var args = ["-s", "-i", "--max-time", "\(maxSeconds)", "-X", method]
        if method == "HEAD" { args = ["-s", "-I", "--max-time", "\(maxSeconds)"] }
        for (n, v) in headers { args += ["-H", "\(n): \(v)"] }
        var bodyFile: String?
        if let body {
            if body.utf8.count > 32_768 {  // too long for an argument: curl reads it from a file
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("portico-body-\(UUID().uuidString)").path
                try body.write(toFile: path, atomically: false, encoding: .utf8)
                bodyFile = path
                args += ["--data-binary", "@" + path]
            } else {
                args += ["--data-binary", body]
            }
        }
        defer { if let bodyFile { try? FileManager.default.removeItem(atPath: bodyFile) } }
        p.arguments = args + [url]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var text = String(decoding: data, as: UTF8.self)
        // curl -i prints interim answers (100 Continue to a body it announced) before the response.
        while text.hasPrefix("HTTP/1.1 1"), let end = text.range(of: "\r\n\r\n") { text = String(text[end.upperBound...]) }
        guard let split = text.range(of: "\r\n\r\n") else { return Reply(status: 0, headers: [:], body: text) }
        let head = text[..<split.lowerBound].split(separator: "\r\n")
        var status = 0
        if let first = head.first { status = Int(first.split(separator: " ").dropFirst().first ?? "") ?? 0 }
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: fields, body: String(text[split.upperBound...]))
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension HTTP {
    /// Writes `bytes` to a new TCP connection at once (pipelined requests, say) and reads until the server
    /// closes it; the last request should say `Connection: close`.
    static func raw(port: Int, _ bytes: String, timeoutSeconds: Int = 10) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let data = Array(bytes.utf8)
        var sent = 0
        while sent < data.count {
            let n = data[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
