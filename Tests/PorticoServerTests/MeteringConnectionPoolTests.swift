import NIOCore
import NIOPosix
import PorticoTesting
import Synchronization
import Testing
@testable import PorticoServer

/// The gateway's plain-HTTP Service Management API client against a real HTTP server on loopback: the calls of
/// one event-loop tick are pipelined on one connection, answered in order, and never lost or sent twice when
/// the server closes the connection part-way through them.
@Suite struct MeteringConnectionPoolTests {
    /// Sends `count` authrep-shaped requests from inside one tick of one event loop; returns each one's status (nil:
    /// unreachable), in the order they were sent.
    static func sendInOneTick(_ count: Int, to server: StubHTTPServer, timeout: TimeAmount = .seconds(5)) async -> [Int?] {
        let pool = MeteringConnectionPool(host: "127.0.0.1", port: server.port)
        defer { pool.close() }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answers = Mutex<[Int: Int?]>([:])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                for i in 0..<count {
                    let request = ByteBuffer(string: "GET /transactions/authrep.xml?n=\(i) HTTP/1.1\r\nHost: backend\r\nContent-Length: 0\r\n\r\n")
                    pool.send(request, timeout: timeout, on: loop) { answer in
                        let finished = answers.withLock { all -> Bool in
                            all[i] = .some(answer.status == 0 ? nil : answer.status)
                            return all.count == count
                        }
                        if finished { done.resume() }
                    }
                }
            }
        }
        return answers.withLock { all in (0..<count).map { all[$0] ?? nil } }
    }

    @Test func callsOfOneTickShareOneConnectionAndAreAnsweredInOrder() async throws {
        let server = try StubHTTPServer { request in
            // Alternating statuses show each answer goes to its own call.
            StubHTTPServer.Reply(status: Int(request.query["n"] ?? "0")! % 2 == 0 ? 200 : 409, body: "<status/>")
        }
        defer { server.stop() }
        let statuses = await Self.sendInOneTick(10, to: server)
        #expect(statuses == (0..<10).map { $0 % 2 == 0 ? 200 : 409 })
        #expect(server.requests.map { $0.query["n"] } == (0..<10).map { String($0) })
        #expect(server.connectionCount == 1)
    }

    @Test func callsBehindAResponseThatClosedTheConnectionAreSentAgain() async throws {
        // Every third request is answered with `Connection: close`: the requests pipelined behind it
        // were not processed, so they go out again on another connection; none is lost and none is counted twice.
        let answered = Mutex(0)
        let server = try StubHTTPServer { _ in
            let third = answered.withLock { count -> Bool in
                count += 1
                return count % 3 == 0
            }
            return StubHTTPServer.Reply(status: 200, headers: third ? [("Connection", "close")] : [])
        }
        defer { server.stop() }
        let statuses = await Self.sendInOneTick(7, to: server)
        #expect(statuses == Array(repeating: 200, count: 7))
        let received = server.requests.compactMap { $0.query["n"] }
        #expect(received.sorted() == (0..<7).map { String($0) }.sorted(), "each call processed exactly once: \(received)")
        #expect(server.connectionCount > 1)
    }

    @Test func aServerThatNeverAnswersTimesOutEveryPipelinedCall() async throws {
        let server = try StubHTTPServer { _ in StubHTTPServer.Reply(status: 200, delayMilliseconds: 60_000) }
        defer { server.stop() }
        let statuses = await Self.sendInOneTick(3, to: server, timeout: .milliseconds(300))
        #expect(statuses == [nil, nil, nil])
    }

    @Test func deferredCallsGatherUntilACallSomeoneWaitsForJoinsThem() async throws {
        let server = try StubHTTPServer { _ in StubHTTPServer.Reply(status: 200) }
        defer { server.stop() }
        let pool = MeteringConnectionPool(host: "127.0.0.1", port: server.port)
        defer { pool.close() }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answered = Mutex<[Int]>([])
        @Sendable func send(_ n: Int, gathering: TimeAmount) {
            let request = ByteBuffer(string: "GET /transactions/authrep.xml?n=\(n) HTTP/1.1\r\nHost: backend\r\nContent-Length: 0\r\n\r\n")
            pool.send(request, timeout: .seconds(30), on: loop, gathering: gathering) { answer in
                if answer.status == 200 { answered.withLock { $0.append(n) } }
            }
        }
        func waitForAnswers(_ count: Int) async throws {
            for _ in 0..<400 where answered.withLock({ $0.count }) < count { try await Task.sleep(for: .milliseconds(25)) }
        }
        // The connection is opened first (exchanges waiting for a connection being opened go out when it opens).
        try await loop.submit { send(0, gathering: .zero) }.get()
        try await waitForAnswers(1)
        // Five deferred calls, each in its own tick, with a gathering time far beyond this test's.
        for n in 1...5 { try await loop.submit { send(n, gathering: .seconds(120)) }.get() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.requests.count == 1, "deferred calls are still gathering")
        #expect(answered.withLock { $0 } == [0])
        // A call someone waits for has the batch written at the end of its tick.
        try await loop.submit { send(6, gathering: .zero) }.get()
        try await waitForAnswers(7)
        #expect(answered.withLock { $0 } == Array(0...6))
        #expect(server.requests.map { $0.query["n"] } == (0...6).map { String($0) })
        #expect(server.connectionCount == 1)
    }

    @Test func aDeferredCallAloneIsWrittenOnceItsGatheringTimeEnds() async throws {
        let server = try StubHTTPServer { _ in StubHTTPServer.Reply(status: 200) }
        defer { server.stop() }
        let pool = MeteringConnectionPool(host: "127.0.0.1", port: server.port)
        defer { pool.close() }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let status = await withCheckedContinuation { (done: CheckedContinuation<Int?, Never>) in
            loop.execute {
                pool.send(ByteBuffer(string: "GET /transactions/authrep.xml HTTP/1.1\r\nHost: backend\r\nContent-Length: 0\r\n\r\n"),
                          timeout: .seconds(5), on: loop, gathering: .milliseconds(50)) { done.resume(returning: $0.status) }
            }
        }
        #expect(status == 200)
    }

    @Test func anUnreachableEndpointAnswersUnreachable() async throws {
        let port = LoopbackPorts.base(count: 1)
        let pool = MeteringConnectionPool(host: "127.0.0.1", port: port)
        let answer = await pool.send(ByteBuffer(string: "GET /transactions/authrep.xml HTTP/1.1\r\nHost: backend\r\n\r\n"), timeout: .seconds(2))
        #expect(answer == .unreachable)
    }
}
