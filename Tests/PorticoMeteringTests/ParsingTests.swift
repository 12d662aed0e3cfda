import PorticoCore
@testable import PorticoMetering
import Testing

@Suite struct ParsingTests {
    func parse(_ s: String) throws -> RackParameters {
        var p = RackParameters()
        try p.merge(ArraySlice(s.utf8))
        return p
    }

    @Test func nestedParametersFollowRack() throws {
        let p = try parse("usage%5Bhits%5D=1&usage[search]=%232&transactions[0][app_id]=a&transactions[1][usage][hits]=3&k[]=x&k[]=y&plain=a+b")
        #expect(p["usage"]?.entries?.map { $0.0 } == ["hits", "search"])
        #expect(p["usage"]?["search"]?.string == "#2")
        #expect(p["transactions"]?["1"]?["usage"]?["hits"]?.string == "3")
        #expect(p["k"] == .array([.string("x"), .string("y")]))
        #expect(p.string("plain") == "a b")
        #expect(throws: ParameterSyntaxError.self) { _ = try parse("usage[]=1&usage[hits]=1") }
        #expect(throws: ParameterSyntaxError.self) { _ = try parse("a=%G1") }
        #expect(try parse("a=%FF").containsInvalidUTF8)
        let many = (0...4096).map { "p\($0)=1" }.joined(separator: "&")
        #expect(throws: ParameterSyntaxError(message: "total number of query parameters (4097) exceeds limit (4096)")) { _ = try parse(many) }
    }

    /// Fuzz: arbitrary bytes either parse or fail with a syntax error; never crash.
    @Test func arbitraryInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab[]=&%2F5#;+ \u{0}\u{FF}".utf8)
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            var p = RackParameters()
            _ = try? p.merge(bytes[...])
        }
    }

    @Test func reportTimestampsAreLenientAndUTC() {
        #expect(LenientTime.parse("1271980770") == Timestamp(secondsSinceEpoch: 1_271_980_770))
        #expect(LenientTime.parse("2010-04-22 23:59:30") == Timestamp(iso8601: "2010-04-22T23:59:30Z"))
        #expect(LenientTime.parse("2010-04-22 23:59:30 +0200") == Timestamp(iso8601: "2010-04-22T21:59:30Z"))
        #expect(LenientTime.parse("2010-04-22T23:59:30-02:00") == Timestamp(iso8601: "2010-04-23T01:59:30Z"))
        #expect(LenientTime.parse("2012/10/01") == Timestamp(iso8601: "2012-10-01T00:00:00Z"))
        #expect(LenientTime.parse("yesterday") == nil)
        let now = Timestamp(iso8601: "2010-04-23T00:00:00Z")!
        #expect(throws: MeteringFailure.self) { _ = try ReportProcessor.timestamp("2010-04-21 23:59:59", now: now) }
        #expect((try? ReportProcessor.timestamp("2010-04-22 00:00:00", now: now)) == Timestamp(iso8601: "2010-04-22T00:00:00Z"))
        #expect((try? ReportProcessor.timestamp("2010-04-23 01:00:00", now: now)) != nil)
        #expect(throws: MeteringFailure.self) { _ = try ReportProcessor.timestamp("2010-04-23 01:00:01", now: now) }
        #expect((try? ReportProcessor.timestamp("garbage", now: now)) == now)
    }
}
