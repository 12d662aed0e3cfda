import NIOCore

/// One timer per connection for the timeout of the exchange in progress: armed for the earliest moment that
/// exchange could time out, and re-armed by its owner from the exchange's last activity only when it fires. A
/// request on a kept-alive connection then schedules and cancels nothing (a scheduled task per request was ~4 %
/// of the gateway's proxied path). Used on the connection's event loop only.
public struct ConnectionTimer {
    private var scheduled: Scheduled<Void>?
    private var deadline: NIODeadline?

    public init() {}

    /// Makes sure `fire` runs no later than `when` (an earlier arming stays; a later one is brought forward).
    public mutating func arm(at when: NIODeadline, on loop: any EventLoop, _ fire: @escaping () -> Void) {
        if let deadline, deadline <= when { return }
        scheduled?.cancel()
        deadline = when
        scheduled = loop.assumeIsolated().scheduleTask(deadline: when, fire)
    }

    /// Call first thing when the timer fired: the owner decides whether to arm it again.
    public mutating func fired() {
        scheduled = nil
        deadline = nil
    }

    public mutating func cancel() {
        scheduled?.cancel()
        fired()
    }
}
