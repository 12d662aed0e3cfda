import NIOCore
import NIOHTTP1

/// HTTP/1.x responses written as bytes (status line, header fields, framing), for handlers that write `ByteBuffer`s
/// rather than NIO's response parts: one pipeline write and no header dictionary per reply. The gateway's HTTP/1
/// connections and the metering port use it.
public enum HTTPResponseBytes {
    /// A whole reply with its body in one buffer; `body` nil sends the head only (a HEAD request) with
    /// `Content-Length: contentLength`. Fields that could not go on the wire are left out.
    public static func write(status: Int, version: HTTPVersion, headers: [(String, String)], body: [UInt8]?, contentLength: Int,
                             keepAlive: Bool, into buffer: inout ByteBuffer) {
        writeStatusLine(status: status, version: version, into: &buffer)
        for (name, value) in headers { writeField(name, value, into: &buffer) }
        buffer.writeStaticString("Content-Length: ")
        writeDecimal(contentLength, into: &buffer)
        buffer.writeStaticString("\r\n")
        writeConnection(keepAlive: keepAlive, version: version, into: &buffer)
        buffer.writeStaticString("\r\n")
        if let body { buffer.writeBytes(body) }
    }

    public static func writeStatusLine(status: Int, version: HTTPVersion, into buffer: inout ByteBuffer) {
        if status == 200, version == .http1_1 {
            buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
            return
        }
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

    /// Writes `name: value` unless the name is not a token or the value holds a CR, LF or NUL (which would split the
    /// field or end the head early); whether it was written.
    @discardableResult
    public static func writeField(_ name: String, _ value: String, into buffer: inout ByteBuffer) -> Bool {
        guard HTTP1Syntax.isValidFieldName(name), HTTP1Syntax.isValidFieldValue(value) else { return false }
        buffer.writeString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
        return true
    }

    /// `Connection: close`, or for an HTTP/1.0 client that stays, `Connection: keep-alive` (1.0 closes after each
    /// response unless the server says otherwise).
    public static func writeConnection(keepAlive: Bool, version: HTTPVersion, into buffer: inout ByteBuffer) {
        if !keepAlive {
            buffer.writeStaticString("Connection: close\r\n")
        } else if version.major == 1, version.minor == 0 {
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
    }

    /// An integer in decimal, without building a `String` for it.
    public static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
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
    public static let badRequest: StaticString = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
}
