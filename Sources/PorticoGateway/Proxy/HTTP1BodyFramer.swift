import NIOCore

/// Something that is not HTTP/1.x where a message was expected: the connection is dropped, never guessed at.
public struct HTTP1Malformed: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The body of one HTTP/1.1 message as it is read (RFC 9112 §6–7): a given length, chunks (extensions ignored,
/// trailers skipped), or everything up to the end of the connection. Hands out slices of the bytes read, never
/// copies; the request and response readers share it.
struct HTTP1BodyFramer {
    enum Framing {
        case length(Int64)
        case chunked
        case untilClose
    }

    enum Step {
        case bytes(ByteBuffer)
        case end
        case needMore
    }

    private enum State {
        /// Body bytes still to come.
        case length(Int64)
        case chunkSize
        case chunkData(Int64)
        /// The CRLF that ends a chunk's data.
        case chunkEnd
        case trailers
        case untilClose
    }

    private var state: State
    /// Trailer lines longer than this are refused.
    static let lineLimit = 64 * 1024

    init(_ framing: Framing) {
        switch framing {
        case .length(let length): state = .length(length)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    var runsToClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// The next piece of the body from `buffer`, its end, or `needMore` until more bytes arrive.
    mutating func step(_ buffer: inout ByteBuffer) throws(HTTP1Malformed) -> Step {
        while true {
            switch state {
            case .length(let remaining):
                if remaining == 0 { return .end }
                guard let slice = Self.take(remaining, from: &buffer) else { return .needMore }
                state = .length(remaining - Int64(slice.readableBytes))
                return .bytes(slice)
            case .chunkSize:
                guard let line = try Self.readLine(&buffer, limit: 1024) else { return .needMore }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(size)
            case .chunkData(let remaining):
                guard let slice = Self.take(remaining, from: &buffer) else { return .needMore }
                let left = remaining - Int64(slice.readableBytes)
                state = left == 0 ? .chunkEnd : .chunkData(left)
                return .bytes(slice)
            case .chunkEnd:
                guard let line = try Self.readLine(&buffer, limit: 2) else { return .needMore }
                guard line.isEmpty else { throw HTTP1Malformed("a chunk is longer than its size says") }
                state = .chunkSize
            case .trailers:
                guard let line = try Self.readLine(&buffer, limit: Self.lineLimit) else { return .needMore }
                if line.isEmpty {
                    state = .length(0)
                    return .end
                }
            case .untilClose:
                guard let slice = Self.take(Int64.max, from: &buffer) else { return .needMore }
                return .bytes(slice)
            }
        }
    }

    /// Up to `count` bytes that have arrived (a slice of the bytes read, not a copy), or nil when none have.
    private static func take(_ count: Int64, from buffer: inout ByteBuffer) -> ByteBuffer? {
        let length = Int(min(Int64(buffer.readableBytes), count))
        guard length > 0 else { return nil }
        return buffer.readSlice(length: length)
    }

    /// One line (without its CRLF or LF), or nil until it has arrived.
    private static func readLine(_ buffer: inout ByteBuffer, limit: Int) throws(HTTP1Malformed) -> ByteBufferView.SubSequence? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 10) else {
            if view.count > limit { throw HTTP1Malformed("a line of the body framing is too long") }
            return nil
        }
        buffer.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
        var line = view[view.startIndex..<lf]
        if line.last == 13 { line = line.dropLast() }
        return line
    }

    /// A chunk-size line: hexadecimal digits, then optional extensions after `;`.
    static func chunkSize(_ line: ByteBufferView.SubSequence) throws(HTTP1Malformed) -> Int64 {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }
        let hex = HTTP1Syntax.trimmed(digits[...])
        guard !hex.isEmpty, hex.count <= 15 else { throw HTTP1Malformed("a chunk size is missing or too large") }
        var size: Int64 = 0
        for byte in hex {
            let digit: Int64
            switch byte {
            case 48...57: digit = Int64(byte - 48)
            case 65...70: digit = Int64(byte - 55)
            case 97...102: digit = Int64(byte - 87)
            default: throw HTTP1Malformed("a chunk size is not hexadecimal")
            }
            size = size * 16 + digit
        }
        return size
    }
}
