/// The container of a backup: a POSIX ustar archive, so `tar tvf` and `tar xOf backup.tar manifest.json` work
/// on any machine without Portico. Only regular files; names up to 100 bytes.
public enum TarArchive {
    public struct Member: Sendable, Equatable {
        public var name: String
        public var bytes: [UInt8]
        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }
    }

    static let blockSize = 512

    public static func write(_ members: [Member], modificationTime: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(members.reduce(1024) { $0 + blockSize + $1.bytes.count + blockSize })
        for member in members {
            out += header(name: member.name, size: member.bytes.count, modificationTime: modificationTime)
            out += member.bytes
            let padding = (blockSize - member.bytes.count % blockSize) % blockSize
            out += [UInt8](repeating: 0, count: padding)
        }
        // Two zero blocks end the archive: a reader can tell a whole archive from a truncated one.
        out += [UInt8](repeating: 0, count: 2 * blockSize)
        return out
    }

    /// Reads every member. Throws when a header is damaged, a member is cut short, or the end-of-archive marker
    /// is missing (a truncated copy).
    public static func read(_ bytes: [UInt8]) throws(OperationsError) -> [Member] {
        var members: [Member] = []
        var offset = 0
        while true {
            guard offset + blockSize <= bytes.count else {
                throw OperationsError("the archive ends in the middle (after \(members.count) member(s), \(bytes.count) bytes): it is truncated; copy it again from its source")
            }
            let header = Array(bytes[offset..<offset + blockSize])
            if header.allSatisfy({ $0 == 0 }) {
                guard offset + 2 * blockSize <= bytes.count else {
                    throw OperationsError("the archive's end marker is cut short: it is truncated; copy it again from its source")
                }
                return members
            }
            guard checksumMatches(header) else {
                throw OperationsError("the archive has a damaged header at byte \(offset): it is corrupted; use another copy")
            }
            let name = text(header[0..<100])
            guard let size = octal(header[124..<136]) else {
                throw OperationsError("the archive member \(name) has an unreadable size: the archive is corrupted")
            }
            let start = offset + blockSize
            guard start + size <= bytes.count else {
                throw OperationsError("the archive member \(name) is cut short (\(bytes.count - start) of \(size) bytes): the archive is truncated")
            }
            let typeFlag = header[156]
            if typeFlag == UInt8(ascii: "0") || typeFlag == 0 {
                members.append(Member(name: name, bytes: Array(bytes[start..<start + size])))
            }
            let next = min(start + (size + blockSize - 1) / blockSize * blockSize, bytes.count)
            // Padding is not covered by any checksum: anything but zeros there means the file was damaged.
            guard bytes[(start + size)..<next].allSatisfy({ $0 == 0 }) else {
                throw OperationsError("the archive is damaged after member \(name): it is corrupted; use another copy")
            }
            offset = next
        }
    }

    static func header(name: String, size: Int, modificationTime: Int64) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: blockSize)
        func put(_ s: String, at start: Int, width: Int) {
            for (i, b) in s.utf8.prefix(width).enumerated() { h[start + i] = b }
        }
        func putOctal(_ value: Int, at start: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: start, width: width - 1)
        }
        put(name, at: 0, width: 100)
        putOctal(0o600, at: 100, width: 8)
        putOctal(0, at: 108, width: 8)
        putOctal(0, at: 116, width: 8)
        putOctal(size, at: 124, width: 12)
        putOctal(Int(modificationTime), at: 136, width: 12)
        h[156] = UInt8(ascii: "0")
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put("portico", at: 265, width: 32)
        put("portico", at: 297, width: 32)
        // The checksum is computed with its own field as spaces.
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int($1) }
        putOctal(sum, at: 148, width: 7)
        h[155] = UInt8(ascii: " ")
        return h
    }

    static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = octal(header[148..<156]) else { return false }
        var sum = 0
        for (i, b) in header.enumerated() { sum += (148..<156).contains(i) ? Int(UInt8(ascii: " ")) : Int(b) }
        return sum == stored
    }

    static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        let digits = field.filter { $0 != 0 && $0 != UInt8(ascii: " ") }
        guard !digits.isEmpty else { return 0 }
        var value = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(d - UInt8(ascii: "0"))
        }
        return value
    }
}
