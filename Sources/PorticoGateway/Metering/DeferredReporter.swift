import Logging
import Metrics

/// Sends the authreps of requests that were authorized from the cache, after their upstream answered,
/// without holding up the client's connection, and updates the cache from each answer. Runs as a service;
/// on shutdown it sends what is queued before returning.
public final class DeferredReporter: Sendable {
    let metering: any MeteringClient
    let cache: AuthorizationCache
    let clock: @Sendable () -> Int64
    let logger: Logger
    private let stream: AsyncStream<MeteringWork>
    private let continuation: AsyncStream<MeteringWork>.Continuation
    /// Reports in flight at once; beyond this they wait in the queue.
    static let concurrency = 32

    struct MeteringWork: Sendable {
        var authrep: DeferredAuthrep
        var upstreamStatus: Int
    }

    init(metering: any MeteringClient, cache: AuthorizationCache, clockMilliseconds: @escaping @Sendable () -> Int64, logger: Logger) {
        self.metering = metering
        self.cache = cache
        self.clock = clockMilliseconds
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: MeteringWork.self)
    }

    public func enqueue(_ authrep: DeferredAuthrep, upstreamStatus: Int) {
        continuation.yield(MeteringWork(authrep: authrep, upstreamStatus: upstreamStatus))
    }

    public func finish() { continuation.finish() }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await work in stream {
                if running >= Self.concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.send(work) }
                running += 1
            }
        }
    }

    func send(_ work: MeteringWork) async {
        var call = work.authrep.call
        if work.authrep.reportResponseCode { call.query.append(("log[code]", String(work.upstreamStatus))) }
        let answer = await metering.send(call)
        Counter(label: "threescale_backend_calls", dimensions: [("endpoint", call.endpoint.metricLabel), ("status", answer.statusClass)]).increment()
        cache.handle(answer, key: work.authrep.cacheKey, mode: work.authrep.mode, ttlMilliseconds: work.authrep.ttlMilliseconds, nowMilliseconds: clock())
        if answer.outcome == .unavailable {
            logger.warning("gateway.deferred_report_failed", metadata: ["service.id": .string(call.query.first { $0.0 == "service_id" }?.1 ?? "")])
        }
    }
}
