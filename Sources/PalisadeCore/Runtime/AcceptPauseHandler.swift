import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pauses accepting when the process is out of descriptors (EMFILE, ENFILE) or kernel memory.
///
/// The listening socket stays readable while accept fails, so without a pause the loop retries
/// at once, forever: 100% CPU, and the loop that also serves the established connections has
/// no time left for them. NIO's `AcceptBackoffHandler` does not help here: it withholds the next
/// `read`, but after a failed accept the server channel still has a read pending and stays
/// registered for readability, so epoll keeps waking the loop (measured: 65 ticks of CPU in
/// 1.5 s with 100 connections over `ulimit -n 64`). Turning `autoRead` off does take the socket
/// out of the poll set; it is turned back on after `pause`.
final class AcceptPauseHandler: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    static let pause = TimeAmount.milliseconds(250)
    private var paused = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let ioError = error as? IOError, Self.isResourceShortage(ioError.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        guard !paused, let options = context.channel.syncOptions else { return }
        paused = true
        try? options.setOption(.autoRead, value: false)
        let bound = NIOLoopBound((self, context.channel), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.pause) {
            let (handler, channel) = bound.value
            handler.paused = false
            try? channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    static func isResourceShortage(_ code: CInt) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }
}
