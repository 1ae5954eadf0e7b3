import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import PalisadeCore

/// Reserve, commit and release: the life of a replay id or idempotency key in the embedded store.
@Suite("Memory store reservations")
struct MemoryStoreReservationTests {
    let loop = EmbeddedEventLoop()
    static let alice = IPAddressBytes(parsing: "192.0.2.1")!
    static let record = StoredRecord(
        fingerprint: [9, 9], response: StoredResponse(status: 201, headers: [("content-type", "text/plain")], body: Array("made".utf8))
    )

    enum Operation {
        case reserve(fingerprint: [UInt8], lease: Int64, expect: ReservationOutcome)
        case commit(ttl: Int64)
        case release
    }

    func run(_ store: MemoryStore, _ steps: [(now: Int64, operation: Operation)], key: String = "k") throws {
        for (index, step) in steps.enumerated() {
            switch step.operation {
            case .reserve(let fingerprint, let lease, let expected):
                let outcome = try store.reserve(
                    key, fingerprint: fingerprint, client: Self.alice, answerBytes: 0, lease: lease, now: step.now, on: loop
                ).wait()
                #expect(outcome == expected, "step \(index) at \(step.now)")
            case .commit(let ttl):
                try store.commit(key, record: Self.record, client: Self.alice, ttl: ttl, now: step.now, on: loop).wait()
            case .release:
                try store.release(key, on: loop).wait()
            }
        }
    }

    @Test("a held key answers in flight with its fingerprint until its lease ends")
    func leaseRunsOut() throws {
        try run(
            MemoryStore(),
            [
                (1000, .reserve(fingerprint: [1], lease: 30, expect: .reserved)),
                (1001, .reserve(fingerprint: [2], lease: 30, expect: .inFlight(fingerprint: [1]))),
                (1029, .reserve(fingerprint: [1], lease: 30, expect: .inFlight(fingerprint: [1]))),
                // The first request never finished: after its lease the key is free again.
                (1030, .reserve(fingerprint: [2], lease: 30, expect: .reserved)),
                (1031, .reserve(fingerprint: [1], lease: 30, expect: .inFlight(fingerprint: [2]))),
            ])
    }

    @Test("a committed key answers its record for its TTL, then is free")
    func commitThenExpire() throws {
        try run(
            MemoryStore(),
            [
                (1000, .reserve(fingerprint: [1], lease: 30, expect: .reserved)),
                (1005, .commit(ttl: 100)),
                (1006, .reserve(fingerprint: [1], lease: 30, expect: .committed(Self.record))),
                // A release only frees a key still held, never a committed one.
                (1007, .release),
                (1104, .reserve(fingerprint: [3], lease: 30, expect: .committed(Self.record))),
                (1105, .reserve(fingerprint: [3], lease: 30, expect: .reserved)),
            ])
    }

    @Test("a release frees a held key at once, so an honest retry goes through")
    func releaseFrees() throws {
        try run(
            MemoryStore(),
            [
                (1000, .reserve(fingerprint: [1], lease: 30, expect: .reserved)),
                (1001, .release),
                (1001, .reserve(fingerprint: [1], lease: 30, expect: .reserved)),
            ])
    }

    @Test("a commit whose lease ran out and was swept holds the key anew")
    func commitAfterLease() throws {
        let store = MemoryStore()
        try run(
            store,
            [
                (1000, .reserve(fingerprint: [1], lease: 5, expect: .reserved))
            ])
        // A key of the same size finds no room until the expired lease is swept away.
        var limits = StoreLimitsSpec()
        limits.maxBytes = ByteCount(bytes: store.bytes)
        store.apply(limits)
        try run(store, [(1010, .reserve(fingerprint: [1], lease: 5, expect: .reserved))], key: "o")
        #expect(store.count == 1)
        store.apply(StoreLimitsSpec())
        try run(
            store,
            [
                (1011, .commit(ttl: 100)),
                (1012, .reserve(fingerprint: [1], lease: 30, expect: .committed(Self.record))),
            ])
    }

    @Test("many threads reserving one key at once: exactly one holds it")
    func oneWinner() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let store = MemoryStore()
        let winners = NIOLockedValueBox(0)
        let others = NIOLockedValueBox(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<200 {
                let outcome = try? store.reserve(
                    "key-\(round)", fingerprint: [UInt8(worker)], client: nil, answerBytes: 0, lease: 60, now: 1000, on: group.any()
                ).wait()
                if outcome == .reserved {
                    winners.withLockedValue { $0 += 1 }
                } else if case .inFlight = outcome {
                    others.withLockedValue { $0 += 1 }
                }
            }
        }
        #expect(winners.withLockedValue { $0 } == 200)
        #expect(others.withLockedValue { $0 } == 7 * 200)
    }
}
