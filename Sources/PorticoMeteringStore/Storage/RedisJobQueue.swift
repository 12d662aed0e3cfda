import PorticoCore
import PorticoRedis
import Synchronization

/// apisonator's report queue on the queues Redis (reference/service-management-api.md §8.3): Resque-format
/// jobs in `resque:queue:priority`, failures in `resque:failed`.
///
/// Unlike Resque's `LPOP`, a worker takes a job with `BLMOVE` into its own processing list and removes it only
/// once applied, so a worker killed mid-job loses nothing: any worker's cron moves the lists of workers whose
/// heartbeat expired back to the queue. Jobs carrying a Portico job id are applied at most once (see
/// `ReportProcessor`), so putting a job back never counts it twice.
public final class RedisJobQueue: Sendable {
    public static let queueKey = "resque:queue:priority"
    public static let failedKey = "resque:failed"
    static let workersKey = "portico/workers"
    static let requeueLockKey = "portico/cron/reschedule_failed_jobs"
    static let heartbeatSeconds: Int64 = 30

    public let client: RedisClient
    public let workerID: String
    private let blocking = Mutex<RedisConnection?>(nil)

    public init(client: RedisClient, workerID: String) {
        self.client = client
        self.workerID = workerID
    }

    static func processingKey(_ worker: String) -> String { "portico/worker:\(worker)/processing" }
    static func aliveKey(_ worker: String) -> String { "portico/worker:\(worker)/alive" }

    public func push(_ payload: String) async throws {
        try await checked(client.send([["RPUSH", Self.queueKey, payload]]))
    }

    /// Waits up to `timeoutSeconds` for the next job and moves it to this worker's processing list. The wait
    /// blocks its connection, so it runs on one of its own, reopened when it breaks. One caller at a time.
    public func reserve(timeoutSeconds: Double) async throws -> String? {
        let connection: RedisConnection
        if let open = blocking.withLock({ $0 }), open.isActive {
            connection = open
        } else {
            connection = try await client.dedicatedConnection()
            blocking.withLock { $0 = connection }
        }
        let reply = try await connection.send([["BLMOVE", Self.queueKey, Self.processingKey(workerID), "LEFT", "RIGHT", String(timeoutSeconds)]])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply == .null ? nil : reply.string
    }

    public func complete(_ payload: String) async throws {
        try await checked(client.send([["LREM", Self.processingKey(workerID), "1", payload]]))
    }

    /// Records the job in Resque's failed list (as Resque's failure hash) and takes it off this worker.
    public func fail(_ payload: String, error: String, at now: Timestamp) async throws {
        let failure: JSONValue = .object([
            "failed_at": .string(Self.resqueTime(now)),
            "payload": (try? JSONParser.parse(payload)) ?? .string(payload),
            "exception": "Portico::MeteringStorageError",
            "error": .string(error),
            "backtrace": .array([]),
            "worker": .string(workerID),
            "queue": "priority",
        ])
        try await checked(client.send([["MULTI"], ["RPUSH", Self.failedKey, failure.serializedString],
                                       ["LREM", Self.processingKey(workerID), "1", payload], ["EXEC"]]))
    }

    /// Marks this worker alive for the next `heartbeatSeconds`.
    public func heartbeat() async throws {
        try await checked(client.send([["SET", Self.aliveKey(workerID), "1", "EX", String(Self.heartbeatSeconds)],
                                       ["SADD", Self.workersKey, workerID]]))
    }

    /// Puts jobs left in processing lists back at the head of the queue: this worker's own (after a storage
    /// failure or a restart with the same id) and those of workers whose heartbeat expired. Returns how many.
    public func recoverAbandoned(includingOwn: Bool) async throws -> Int {
        let reply = try await client.command(["SMEMBERS", Self.workersKey])
        var moved = 0
        for worker in (reply.array ?? []).compactMap(\.string) {
            if worker == workerID {
                guard includingOwn else { continue }
            } else if try await client.command(["EXISTS", Self.aliveKey(worker)]).integer == 1 {
                continue
            }
            while true {
                let job = try await client.command(["LMOVE", Self.processingKey(worker), Self.queueKey, "RIGHT", "LEFT"])
                if job == .null { break }
                moved += 1
            }
            if worker != workerID { try await client.command(["SREM", Self.workersKey, worker]) }
        }
        return moved
    }

    /// apisonator's `reschedule_failed_jobs`: under a 30-second lock, moves up to `limit` failed jobs back to
    /// the queue, oldest first; entries that are not Resque failure records are dropped (and counted).
    public func rescheduleFailed(limit: Int) async throws -> (requeued: Int, dropped: Int) {
        let locked = try await client.command(["SET", Self.requeueLockKey, workerID, "NX", "EX", "30"])
        guard locked != .null else { return (0, 0) }
        var requeued = 0, dropped = 0
        while requeued + dropped < limit {
            let entry = try await client.command(["LPOP", Self.failedKey])
            guard let text = entry.string else { break }
            guard let failure = try? JSONParser.parse(text), let payload = failure["payload"], payload.objectValue != nil else {
                dropped += 1
                continue
            }
            try await client.command(["RPUSH", Self.queueKey, payload.serializedString])
            requeued += 1
        }
        _ = try? await client.send([["DEL", Self.requeueLockKey]])
        return (requeued, dropped)
    }

    public func close() {
        blocking.withLock { $0?.close(); $0 = nil }
    }

    public func length() async throws -> Int { Int(try await client.command(["LLEN", Self.queueKey]).integer ?? 0) }
    public func failedCount() async throws -> Int { Int(try await client.command(["LLEN", Self.failedKey]).integer ?? 0) }

    /// Resque's `failed_at` format, `2025/04/23 17:01:02 UTC`.
    static func resqueTime(_ t: Timestamp) -> String {
        let iso = t.iso8601  // 2025-04-23T17:01:02Z
        return String(iso.prefix(10).map { $0 == "-" ? "/" : $0 }) + " " + iso.dropFirst(11).prefix(8) + " UTC"
    }

    @discardableResult
    private func checked(_ replies: [RESPValue]) throws -> [RESPValue] {
        for reply in replies {
            if case .error(let message) = reply { throw RedisError.server(message) }
            for inner in reply.array ?? [] { if case .error(let message) = inner { throw RedisError.server(message) } }
        }
        return replies
    }
}
