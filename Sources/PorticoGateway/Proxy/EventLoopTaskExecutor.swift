import NIOCore
import Synchronization

/// Runs Swift concurrency jobs on a NIO event loop, so the `async` steps of a request served on that loop
/// stay on the connection's thread instead of hopping to the global pool and back for every request.
/// (The metering listener in `PorticoServer` uses it too.)
public final class EventLoopTaskExecutor: TaskExecutor {
    public let loop: any EventLoop

    public init(loop: any EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// One executor per event loop, made on first use.
public final class EventLoopTaskExecutors: Sendable {
    private let made = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    public init() {}

    public func executor(for loop: any EventLoop) -> EventLoopTaskExecutor {
        made.withLock { all in
            if let existing = all[ObjectIdentifier(loop)] { return existing }
            let executor = EventLoopTaskExecutor(loop: loop)
            all[ObjectIdentifier(loop)] = executor
            return executor
        }
    }
}
