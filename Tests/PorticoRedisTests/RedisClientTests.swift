import Foundation
import NIOCore
import PorticoCore
@testable import PorticoMeteringStore
@testable import PorticoRedis
import PorticoTesting
import Testing

/// `PorticoRedis` and the Redis metering store against a real redis-server on loopback.
@Suite(.serialized, .enabled(if: RedisServerProcess.isAvailable, "needs redis-server (apt-get install redis-server)"))
struct RedisClientTests {
    static func client(_ server: RedisServerProcess, database: Int = 0, poolSize: Int = 2) throws -> RedisClient {
        var endpoint = try RedisEndpoint.parse(server.url)
        endpoint.database = database
        return RedisClient(endpoint: endpoint, poolSize: poolSize)
    }

    @Test func pipelinedRepliesReachTheirCallersFromManyTasks() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let client = try Self.client(server)
        defer { client.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<100 {
                group.addTask {
                    for round in 0..<20 {
                        let value = "\(task)-\(round)"
                        let replies = try await client.send([["SET", "k\(task)", value], ["INCR", "total"], ["GET", "k\(task)"]])
                        #expect(replies[0] == .simpleString("OK"))
                        #expect(replies[2].string == value)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await client.command(["GET", "total"]).string == "2000")
        // Error replies are values and leave the pipeline aligned.
        let mixed = try await client.send([["INCR", "k1"], ["PING"]])
        if case .error = mixed[0] {} else { Issue.record("expected an error reply, got \(mixed[0])") }
        #expect(mixed[1] == .simpleString("PONG"))
    }

    @Test func failsFastWhileDownAndReconnectsByItself() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let client = try Self.client(server, poolSize: 1)
        defer { client.close() }
        try await client.command(["SET", "k", "1"])
        server.stop()
        await #expect(throws: RedisError.self) { try await client.command(["GET", "k"]) }
        // While it stays down, calls fail at once rather than each waiting for a connect timeout.
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<20 { _ = try? await client.command(["GET", "k"]) }
        #expect(clock.now - started < .seconds(2))
        try server.start()
        var value: String?
        for _ in 0..<40 where value == nil {
            value = try? await client.command(["GET", "k"]).string
            if value == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(value == "1")
    }

    @Test func logsInSelectsTheDatabaseAndExplainsBadCredentials() async throws {
        let server = try RedisServerProcess(extraArguments: ["--requirepass", "s3cret:word"])
        defer { server.stop() }
        let good = RedisClient(endpoint: try RedisEndpoint.parse("redis://:s3cret%3Aword@127.0.0.1:\(server.port)/4"))
        defer { good.close() }
        try await good.command(["SET", "where", "db4"])
        let other = RedisClient(endpoint: try RedisEndpoint.parse("redis://:s3cret%3Aword@127.0.0.1:\(server.port)/0"))
        defer { other.close() }
        #expect(try await other.command(["GET", "where"]) == .null)
        let bad = RedisClient(endpoint: try RedisEndpoint.parse("redis://:wrong@127.0.0.1:\(server.port)"))
        defer { bad.close() }
        do {
            try await bad.command(["PING"])
            Issue.record("a wrong password was accepted")
        } catch let error as RedisError {
            #expect(error.certainlyNotApplied)
            #expect("\(error)".contains("refused the login"))
            #expect(!"\(error)".contains("wrong"))
        }
    }

    @Test func findsTheMasterThroughSentinel() async throws {
        let master = try RedisServerProcess()
        defer { master.stop() }
        let sentinelPort = RedisServerProcess.freePort()
        let config = master.directory + "/sentinel.conf"
        try "port \(sentinelPort)\nbind 127.0.0.1\nsentinel monitor portico-master 127.0.0.1 \(master.port) 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let sentinel = Process()
        sentinel.executableURL = URL(fileURLWithPath: RedisServerProcess.executable!)
        sentinel.arguments = [config, "--sentinel", "--proc-title-template", "portico-test-redis sentinel {port}"]
        sentinel.standardOutput = FileHandle.nullDevice
        sentinel.standardError = FileHandle.nullDevice
        try sentinel.run()
        defer { kill(sentinel.processIdentifier, SIGKILL); sentinel.waitUntilExit() }
        var endpoint = try RedisEndpoint.parse("redis://portico-master/2")
        try endpoint.useSentinels("redis://127.0.0.1:\(RedisServerProcess.freePort()),127.0.0.1:\(sentinelPort)", username: nil, password: nil)
        let client = RedisClient(endpoint: endpoint)
        defer { client.close() }
        var written = false
        for _ in 0..<50 where !written {
            written = (try? await client.command(["SET", "via", "sentinel"])) != nil
            if !written { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(written)
        let direct = try Self.client(master, database: 2)
        defer { direct.close() }
        #expect(try await direct.command(["GET", "via"]).string == "sentinel")
    }

    @Test func endpointParsingFollows3scaleSettings() throws {
        let e = try RedisEndpoint.parse("redis://user:p%40ss@backend-redis:6380/1")
        #expect(e.host == "backend-redis" && e.port == 6380 && e.database == 1 && e.username == "user" && e.password == "p@ss")
        #expect(!e.description.contains("p@ss"))
        #expect(try RedisEndpoint.parse("redis://backend-redis").port == 6379)
        #expect(try RedisEndpoint.parse("rediss://x:6379").tls != nil)
        #expect(throws: RedisConfigurationError.self) { try RedisEndpoint.parse("backend-redis:6379") }
        #expect(throws: RedisConfigurationError.self) { try RedisEndpoint.parse("redis://h:99999") }
        var s = try RedisEndpoint.parse("redis://mymaster/0")
        try s.useSentinels("redis://s1:26379, s2 ,[::1]:5000", username: nil, password: "")
        #expect(s.sentinels == [.init(host: "s1", port: 26379), .init(host: "s2", port: 26379), .init(host: "::1", port: 5000)])
    }
}

@Suite(.serialized, .enabled(if: RedisServerProcess.isAvailable, "needs redis-server (apt-get install redis-server)"))
struct RedisMeteringStorageTests {
    @Test func concurrentCheckAndCountNeverOvershoots() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let client = try RedisClientTests.client(server, poolSize: 4)
        defer { client.close() }
        let storage = RedisMeteringStorage(client: client)
        let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try await storage.checkAndApply([CounterGuard(key: "c", maxValue: 10, change: .increment(1))], [.incrementBy("c", 1)]).applied
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 10)
        #expect(try await storage.get(["c"]) == ["10"])
        // All or nothing, and a usage-less guard only reads.
        try await storage.apply([.set("a", "4")])
        let refused = try await storage.checkAndApply([CounterGuard(key: "a", maxValue: 5, change: .increment(2)), CounterGuard(key: "b", maxValue: nil, change: nil)],
                                                      [.incrementBy("a", 2), .incrementBy("b", 1)])
        #expect(refused == CounterCheck(values: [4, 0], applied: false))
        let set = try await storage.checkAndApply([CounterGuard(key: "a", maxValue: 5, change: .set(5))], [.set("a", "5")])
        #expect(set.applied)
        #expect(try await storage.get(["a", "b"]) == ["5", nil])
        // Membership guards read SISMEMBER before the writes, next to counter guards, and never block.
        let first = try await storage.checkAndApply([.membership("apps", "x"), CounterGuard(key: "a", maxValue: 9, change: .increment(1))],
                                                    [.setAdd("apps", ["x"]), .incrementBy("a", 1)])
        #expect(first == CounterCheck(values: [0, 5], applied: true))
        let second = try await storage.checkAndApply([.membership("apps", "x"), .membership("apps", "y")], [.setAdd("apps", ["y"])])
        #expect(second == CounterCheck(values: [1, 0], applied: true))
    }

    /// Golden: a transaction writes exactly apisonator's keys on Redis (reference/service-management-api.md §8.2).
    @Test func usageWritesApisonatorKeysOnRedis() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let client = try RedisClientTests.client(server)
        defer { client.close() }
        let storage = RedisMeteringStorage(client: client)
        let now = Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))
        try await storage.apply([.usage(UsageWrite(serviceID: "7", applicationID: "a b", timestamp: now, values: [("1", .increment(3))], responseCode: 200))])
        let keys = Set(try await storage.keys(prefix: "stats/{service:7}/"))
        let expected = Set(CounterWrites.expand(UsageWrite(serviceID: "7", applicationID: "a b", timestamp: now, values: [("1", .increment(3))], responseCode: 200))
            .compactMap { c -> String? in
                switch c {
                case .incrementBy(let k, _), .setAdd(let k, _): return k
                default: return nil
                }
            })
        #expect(keys == expected)
        // Application and service periods for hits, 2XX and 200, plus the cinstances set.
        let familySize = ApisonatorKeys.applicationPeriods.count + ApisonatorKeys.servicePeriods.count
        #expect(keys.count == 3 * familySize + 1)
        let minute = ApisonatorKeys.applicationUsage("7", app: "a b", metric: "1", .minute, at: now)
        #expect(minute.hasPrefix("stats/{service:7}/cinstance:a+b/metric:1/minute:"))
        let ttl = try await client.command(["TTL", minute]).integer ?? -2
        #expect((1...180).contains(ttl))
        #expect(try await storage.get([ApisonatorKeys.applicationUsage("7", app: "a b", metric: "1", .eternity, at: now)]) == ["3"])
        #expect(try await storage.members("stats/{service:7}/cinstances") == ["a b"])
        // The events queue is a sorted set, read lowest score first.
        try await storage.apply([.sortedSetAdd("events/queue", score: 2, member: "b"), .sortedSetAdd("events/queue", score: 1, member: "a"),
                                 .sortedSetAdd("events/queue", score: 3, member: "c"), .sortedSetRemoveByScore("events/queue", min: 3, max: 10)])
        #expect(try await storage.sortedSetMembers("events/queue").map(\.member) == ["a", "b"])
        #expect(try await storage.sortedSetMembers("events/queue").map(\.score) == [1, 2])
        // Statistics deletion finds keys with glob characters in their names literally.
        try await storage.apply([.set("stats/{service:7*}/x", "1")])
        #expect(try await storage.keys(prefix: "stats/{service:7*}/") == ["stats/{service:7*}/x"])
    }

    @Test func jobQueueKeepsJobsUntilDoneAndRecoversThem() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let client = try RedisClientTests.client(server, database: 1)
        defer { client.close() }
        let worker = RedisJobQueue(client: client, workerID: "w1")
        defer { worker.close() }
        try await worker.heartbeat()
        try await worker.push("job-1")
        try await worker.push("job-2")
        #expect(try await worker.reserve(timeoutSeconds: 1) == "job-1")
        // A worker that dies holding job-1: its heartbeat expires and another worker's cron puts the job back first.
        try await client.command(["DEL", "portico/worker:w1/alive"])
        let other = RedisJobQueue(client: client, workerID: "w2")
        defer { other.close() }
        #expect(try await other.recoverAbandoned(includingOwn: false) == 1)
        #expect(try await other.reserve(timeoutSeconds: 1) == "job-1")
        try await other.complete("job-1")
        let payload = #"{"class":"ThreeScale::Backend::Transactor::ReportJob","args":["1",{}]}"#
        try await other.push(payload)
        #expect(try await other.reserve(timeoutSeconds: 1) == "job-2")
        try await other.complete("job-2")
        #expect(try await other.reserve(timeoutSeconds: 1) == payload)
        try await other.fail(payload, error: "storage down", at: Timestamp(secondsSinceEpoch: 1_745_427_662))
        let failed = try #require(try await client.command(["LINDEX", RedisJobQueue.failedKey, "0"]).string)
        let record = try JSONParser.parse(failed)
        #expect(record["failed_at"]?.stringValue == "2025/04/23 17:01:02 UTC")
        #expect(record["payload"]?["class"]?.stringValue == "ThreeScale::Backend::Transactor::ReportJob")
        #expect(record["queue"]?.stringValue == "priority")
        try await client.command(["RPUSH", RedisJobQueue.failedKey, "not json"])
        let outcome = try await other.rescheduleFailed(limit: 100)
        #expect(outcome.requeued == 1 && outcome.dropped == 1)
        #expect(try await other.reserve(timeoutSeconds: 1) == payload)
        #expect(try await client.command(["LLEN", "portico/worker:w2/processing"]).integer == 1)
        #expect(try await client.command(["LLEN", RedisJobQueue.queueKey]).integer == 0)
    }

    /// A write whose reply is lost is never sent again: the storage reports the failure instead.
    @Test func aBrokenConnectionIsAnErrorNotARetry() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let client = try RedisClientTests.client(server, poolSize: 1)
        defer { client.close() }
        let storage = RedisMeteringStorage(client: client)
        try await storage.apply([.incrementBy("n", 1)])
        server.stop()
        await #expect(throws: MeteringStorageError.self) {
            _ = try await storage.checkAndApply([CounterGuard(key: "n", maxValue: 100, change: .increment(1))], [.incrementBy("n", 1)])
        }
        try server.start()
        var value: [String?] = []
        for _ in 0..<40 where value.isEmpty {
            if let v = try? await storage.get(["n"]) { value = v } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(value == ["1"])
    }
}

/// `rediss://` against a real redis-server speaking only TLS, with a private CA.
@Suite(.serialized, .enabled(if: RedisServerProcess.isAvailable && TestCertificates.isAvailable, "needs redis-server and openssl"))
struct RedisTLSTests {
    static func endpoint(_ server: RedisServerProcess, ca: String?, client: TestCertificates? = nil) throws -> RedisEndpoint {
        var endpoint = try RedisEndpoint.parse("rediss://127.0.0.1:\(server.port)/3")
        endpoint.tls?.trustRootsPEM = try ca.map { try String(contentsOfFile: $0, encoding: .utf8) }
        if let client {
            endpoint.tls?.certificateChainPEM = try String(contentsOfFile: client.clientCertificate, encoding: .utf8)
            endpoint.tls?.privateKeyPEM = try String(contentsOfFile: client.clientKey, encoding: .utf8)
        }
        return endpoint
    }

    @Test func talksTLSWithAVerifiedServerAndRefusesWhatItCannotVerify() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try RedisServerProcess(tls: certificates, requireClientCertificates: false)
        let port = server.port
        defer { server.stop() }

        let endpoint = try Self.endpoint(server, ca: certificates.caCertificate)
        #expect(endpoint.description == "rediss://127.0.0.1:\(port)/3")
        let client = RedisClient(endpoint: endpoint, poolSize: 2)
        defer { client.close() }
        let replies = try await client.send([["SET", "over", "tls"], ["INCR", "n"], ["GET", "over"]])
        #expect(replies[0] == .simpleString("OK") && replies[2].string == "tls")

        // A server certificate from a CA we do not trust (here: the system roots, then an unrelated CA) is refused.
        for ca in [nil, certificates.unrelatedCACertificate] {
            let untrusted = RedisClient(endpoint: try Self.endpoint(server, ca: ca), poolSize: 1, connectTimeout: .seconds(2))
            defer { untrusted.close() }
            await #expect(throws: RedisError.self) { try await untrusted.command(["PING"]) }
        }
        // Plain text to the TLS port gets no answer it can read: a clear failure, never a hang.
        let plain = RedisClient(endpoint: try RedisEndpoint.parse("redis://127.0.0.1:\(port)"), poolSize: 1, commandTimeout: .seconds(2))
        defer { plain.close() }
        await #expect(throws: (any Error).self) { try await plain.command(["PING"]) }
    }

    @Test func presentsAClientCertificateWhenTheServerRequiresOne() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let server = try RedisServerProcess(tls: certificates, requireClientCertificates: true)
        defer { server.stop() }
        let without = RedisClient(endpoint: try Self.endpoint(server, ca: certificates.caCertificate), poolSize: 1)
        defer { without.close() }
        await #expect(throws: (any Error).self) { try await without.command(["PING"]) }
        let with = RedisClient(endpoint: try Self.endpoint(server, ca: certificates.caCertificate, client: certificates), poolSize: 1)
        defer { with.close() }
        #expect(try await with.command(["PING"]) == .simpleString("PONG"))
    }

    @Test func tlsURLsAndSentinelsParse() throws {
        let e = try RedisEndpoint.parse("rediss://:pw@cache.example.com:6380/2")
        #expect(e.tls == RedisTLS() && e.port == 6380 && e.description == "rediss://cache.example.com:6380/2")
        var s = try RedisEndpoint.parse("redis://mymaster/0")
        try s.useSentinels("rediss://s1:26379,rediss://s2:26379", username: nil, password: nil)
        #expect(s.sentinelsUseTLS && s.tls != nil)
        #expect(throws: RedisConfigurationError.self) { try s.useSentinels("rediss://s1,redis://s2", username: nil, password: nil) }
        #expect(RedisTLS.serverName("cache.example.com") == "cache.example.com" && RedisTLS.serverName("10.0.0.7") == nil && RedisTLS.serverName("::1") == nil)
        #expect(throws: RedisConfigurationError.self) { try RedisTLS(trustRootsPEM: "not a certificate").makeContext() }
    }
}
