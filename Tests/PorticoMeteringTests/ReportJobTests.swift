import Foundation
import Logging
import PorticoCore
@testable import PorticoMetering
import PorticoMeteringStore
import Testing

@Suite struct ReportJobTests {
    static let job = ReportJob(
        serviceID: "1001",
        transactions: [
            .hash(["app_id": .string("app"), "usage": .hash(["hits": .string("3")], order: ["hits"]), "log": .hash(["code": .string("200")], order: ["code"])],
                  order: ["app_id", "usage", "log"]),
            .hash(["user_key": .string("uk"), "usage": .hash(["search": .string("#2")], order: ["search"])], order: ["user_key", "usage"]),
        ],
        enqueuedAt: Timestamp(secondsSinceEpoch: 1_745_427_662), flatUsage: true, extensions: ["flat_usage": "1"], id: "job-1")

    /// Golden: the Resque payload apisonator's worker reads from `resque:queue:priority`.
    @Test func encodesApisonatorsResquePayload() {
        let golden = ##"{"class":"ThreeScale::Backend::Transactor::ReportJob","args":["1001",{"0":{"app_id":"app","usage":{"hits":"3"},"log":{"code":"200"}},"1":{"user_key":"uk","usage":{"search":"#2"}}},1745427662.0,{"request":{"extensions":{"flat_usage":"1"}},"portico_job_id":"job-1"}]}"##
        #expect(ReportJobCodec.encode(Self.job) == golden)
        #expect(ReportJobCodec.decode(ReportJobCodec.encode(Self.job)) == Self.job)
    }

    /// A job as apisonator's listener writes it (numeric enqueue time with a fraction, request context, no id).
    @Test func decodesJobsQueuedByApisonator() throws {
        let payload = #"{"class":"ThreeScale::Backend::Transactor::ReportJob","args":["42",{"1":{"app_id":"b","usage":{"hits":"1"}},"0":{"app_id":"a","usage":{"hits":"2"},"timestamp":"2025-04-23 17:00:00 +0000"}},1745427662.512,{"request":{"url":"/transactions.xml","method":"POST","extensions":{"no_body":"true"}}}]}"#
        let job = try #require(ReportJobCodec.decode(payload))
        #expect(job.serviceID == "42" && job.id == nil && !job.flatUsage && job.extensions == ["no_body": "true"])
        #expect(job.enqueuedAt.secondsSinceEpoch == 1_745_427_662)
        #expect(job.transactions.map { $0["app_id"]?.string } == ["a", "b"])
        #expect(job.transactions[0]["timestamp"]?.string == "2025-04-23 17:00:00 +0000")
        #expect(ReportJobCodec.decode(#"{"class":"ThreeScale::Backend::NotifyJob","args":["pk",{}]}"#) == nil)
        #expect(ReportJobCodec.decode("not json") == nil)
    }

    /// A job with an id that is queued again (re-queued failure, recovered worker) is counted once.
    @Test func aJobWithAnIDIsAppliedAtMostOnce() async throws {
        let f = try await MeteringFixture()
        var job = ReportJob(serviceID: "1001", transactions: [.hash(["app_id": .string("app"), "usage": .hash(["hits": .string("2")], order: ["hits"])],
                                                                    order: ["app_id", "usage"])],
                            enqueuedAt: MeteringFixture.now, flatUsage: false, extensions: [:], id: "once")
        try await f.processor.process(job)
        try await f.processor.process(job)
        let key = ApisonatorKeys.applicationUsage("1001", app: "app", metric: "10011", .eternity, at: MeteringFixture.now)
        #expect(try await f.storage.get([key]) == ["2"])
        job.id = nil
        try await f.processor.process(job)
        #expect(try await f.storage.get([key]) == ["4"])
    }
}

@Suite struct MeteringCronTests {
    /// `DELETE /internal/services/{id}/stats` only marks; the cron then removes that service's statistics and
    /// nothing else.
    @Test func deletesStatisticsOfMarkedServicesOnly() async throws {
        let f = try await MeteringFixture()
        for sid in ["1001", "1002"] {
            try await f.storage.apply([.usage(UsageWrite(serviceID: sid, applicationID: "a", timestamp: MeteringFixture.now,
                                                         values: [("\(sid)1", .increment(1))], responseCode: 200))])
        }
        var request = MeteringRequest(method: "DELETE", target: "/internal/services/1001/stats", contentType: nil, body: [], options: nil)
        request.authorization = nil
        let marked = await f.api.handle(request)
        #expect(marked.status == 200 && String(decoding: marked.body, as: UTF8.self).contains("to_be_deleted"))
        #expect(try await f.storage.keys(prefix: ApisonatorKeys.serviceStatsPrefix("1001")).count > 0)
        let cron = MeteringCron(storage: f.storage, queue: nil, rescheduleInterval: .seconds(300), deleteStatsInterval: .seconds(86_400),
                                logger: Logger(label: "test"))
        #expect(try await cron.deleteMarkedStats() > 0)
        #expect(try await f.storage.keys(prefix: ApisonatorKeys.serviceStatsPrefix("1001")).isEmpty)
        #expect(try await f.storage.keys(prefix: ApisonatorKeys.serviceStatsPrefix("1002")).count > 0)
        #expect(try await f.storage.members(ApisonatorKeys.servicesMarkedForStatsDeletion).isEmpty)
    }
}

@Suite struct AlertTests {
    func internalCall(_ f: MeteringFixture, _ method: String, _ target: String, json: String? = nil) async -> (Int, JSONValue?) {
        let r = await f.api.handle(MeteringRequest(method: method, target: target, contentType: json == nil ? nil : "application/json",
                                                   body: Array((json ?? "").utf8), options: nil))
        return (r.status, try? JSONParser.parse(r.body))
    }

    /// An hourly limit of 10: the 5th hit crosses 50 %, the 10th 100 %; each enabled level alerts once per
    /// application per day, skipped levels (80, 90) are not back-filled, and porta acknowledges events.
    @Test func utilizationAlertsAreQueuedAsEventsOncePerLevel() async throws {
        let f = try await MeteringFixture()
        for level in [50, 100] {
            #expect(await internalCall(f, "POST", "/internal/services/1001/alert_limits/", json: #"{"alert_limit":{"value":\#(level)}}"#).0 == 201)
        }
        let authrep = "/transactions/authrep.xml?provider_key=pk&service_id=1001&app_id=app&app_key=secret&usage%5Bhits%5D=1"
        for _ in 0..<4 { #expect(await f.get(authrep).status == 200) }
        #expect(await internalCall(f, "GET", "/internal/events/").1?["events"]?.arrayValue?.count == 0)
        #expect(await f.get(authrep).status == 200)  // 5/10 of the hourly limit: 50 %
        for _ in 0..<5 { #expect(await f.get(authrep).status == 200) }  // 10/10: 100 %
        let events = try #require(await internalCall(f, "GET", "/internal/events/").1?["events"]?.arrayValue)
        #expect(events.count == 2)
        #expect(events.map { $0["type"]?.stringValue } == ["alert", "alert"])
        #expect(events.map { $0["object"]?["utilization"]?.int } == [50, 100])
        #expect(events[1]["object"]?["limit"]?.stringValue == "hits per hour: 10/10")
        #expect(events[1]["object"]?["application_id"]?.stringValue == "app")
        #expect(events[0]["timestamp"]?.stringValue == "2010-05-15 22:59:59 UTC")
        // Rejected calls count nothing and raise nothing new; a report past the limit does not repeat 100 %.
        #expect(await f.get(authrep).status == 409)
        try await f.processor.process(ReportJob(serviceID: "1001", transactions: [.hash(["app_id": .string("app"), "usage": .hash(["hits": .string("1")], order: ["hits"])], order: ["app_id", "usage"])],
                                                enqueuedAt: MeteringFixture.now, flatUsage: false, extensions: [:]))
        #expect(await internalCall(f, "GET", "/internal/events/").1?["events"]?.arrayValue?.count == 2)
        // porta deletes what it has read.
        let firstID = try #require(events[0]["id"]?.int)
        #expect(await internalCall(f, "DELETE", "/internal/events/\(firstID)").0 == 200)
        #expect(await internalCall(f, "DELETE", "/internal/events/\(firstID)").0 == 404)
        let upTo = await internalCall(f, "DELETE", "/internal/events/?upto_id=\(firstID + 10)")
        #expect(upTo.1?["num_events"]?.int == 1)
        #expect(await internalCall(f, "GET", "/internal/events/").1?["events"]?.arrayValue?.count == 0)
    }

    @Test func levelsAreBinnedAsIn3scale() {
        #expect(UtilizationAlerts.level(forPercent: 49.9) == 0)
        #expect(UtilizationAlerts.level(forPercent: 50) == 50)
        #expect(UtilizationAlerts.level(forPercent: 95) == 90)
        #expect(UtilizationAlerts.level(forPercent: 1000) == 300)
    }
}

extension JSONValue {
    var int: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}
