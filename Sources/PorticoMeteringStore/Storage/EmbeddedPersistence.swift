#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PorticoRedis

/// Keeps the embedded store on disk under `<data-dir>/metering/`: `snapshot.resp` (the whole state) and
/// `log.resp` (writes since the snapshot). `flush()` appends pending writes and fsyncs; the metering role calls
/// it every second, so a crash loses at most the last second of counts. `compact()` writes a new snapshot and
/// empties the log; it runs at start, at a clean stop (so a clean stop loses nothing) and when the log grows
/// past `compactionThreshold`.
public final class EmbeddedPersistence: Sendable {
    public let directory: String
    let storage: EmbeddedMeteringStorage
    let compactionThreshold: Int

    var snapshotPath: String { directory + "/snapshot.resp" }
    var logPath: String { directory + "/log.resp" }

    public init(directory: String, storage: EmbeddedMeteringStorage, compactionThreshold: Int = 64 * 1024 * 1024) {
        self.directory = directory
        self.storage = storage
        self.compactionThreshold = compactionThreshold
    }

    public struct RecoveryReport: Sendable {
        public var records: Int
        /// Bytes at the end of the log that did not form a whole record: a write cut off by a crash.
        public var discardedTailBytes: Int
    }

    /// Loads the snapshot and replays the log, then compacts. Throws when a file is unreadable or corrupt in
    /// its middle (a torn last record is expected after a crash and is dropped).
    public func recover() throws(MeteringStorageError) -> RecoveryReport {
        try Self.makeDirectory(directory)
        return try Self.withFileLock(directory) { () throws(MeteringStorageError) -> RecoveryReport in
            let report = try Self.replayFiles(directory, into: storage)
            try compactLocked()
            return report
        }
    }

    /// Reads the store a running `serve` keeps in `directory` into `storage` without changing any file: the
    /// state as of its last flush (at most a second old). Holding the directory's lock while reading both files
    /// means a concurrent compaction can never make us read a snapshot together with a log it already contains.
    public static func load(directory: String, into storage: EmbeddedMeteringStorage) throws(MeteringStorageError) -> RecoveryReport {
        var info = stat()
        guard stat(directory, &info) == 0 else { return RecoveryReport(records: 0, discardedTailBytes: 0) }
        return try withFileLock(directory) { () throws(MeteringStorageError) -> RecoveryReport in try replayFiles(directory, into: storage) }
    }

    static func replayFiles(_ directory: String, into storage: EmbeddedMeteringStorage) throws(MeteringStorageError) -> RecoveryReport {
        var report = RecoveryReport(records: 0, discardedTailBytes: 0)
        for path in [directory + "/snapshot.resp", directory + "/log.resp"] {
            guard let bytes = try Self.read(path) else { continue }
            var decoder = RESPDecoder()
            decoder.feed(bytes)
            while true {
                let value: RESPValue?
                do { value = try decoder.next() } catch {
                    throw MeteringStorageError("\(path) is corrupt (\(error)); move it aside to start without it")
                }
                guard let value else { break }
                guard let parts = value.array?.compactMap(\.string), parts.count == value.array?.count else {
                    throw MeteringStorageError("\(path) holds a record that is not an array of strings")
                }
                do { try storage.replay(parts) } catch { throw MeteringStorageError("\(path): \(error.description)") }
                report.records += 1
            }
            report.discardedTailBytes += decoder.bufferedByteCount
        }
        return report
    }

    /// Appends the writes made since the last flush to the log and syncs it to disk.
    public func flush() throws(MeteringStorageError) {
        let pending = storage.takePendingLog()
        guard !pending.isEmpty else { return }
        try Self.withFileLock(directory) { () throws(MeteringStorageError) in
            do throws(MeteringStorageError) {
                try Self.append(pending, to: logPath)
            } catch {
                // Keep the records for the next attempt: a full disk must not silently drop counts.
                storage.restorePendingLog(pending)
                throw error
            }
            if Self.size(logPath) > compactionThreshold { try compactLocked() }
        }
    }

    /// Replaces snapshot and log by a fresh snapshot of the current state.
    public func compact() throws(MeteringStorageError) {
        try Self.makeDirectory(directory)
        try Self.withFileLock(directory) { () throws(MeteringStorageError) in try compactLocked() }
    }

    private func compactLocked() throws(MeteringStorageError) {
        storage.removeExpired()
        let bytes = storage.snapshot()
        let temporary = snapshotPath + ".tmp"
        try Self.write(bytes, to: temporary)
        guard rename(temporary, snapshotPath) == 0 else { throw Self.failure("rename \(temporary)") }
        try Self.write([], to: logPath)
        try Self.syncDirectory(directory)
    }

    /// Runs `body` holding an exclusive `flock` on `<directory>/lock`, which orders this process's flushes and
    /// compactions with readers in other processes (`portico backup`).
    static func withFileLock<T>(_ directory: String, _ body: () throws(MeteringStorageError) -> T) throws(MeteringStorageError) -> T {
        let path = directory + "/lock"
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw failure("open \(path)") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw failure("flock \(path)") }
        }
        return try body()
    }

    // MARK: file helpers

    static func failure(_ what: String) -> MeteringStorageError {
        MeteringStorageError("\(what) failed: \(String(cString: strerror(errno))) (check free space and permissions)")
    }

    static func makeDirectory(_ path: String) throws(MeteringStorageError) {
        if mkdir(path, 0o700) != 0, errno != EEXIST { throw failure("mkdir \(path)") }
    }

    static func read(_ path: String) throws(MeteringStorageError) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw failure("open \(path)")
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read \(path)")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    static func write(_ bytes: [UInt8], to path: String) throws(MeteringStorageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw failure("open \(path)") }
        defer { close(fd) }
        try writeAll(fd, bytes, path)
        guard fsync(fd) == 0 else { throw failure("fsync \(path)") }
    }

    static func append(_ bytes: [UInt8], to path: String) throws(MeteringStorageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw failure("open \(path)") }
        defer { close(fd) }
        let originalSize = lseek(fd, 0, SEEK_END)
        do throws(MeteringStorageError) {
            try writeAll(fd, bytes, path)
            guard fdatasync(fd) == 0 else { throw failure("fsync \(path)") }
        } catch {
            // A half-written record would make the rest of the log unreadable: cut it off again.
            _ = ftruncate(fd, originalSize)
            throw error
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(MeteringStorageError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write \(path)")
            }
            offset += n
        }
    }

    static func syncDirectory(_ path: String) throws(MeteringStorageError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure("open \(path)") }
        defer { close(fd) }
        _ = fsync(fd)
    }
}
