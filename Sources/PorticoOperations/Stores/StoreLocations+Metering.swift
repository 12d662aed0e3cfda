import Foundation
import PorticoMeteringStore
import PorticoRedis

/// The metering data of an instance as operations see it: the keys of the storage database, and those of a
/// separate queues database.
struct MeteringContents: Sendable {
    var storage: [MeteringEntry]
    var queues: [MeteringEntry]
    var capturedAt: String
    var completedAt: String
}

extension StoreLocations {
    func withRedis<T: Sendable>(_ endpoint: RedisEndpoint, _ body: (RedisClient) async throws -> T) async throws -> T {
        // Long timeouts: one load of a million keys is a single transaction.
        let client = RedisClient(endpoint: endpoint, poolSize: 1, commandTimeout: .seconds(1800), clientName: "portico-operations")
        defer { client.close() }
        do {
            return try await body(client)
        } catch let error as RedisError {
            throw OperationsError("Redis at \(endpoint) failed: \(error); check that it is running and reachable")
        }
    }

    func readMetering() async throws -> MeteringContents {
        let capturedAt = ISOTime.now()
        guard let storage = redisStorage else {
            let store = EmbeddedMeteringStorage(clockMilliseconds: { ISOTime.milliseconds() })
            do {
                _ = try EmbeddedPersistence.load(directory: meteringDirectory, into: store)
            } catch {
                throw OperationsError("cannot read the embedded metering store in \(meteringDirectory): \(error)")
            }
            return MeteringContents(storage: store.entries(), queues: [], capturedAt: capturedAt, completedAt: ISOTime.now())
        }
        let storageEntries = try await withRedis(storage) { try await RedisEntries.dump($0, nowMilliseconds: ISOTime.milliseconds()) }
        var queueEntries: [MeteringEntry] = []
        if let queues = separateQueues {
            queueEntries = try await withRedis(queues) { try await RedisEntries.dump($0, nowMilliseconds: ISOTime.milliseconds()) }
        }
        return MeteringContents(storage: storageEntries, queues: queueEntries, capturedAt: capturedAt, completedAt: ISOTime.now())
    }

    /// Keys in the metering stores (storage and separate queues).
    func meteringKeyCount() async throws -> Int {
        guard let storage = redisStorage else {
            return try await readMetering().storage.count
        }
        var n = try await withRedis(storage) { try await RedisEntries.keyCount($0) }
        if let queues = separateQueues { n += try await withRedis(queues) { try await RedisEntries.keyCount($0) } }
        return n
    }

    /// Connections of a running `serve` to the metering Redis databases.
    func meteringClientsInUse() async throws -> Int {
        var n = 0
        for endpoint in [redisStorage, separateQueues].compactMap({ $0 }) {
            n += try await withRedis(endpoint) { try await RedisEntries.otherClients($0, named: "portico-serve") }
        }
        return n
    }
}
