import AsyncHTTPClient
import NIOCore
import PorticoCore
import PorticoMetering

/// Porta's events hook over HTTP: `POST <CONFIG_EVENTS_HOOK>` with the form `secret=<shared secret>`, as
/// apisonator sends it. Any 2xx answer is a delivered ping.
struct HTTPEventsHook: EventsHook {
    let url: String
    let secret: String
    static let timeout: TimeAmount = .seconds(10)

    func ping() async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "secret=" + HTTPMeteringSync.segment(secret)))
        let response = try await HTTPClient.shared.execute(request, timeout: Self.timeout)
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw EventsHookError(description: "the events hook answered \(response.status.code); check CONFIG_EVENTS_HOOK and its shared secret")
        }
    }
}

struct EventsHookError: Error, CustomStringConvertible {
    let description: String
}
