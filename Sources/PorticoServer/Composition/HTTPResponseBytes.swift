import NIOCore
import NIOHTTP1

/// An HTTP/1.x response written as one buffer (status line, headers, body), for listeners whose handler writes
/// bytes rather than NIO's response parts: one pipeline write and no header dictionary per reply, which
/// mattered on the metering port where each authrep's work is a few dozen microseconds.
enum HTTPResponseBytes {
    /// `body` nil sends the headers only (a HEAD request) with `Content-Length: contentLength`.
    static func write(status: Int, version: HTTPVersion, headers: [(String, String)], body: [UInt8]?, contentLength: Int,
                      keepAlive: Bool, into buffer: inout ByteBuffer) {
        if status == 200, version == .http1_1 {
            buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
        } else {
            buffer.writeStaticString("HTTP/")
            writeDecimal(version.major, into: &buffer)
            buffer.writeStaticString(".")
            writeDecimal(version.minor, into: &buffer)
            buffer.writeStaticString(" ")
            writeDecimal(status, into: &buffer)
            buffer.writeStaticString(" ")
            buffer.writeString(HTTPResponseStatus(statusCode: status).reasonPhrase)
            buffer.writeStaticString("\r\n")
        }
        for (name, value) in headers where isSafe(name) && isSafe(value) {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("Content-Length: ")
        writeDecimal(contentLength, into: &buffer)
        buffer.writeStaticString("\r\n")
        if !keepAlive {
            buffer.writeStaticString("Connection: close\r\n")
        } else if version.major == 1, version.minor == 0 {
            // HTTP/1.0 closes after each response unless the server says otherwise.
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
        if let body { buffer.writeBytes(body) }
    }

    /// A header line can neither be split nor ended early by its name or value.
    private static func isSafe(_ text: String) -> Bool {
        !text.utf8.contains { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
    }

    /// An integer in decimal, without building a `String` for it.
    static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
        if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt = 1
        while divisor <= magnitude / 10 { divisor *= 10 }
        var rest = magnitude
        while divisor > 0 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// What NIO's protocol error handler answers to a request that does not parse as HTTP.
    static let badRequest: StaticString = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
}
