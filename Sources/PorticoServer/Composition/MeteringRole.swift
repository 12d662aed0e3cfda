import Foundation
import Hummingbird
import Logging
import NIOCore
import PorticoAdmin
import PorticoCore
import PorticoMetering
import PorticoMeteringStore
import ServiceLifecycle

/// The metering role on the embedded store: storage recovered from `<data-dir>/metering`, the configuration
/// layer, the in-process report worker and the Service Management API.
final class EmbeddedMetering: Sendable {
    let storage: EmbeddedMeteringStorage
    let persistence: EmbeddedPersistence
    let configuration: MeteringConfiguration
    let reports: InProcessReportQueue
    let api: ServiceManagementAPI

    static func milliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    init(configuration c: PorticoConfiguration, logger: Logger) throws {
        storage = EmbeddedMeteringStorage(clockMilliseconds: { EmbeddedMetering.milliseconds() })
        try DataDirectory.prepare(c.dataDirectory)
        persistence = EmbeddedPersistence(directory: c.dataDirectory + "/metering", storage: storage)
        let report = try persistence.recover()
        logger.info("metering.recovered", metadata: [
            "records": .stringConvertible(report.records), "discarded_tail_bytes": .stringConvertible(report.discardedTailBytes),
        ])
        configuration = MeteringConfiguration(storage: storage, cacheTTLMilliseconds: nil, clockMilliseconds: { EmbeddedMetering.milliseconds() })
        let clock: @Sendable () -> Timestamp = { PlatformServer.now() }
        reports = InProcessReportQueue(processor: ReportProcessor(configuration: configuration, clock: clock), logger: Logger(label: "portico.metering.worker"))
        api = ServiceManagementAPI(configuration: configuration, reports: reports, internalCredentials: c.internalAPICredentials, clock: clock,
                                   logger: Logger(label: "portico.metering"))
    }
}

/// Serves the Service Management API and the internal API on the metering port; flushes the embedded store
/// every second and, on a clean stop, applies queued reports and writes a final snapshot.
struct MeteringRoleService: Service {
    let configuration: PorticoConfiguration
    let metering: EmbeddedMetering
    let readiness: ReadinessState
    let logger: Logger

    func run() async throws {
        let persistence = metering.persistence
        let logger = self.logger
        let flusher = Task {
            var failing = false
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                do {
                    try persistence.flush()
                    if failing { logger.info("metering.persistence_recovered") }
                    failing = false
                } catch {
                    // Counts stay in memory and are retried every second; say so once per outage.
                    if !failing { logger.error("metering.persistence_failed", metadata: ["error": .string("\(error)")]) }
                    failing = true
                }
            }
        }
        let worker = Task { await metering.reports.run() }
        let readiness = self.readiness
        let app = Application(
            responder: MeteringHTTPResponder(api: metering.api),
            configuration: .init(address: .hostname(configuration.bindAddress, port: configuration.meteringPort), serverName: nil),
            onServerRunning: { _ in readiness.markServing("metering") },
            logger: Logger(label: "portico.metering.http"))
        defer { readiness.markStopped("metering") }
        do {
            try await app.run()
        } catch {
            await stop(worker: worker, flusher: flusher)
            throw error
        }
        await stop(worker: worker, flusher: flusher)
    }

    private func stop(worker: Task<Void, Never>, flusher: Task<Void, Never>) async {
        metering.reports.finish()
        await worker.value
        flusher.cancel()
        do {
            try metering.persistence.flush()
            try metering.persistence.compact()
        } catch {
            logger.error("metering.final_snapshot_failed", metadata: ["error": .string(error.description)])
        }
    }
}

/// Serves `ServiceManagementAPI` over Hummingbird, with the raw path so percent-encoded ids stay intact.
struct MeteringHTTPResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let api: ServiceManagementAPI
    /// The report endpoint accepts 4 MiB of form data, like Rack; a little more is read so the limit error is precise.
    static let maximumBodyBytes = RackParameters.maximumBytes + 1

    func respond(to request: Request, context: Context) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBodyBytes)
        } catch {
            return Response(status: .badRequest, headers: [.contentType: ServiceManagementXML.contentType],
                            body: .init(byteBuffer: ByteBuffer(string: ServiceManagementXML.error(code: "bad_request", message: "total query size exceeds limit"))))
        }
        let target = request.head.path ?? "/"
        var meteringRequest = MeteringRequest(method: request.method.rawValue, target: target, contentType: request.headers[.contentType],
                                              body: Array(buffer: body), options: request.headers[HTTPFields.Element.Name("3scale-options")!])
        meteringRequest.authorization = request.headers[.authorization]
        meteringRequest.userAgent = request.headers[.userAgent]
        let reply = await api.handle(meteringRequest)
        var headers = HTTPFields()
        for (name, value) in reply.headers {
            if let field = HTTPFields.Element.Name(name) { headers.append(HTTPFields.Element(name: field, value: value)) }
        }
        return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
    }
}

/// `MeteringSync` in process: admin's changes are written to metering's configuration directly.
struct InProcessMeteringSync: MeteringSync {
    let configuration: MeteringConfiguration

    func saveService(_ s: MeteringSyncService) async throws {
        try await configuration.saveService(MeteredService(id: s.id, providerKey: s.providerKey, backendVersion: s.backendVersion,
                                                           referrerFiltersRequired: s.referrerFiltersRequired, state: s.active ? "active" : "suspended"),
                                            makeDefault: nil)
    }
    func deleteService(id: String) async throws { _ = try await configuration.deleteService(id: id, reassignDefault: true) }
    func changeProviderKey(from old: String, to new: String) async throws { _ = try await configuration.changeProviderKey(from: old, to: new) }
    func saveServiceToken(_ token: String, serviceID: String) async throws { try await configuration.saveServiceToken(token, serviceID: serviceID) }
    func deleteServiceToken(_ token: String, serviceID: String) async throws { _ = try await configuration.deleteServiceToken(token, serviceID: serviceID) }
    func saveApplication(_ a: MeteringSyncApplication) async throws {
        try await configuration.saveApplication(MeteredApplication(serviceID: a.serviceID, id: a.id, state: a.state, planID: a.planID,
                                                                   planName: a.planName, redirectURL: a.redirectURL))
    }
    func deleteApplication(serviceID: String, id: String) async throws { _ = try await configuration.deleteApplication(serviceID: serviceID, id: id) }
    func setUserKey(serviceID: String, userKey: String, applicationID: String) async throws {
        try await configuration.setUserKey(serviceID: serviceID, userKey: userKey, applicationID: applicationID)
    }
    func deleteUserKey(serviceID: String, userKey: String) async throws { try await configuration.deleteUserKey(serviceID: serviceID, userKey: userKey) }
    func replaceApplicationKeys(serviceID: String, applicationID: String, keys: [String]) async throws {
        try await configuration.replaceApplicationKeys(serviceID: serviceID, applicationID: applicationID, keys)
    }
    func replaceReferrerFilters(serviceID: String, applicationID: String, filters: [String]) async throws {
        try await configuration.replaceReferrerFilters(serviceID: serviceID, applicationID: applicationID, filters)
    }
    func saveMetric(serviceID: String, id: String, name: String, parentID: String?) async throws {
        try await configuration.saveMetric(serviceID: serviceID, MeteredMetric(id: id, name: name, parentID: parentID))
    }
    func deleteMetric(serviceID: String, id: String) async throws { _ = try await configuration.deleteMetric(serviceID: serviceID, id: id) }
    func saveUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod, value: Int64) async throws {
        try await configuration.saveUsageLimit(serviceID: serviceID, planID: planID, metricID: metricID, period: period, value: value)
    }
    func deleteUsageLimit(serviceID: String, planID: String, metricID: String, period: LimitPeriod) async throws {
        try await configuration.deleteUsageLimit(serviceID: serviceID, planID: planID, metricID: metricID, period: period)
    }
}
