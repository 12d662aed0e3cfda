import Logging
import Metrics
import Synchronization

/// Sends the authreps of requests that were authorized from the cache, after their upstream answered,
/// without holding up the client's connection, and updates the cache from each answer. Runs as a service;
/// on shutdown it sends what is queued before returning.
public final class DeferredReporter: Sendable {
    let metering: any MeteringClient
    let cache: AuthorizationCache
    let clock: @Sendable () -> Int64
    let logger: Logger
    /// Reports in flight at once; beyond this they wait in the queue. (Pipelined on a few connections, an
    /// authrep in flight costs the backend nothing until it is read; a plain-HTTP client gathers them for a
    /// millisecond, which at 20,000 requests a second is already 20 in flight.)
    static let concurrency = 128
    private let state = Mutex(State())

    struct MeteringWork: Sendable {
        var authrep: DeferredAuthrep
        var upstreamStatus: Int
    }

    /// Reports waiting for a free sender, first in first out (two stacks: appends to `inbox`, takes from `outbox`).
    struct State: ~Copyable {
        var inFlight = 0
        var inbox: [MeteringWork] = []
        var outbox: [MeteringWork] = []
        var finished = false
        var idle: [CheckedContinuation<Void, Never>] = []

        mutating func next() -> MeteringWork? {
            if outbox.isEmpty {
                outbox = inbox.reversed()
                inbox.removeAll(keepingCapacity: true)
            }
            return outbox.popLast()
        }
    }

    init(metering: any MeteringClient, cache: AuthorizationCache, clockMilliseconds: @escaping @Sendable () -> Int64, logger: Logger) {
        self.metering = metering
        self.cache = cache
        self.clock = clockMilliseconds
        self.logger = logger
    }

    /// Authreps waiting to be sent and authreps in flight (the management API's `/status/info`).
    public var backlog: (queued: Int, inFlight: Int) {
        state.withLock { ($0.inbox.count + $0.outbox.count, $0.inFlight) }
    }

    /// Queues an authrep. It is sent at once when fewer than `concurrency` are in flight (on the calling event
    /// loop, or in a task preferring `executor`, the client connection's loop); each answer sends the next
    /// queued one, until none are left.
    public func enqueue(_ authrep: DeferredAuthrep, upstreamStatus: Int, executor: (any TaskExecutor)? = nil) {
        let work = MeteringWork(authrep: authrep, upstreamStatus: upstreamStatus)
        let startsSender = state.withLock { s -> Bool in
            guard s.inFlight < Self.concurrency else {
                s.inbox.append(work)
                return false
            }
            s.inFlight += 1
            return true
        }
        guard startsSender else { return }
        send(work, executor: executor)
    }

    /// Sends `work`; its answer sends the next queued report, or frees the sender. (A client answers after `send`
    /// returns, so a long queue does not grow the stack.)
    private func send(_ work: MeteringWork, executor: (any TaskExecutor)?) {
        let call = Self.call(for: work)
        metering.send(call, executor: executor, deferred: true) { answer in
            self.handle(answer, of: call, work: work)
            let next = self.state.withLock { s -> MeteringWork? in
                if let queued = s.next() { return queued }
                s.inFlight -= 1
                return nil
            }
            if let next { self.send(next, executor: executor) } else { self.resumeIfIdle() }
        }
    }

    /// No more reports will come (the listeners have drained); `run` returns once the queued ones are sent.
    public func finish() {
        state.withLock { $0.finished = true }
        resumeIfIdle()
    }

    private func resumeIfIdle() {
        let waiting = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.finished, s.inFlight == 0 else { return [] }
            defer { s.idle.removeAll() }
            return s.idle
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns after `finish`, once every queued report was sent.
    public func run() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if s.finished, s.inFlight == 0 { return true }
                s.idle.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    static func call(for work: MeteringWork) -> MeteringCall {
        var call = work.authrep.call
        if work.authrep.reportResponseCode { call.query.append(("log[code]", String(work.upstreamStatus))) }
        return call
    }

    func handle(_ answer: MeteringAnswer, of call: MeteringCall, work: MeteringWork) {
        BackendCallCounters.shared.increment(endpoint: call.endpoint.metricLabel, status: answer.statusClass)
        cache.handle(answer, key: work.authrep.cacheKey, mode: work.authrep.mode, ttlMilliseconds: work.authrep.ttlMilliseconds, nowMilliseconds: clock(),
                     authrep: work.authrep.prepared)
        if answer.outcome == .unavailable {
            logger.warning("gateway.deferred_report_failed", metadata: ["service.id": .string(call.query.first { $0.0 == "service_id" }?.1 ?? "")])
        }
    }
}
