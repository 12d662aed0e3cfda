import Foundation
import PorticoCore
import PorticoRedis
@testable import PorticoMeteringStore
import Testing

@Suite struct RESPDecoderTests {
    static let samples: [RESPValue] = [
        .simpleString("OK"), .error("ERR unknown command"), .integer(-42), .integer(Int64.max), .bulkString(Array("héllo\r\nworld".utf8)),
        .bulkString([]), .null, .array([]), .array([.integer(1), .array([.bulkString([0, 13, 10, 255]), .null]), .simpleString("x")]),
    ]

    /// The decoder verifier: every value, fed split at every byte boundary, decodes to itself.
    @Test func decodesEveryValueAtEverySplitPoint() throws {
        for value in Self.samples {
            var bytes: [UInt8] = []
            RESPEncoder.encode(value, into: &bytes)
            for split in 0...bytes.count {
                var decoder = RESPDecoder()
                decoder.feed(bytes[..<split])
                let early = try decoder.next()
                if split < bytes.count { #expect(early == nil, "\(value) split at \(split)") }
                decoder.feed(bytes[split...])
                let decoded = try early ?? decoder.next()
                #expect(decoded == value)
                #expect(decoder.bufferedByteCount == 0)
            }
            // Byte by byte.
            var decoder = RESPDecoder()
            var out: [RESPValue] = []
            for b in bytes {
                decoder.feed([b])
                if let v = try decoder.next() { out.append(v) }
            }
            #expect(out == [value])
        }
    }

    @Test func commandEncodingMatchesRedisWireFormat() {
        var bytes: [UInt8] = []
        RESPEncoder.encodeCommand(["SET", "k", "v"], into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
    }

    /// Fuzz: random bytes and mutated valid frames never crash the decoder; it either waits, decodes or throws.
    @Test func randomInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        var frames: [[UInt8]] = Self.samples.map { v in
            var b: [UInt8] = []
            RESPEncoder.encode(v, into: &b)
            return b
        }
        frames.append(Array("*99999999999\r\n$-7\r\n:abc\r\n$5\r\nab\r\n".utf8))
        for _ in 0..<5000 {
            var input = frames.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 0...4, using: &rng) where !input.isEmpty {
                input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { input = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            var decoder = RESPDecoder()
            decoder.feed(input)
            for _ in 0..<8 { guard (try? decoder.next()) != nil else { break } }
        }
    }
}

@Suite struct EmbeddedStorageTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portico-metering-\(UUID().uuidString)").path
    }

    @Test func checkAndApplyIsAllOrNothing() async throws {
        let s = EmbeddedMeteringStorage(clockMilliseconds: { 0 })
        try await s.apply([.set("a", "4")])
        let refused = try await s.checkAndApply([CounterGuard(key: "a", maxValue: 5, change: .increment(2)), CounterGuard(key: "b", maxValue: nil, change: nil)],
                                                [.incrementBy("a", 2), .incrementBy("b", 1)])
        #expect(refused == CounterCheck(values: [4, 0], applied: false))
        let admitted = try await s.checkAndApply([CounterGuard(key: "a", maxValue: 5, change: .increment(1))], [.incrementBy("a", 1)])
        #expect(admitted.applied)
        #expect(try await s.get(["a", "b"]) == ["5", nil])
    }

    /// A membership guard reads SISMEMBER before the writes (first_traffic detection) and never blocks them.
    @Test func membershipGuardsReadTheSetBeforeTheWrites() async throws {
        let s = EmbeddedMeteringStorage(clockMilliseconds: { 0 })
        let first = try await s.checkAndApply([.membership("apps", "x"), .membership("apps", "y")], [.setAdd("apps", ["x"])])
        #expect(first == CounterCheck(values: [0, 0], applied: true))
        let second = try await s.checkAndApply([.membership("apps", "x"), .membership("apps", "y")], [.setAdd("apps", ["y"])])
        #expect(second == CounterCheck(values: [1, 0], applied: true))
        try await s.apply([.set("plain", "1")])
        #expect(try await s.checkAndApply([.membership("plain", "1")], []).values == [0])
    }

    @Test func usageWritesUseApisonatorKeysAndTheMinuteKeyExpires() async throws {
        let t = Timestamp(iso8601: "2016-01-02T18:10:30Z")!
        let commands = CounterWrites.expand(UsageWrite(serviceID: "7", applicationID: "a b", timestamp: t, values: [("1", .increment(3))], responseCode: 404))
        let keys = commands.compactMap { c -> String? in
            if case .incrementBy(let k, _) = c { return k }
            return nil
        }
        #expect(keys.contains("stats/{service:7}/cinstance:a+b/metric:1/minute:20160102181"))
        #expect(keys.contains("stats/{service:7}/cinstance:a+b/metric:1/hour:2016010218"))
        #expect(keys.contains("stats/{service:7}/metric:1/week:20151228"))
        #expect(keys.contains("stats/{service:7}/response_code:4XX/day:20160102"))
        #expect(keys.contains("stats/{service:7}/cinstance:a+b/response_code:404/eternity"))
        #expect(!keys.contains("stats/{service:7}/metric:1/year:20160101"))  // no year at service level
        #expect(commands.contains(.expire("stats/{service:7}/cinstance:a+b/metric:1/minute:20160102181", seconds: 180)))
        // Exactly ApisonatorKeys' names, which analytics and the limit check read.
        var expected: [String] = []
        for code in ["4XX", "404"] {
            expected += ApisonatorKeys.applicationPeriods.map { ApisonatorKeys.applicationResponseCode("7", app: "a b", code: code, $0, at: t) }
            expected += ApisonatorKeys.servicePeriods.map { ApisonatorKeys.serviceResponseCode("7", code: code, $0, at: t) }
        }
        expected += ApisonatorKeys.applicationPeriods.map { ApisonatorKeys.applicationUsage("7", app: "a b", metric: "1", $0, at: t) }
        expected += ApisonatorKeys.servicePeriods.map { ApisonatorKeys.serviceUsage("7", metric: "1", $0, at: t) }
        #expect(keys.sorted() == expected.sorted())
        let storage = EmbeddedMeteringStorage(clockMilliseconds: { (t.secondsSinceEpoch + 181) * 1000 })
        try await storage.apply([.usage(UsageWrite(serviceID: "7", applicationID: "a", timestamp: t, values: [("1", .increment(3))], responseCode: nil))])
        #expect(try await storage.get(["stats/{service:7}/cinstance:a/metric:1/minute:20160102181", "stats/{service:7}/cinstance:a/metric:1/eternity"])
            == [nil, "3"])
    }

    /// The embedded store keeps the current minute's keys between transactions: the counters it writes are
    /// apisonator's at every step — within a minute, after the minute changes, and for a report of an earlier minute.
    @Test func cachedCounterKeysStayApisonatorsAcrossMinutes() async throws {
        let t0 = Timestamp(iso8601: "2016-01-31T23:59:30Z")!
        let t1 = Timestamp(iso8601: "2016-02-01T00:00:10Z")!  // next minute, day, week and month
        let storage = EmbeddedMeteringStorage(clockMilliseconds: { t1.secondsSinceEpoch * 1000 })
        var expected: [String: Int64] = [:]
        for (t, n) in [(t0, 1), (t0, 2), (t1, 4), (t0, 8), (t1, 16)] as [(Timestamp, Int64)] {
            try await storage.apply([.usage(UsageWrite(serviceID: "7", applicationID: "a b", timestamp: t, values: [("1", .increment(n))], responseCode: 200))])
            for code in ["2XX", "200"] {
                for p in ApisonatorKeys.applicationPeriods { expected[ApisonatorKeys.applicationResponseCode("7", app: "a b", code: code, p, at: t), default: 0] += 1 }
                for p in ApisonatorKeys.servicePeriods { expected[ApisonatorKeys.serviceResponseCode("7", code: code, p, at: t), default: 0] += 1 }
            }
            for p in ApisonatorKeys.applicationPeriods { expected[ApisonatorKeys.applicationUsage("7", app: "a b", metric: "1", p, at: t), default: 0] += n }
            for p in ApisonatorKeys.servicePeriods { expected[ApisonatorKeys.serviceUsage("7", metric: "1", p, at: t), default: 0] += n }
        }
        let counters = storage.entries().filter { $0.key.hasPrefix("stats/") && !$0.key.hasSuffix("/cinstances") }
        #expect(Set(counters.map(\.key)) == Set(expected.keys))
        for entry in counters { #expect(entry.value == .string(String(expected[entry.key] ?? -1)), "\(entry.key)") }
        // Minute keys expire three minutes after their own transaction's time, whichever minute the cache holds.
        let minuteKey = ApisonatorKeys.applicationUsage("7", app: "a b", metric: "1", .minute, at: t0)
        #expect(counters.first { $0.key == minuteKey }?.expiresAtMilliseconds == (t0.secondsSinceEpoch + 180) * 1000)
    }

    @Test func persistenceSurvivesRestartAndDropsATornTail() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = EmbeddedMeteringStorage(clockMilliseconds: { 1_000 })
        let p1 = EmbeddedPersistence(directory: dir, storage: first)
        _ = try p1.recover()
        try await first.apply([.set("config", "x"), .setAdd("members", ["a", "b"]), .incrementBy("n", 5), .listPushTrimmed("errors", "e1", keep: 2)])
        try p1.flush()
        try await first.apply([.incrementBy("n", 2), .setRemove("members", ["a"]), .sortedSetAdd("events", score: 2, member: "e2"),
                               .sortedSetAdd("events", score: 1, member: "e1"), .sortedSetAdd("events", score: 3, member: "e3"),
                               .sortedSetRemoveByScore("events", min: 3, max: 3)])
        try p1.flush()
        // A crash in the middle of a write leaves half a record at the end of the log.
        let log = dir + "/log.resp"
        let handle = try #require(FileHandle(forWritingAtPath: log))
        handle.seekToEndOfFile()
        handle.write(Data("*3\r\n$6\r\nINCRBY\r\n$1\r\nn".utf8))
        try handle.close()
        let second = EmbeddedMeteringStorage(clockMilliseconds: { 2_000 })
        let report = try EmbeddedPersistence(directory: dir, storage: second).recover()
        #expect(report.discardedTailBytes > 0)
        #expect(try await second.get(["config", "n"]) == ["x", "7"])
        #expect(try await second.members("members") == ["b"])
        #expect(try await second.listRange("errors", start: 0, stop: -1) == ["e1"])
        // Recovery compacted: a third start reads the snapshot alone.
        let third = EmbeddedMeteringStorage(clockMilliseconds: { 3_000 })
        _ = try EmbeddedPersistence(directory: dir, storage: third).recover()
        #expect(try await third.get(["n"]) == ["7"])
        #expect(try await third.sortedSetMembers("events").map(\.member) == ["e1", "e2"])
    }

    @Test func corruptLogIsReportedNotSilentlyDropped() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("*1\r\n$3\r\nSET\r\n?garbage\r\n".utf8).write(to: URL(fileURLWithPath: dir + "/log.resp"))
        let storage = EmbeddedMeteringStorage(clockMilliseconds: { 0 })
        #expect(throws: MeteringStorageError.self) { _ = try EmbeddedPersistence(directory: dir, storage: storage).recover() }
    }
}
