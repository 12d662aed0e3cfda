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
