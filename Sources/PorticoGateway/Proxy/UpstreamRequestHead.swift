import NIOCore

/// The head of a proxied request as the bytes that go to the upstream (RFC 9112): request line, `Host`, the
/// forwarded and added header fields, and the body's framing. Written once per request, so the retries of a
/// request send the same bytes.
///
/// Values here come from the client (already parsed as HTTP), the configuration and policies that render request
/// data into headers (`headers`, liquid templates), so every name and value is checked before it reaches the wire:
/// a CR or LF would end the field early and let the rest pose as another field or request.
enum UpstreamRequestHead {
    enum Framing {
        case none
        case length(Int64)
        case chunked
    }

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// `added` fields replace the forwarded ones of the same name (ASCII case-insensitive), and a later added field
    /// replaces an earlier one.
    static func make(method: String, target: String, host: String, proxyAuthorization: String?, forwarded: [(String, String)],
                     added: [(String, String)], framing: Framing) throws(Invalid) -> ByteBuffer {
        var buffer = ByteBuffer()
        try make(method: method, target: target, host: host, proxyAuthorization: proxyAuthorization, forwarded: forwarded, added: added,
                 framing: framing, into: &buffer)
        return buffer
    }

    /// `make`, written at the end of `buffer` (a connection reuses the buffer of its last head).
    static func make(method: String, target: String, host: String, proxyAuthorization: String?, forwarded: [(String, String)],
                     added: [(String, String)], framing: Framing, into buffer: inout ByteBuffer) throws(Invalid) {
        guard !target.utf8.isEmpty, target.utf8.allSatisfy({ $0 > 32 && $0 != 127 }) else {
            throw Invalid(description: "the request target for the upstream holds a space or control character: rewrite rules must percent-encode")
        }
        buffer.reserveCapacity(minimumWritableBytes: target.utf8.count + 64 + forwarded.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 })
        buffer.writeString(method)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(target)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        try write("Host", host, to: &buffer)
        if let proxyAuthorization { try write("Proxy-Authorization", proxyAuthorization, to: &buffer) }
        for (name, value) in forwarded where !added.contains(where: { HTTP1Syntax.sameFieldName($0.0, name) }) {
            try write(name, value, to: &buffer)
        }
        for (index, (name, value)) in added.enumerated() where !added[(index + 1)...].contains(where: { HTTP1Syntax.sameFieldName($0.0, name) }) {
            try write(name, value, to: &buffer)
        }
        switch framing {
        case .none: break
        case .length(let length):
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(length))
            buffer.writeStaticString("\r\n")
        case .chunked:
            buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    private static func write(_ name: String, _ value: String, to buffer: inout ByteBuffer) throws(Invalid) {
        guard HTTP1Syntax.isValidFieldName(name) else { throw Invalid(description: "the header name \"\(name)\" for the upstream is not a token") }
        guard HTTP1Syntax.isValidFieldValue(value) else {
            throw Invalid(description: "the value of the header \(name) for the upstream holds a CR, LF or NUL")
        }
        buffer.writeString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }
}
