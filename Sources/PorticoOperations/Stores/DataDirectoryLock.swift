import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<data-dir>/portico.lock`, held by `serve` while it uses the embedded stores and by
/// backup-restoring operations while they write them, so neither can change files under the other. The kernel
/// releases it when the process dies, so a crashed server never leaves a stale lock behind.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Takes the lock, or explains which process holds it. `purpose` completes "stop it before …".
    public static func acquire(dataDirectory: String, purpose: String) throws(OperationsError) -> DataDirectoryLock {
        let path = dataDirectory + "/portico.lock"
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else {
            throw OperationsError("cannot open \(path): \(String(cString: strerror(errno))); check that the data directory exists and is writable")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = readHolder(fd)
            close(fd)
            throw OperationsError("the data directory \(dataDirectory) is in use by another portico process\(holder.map { " (pid \($0))" } ?? ""); stop it before \(purpose)")
        }
        // Record who holds it, for the message above.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(path: path, descriptor: fd)
    }

    public func release() {
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    static func readHolder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
