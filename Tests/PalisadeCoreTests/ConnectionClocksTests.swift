import NIOCore
import Testing

@testable import PalisadeCore

/// The timeout rules of a client connection, decided from its clocks alone.
@Suite("Connection timeouts")
struct ConnectionClocksTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    static func at(_ ms: Int64) -> NIODeadline { start + .milliseconds(ms) }

    static func verdict(
        _ clocks: ConnectionClocks, at ms: Int64, _ phase: ConnectionClocks.Phase, responseDeadline: NIODeadline? = nil
    ) -> ConnectionClocks.Verdict {
        clocks.verdict(
            now: at(ms), phase: phase, responseDeadline: responseDeadline,
            headerReadTimeout: .milliseconds(1000), idleTimeout: .milliseconds(5000)
        )
    }

    @Test("idle: quiet until idle_timeout, then closed; a started head is held to header_read_timeout instead")
    func idle() {
        var clocks = ConnectionClocks(now: Self.start)
        #expect(Self.verdict(clocks, at: 4999, .idle) == .none)
        #expect(Self.verdict(clocks, at: 5001, .idle) == .closeIdle)
        clocks.headStartedAt = Self.at(4000)
        #expect(Self.verdict(clocks, at: 4999, .idle) == .none)
        #expect(Self.verdict(clocks, at: 5001, .idle) == .headerReadTimeout)
        // A slow head is cut at header_read_timeout even though the connection is not idle long.
        #expect(Self.verdict(clocks, at: 5500, .idle) == .headerReadTimeout)
    }

    @Test("forwarding: the app's deadline first, then a stall of both sides for idle_timeout")
    func forwarding() {
        var clocks = ConnectionClocks(now: Self.start)
        clocks.lastActivity = Self.at(1000)
        #expect(Self.verdict(clocks, at: 2000, .forwarding, responseDeadline: Self.at(3000)) == .none)
        #expect(Self.verdict(clocks, at: 3000, .forwarding, responseDeadline: Self.at(3000)) == .responseOverdue)
        #expect(Self.verdict(clocks, at: 5999, .forwarding) == .none)
        #expect(Self.verdict(clocks, at: 6001, .forwarding) == .exchangeStalled)
        // Bytes moving keep a long answer alive however long it takes in all.
        clocks.lastActivity = Self.at(9000)
        #expect(Self.verdict(clocks, at: 13_000, .forwarding) == .none)
    }

    @Test("waiting for a body, a guard or a connection: closed after idle_timeout without a byte; settled: never")
    func waitingAndSettled() {
        let clocks = ConnectionClocks(now: Self.start)
        #expect(Self.verdict(clocks, at: 4999, .waiting) == .none)
        #expect(Self.verdict(clocks, at: 5001, .waiting) == .closeIdle)
        #expect(Self.verdict(clocks, at: 60_000, .settled) == .none)
    }
}
