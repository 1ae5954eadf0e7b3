import Dispatch
import NIOCore
import NIOPosix
import Testing

@testable import PalisadeCore

/// Every kind of state on one small key space from many threads at once, under a tight budget:
/// kinds take each other's keys over, entries expire and are swept, refusals happen. Whatever
/// the interleaving, the charged bytes and per-client counts must equal what the shards hold.
@Suite("Memory store accounting")
struct MemoryStoreAccountingTests {
    /// What the shards hold, summed under their locks: total size, and live entries per client.
    static func held(_ store: MemoryStore) -> (bytes: Int, perClient: [IPAddressBytes: Int]) {
        var bytes = 0
        var perClient: [IPAddressBytes: Int] = [:]
        for box in store.shards {
            box.withLockedValue { shard in
                for entry in shard.entries.values {
                    bytes += entry.size
                    if let client = entry.client { perClient[client, default: 0] += 1 }
                }
            }
        }
        return (bytes, perClient)
    }

    @Test("charges and per-client counts match the entries held, after a flood of every kind of operation")
    func accountingHoldsUnderMixedLoad() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        var limits = StoreLimitsSpec()
        limits.maxBytes = ByteCount(bytes: 40_000)
        limits.maxEntriesPerClient = 20
        let store = MemoryStore(limits: limits)
        let clients = (0..<6).map { IPAddressBytes(ipv4: 0xC000_0200 + UInt32($0)) }
        let rule = [GCRALimit(limit: 5, periodNanoseconds: 1_000_000_000, burst: 3)!]
        let terms = BanTerms(first: 2, longest: 8, memory: 3)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let loop = group.any()
            var state = UInt64(worker + 1) &* 0x9E37_79B9_7F4A_7C15
            func next(_ bound: Int) -> Int {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int((state >> 33) % UInt64(bound))
            }
            for step in 0..<4000 {
                // Time runs forward about one second per 400 steps, so entries expire along the way.
                let now = Int64(1_000 + step / 400)
                let key = "k\(next(300))"
                let client = clients[next(clients.count)]
                switch next(6) {
                case 0:
                    _ = try? store.reserve(key, fingerprint: [1], client: client, answerBytes: next(500), lease: 2, now: now, on: loop)
                        .wait()
                case 1:
                    let answer = StoredResponse(status: 200, headers: [], body: [UInt8](repeating: 0, count: next(300)))
                    let record = StoredRecord(fingerprint: [1], response: answer)
                    _ = try? store.commit(key, record: record, client: client, ttl: 3, now: now, on: loop).wait()
                case 2:
                    _ = try? store.release(key, on: loop).wait()
                case 3:
                    _ = try? store.rateLimit(
                        key, limits: rule, cost: 1, client: client,
                        now: WallClock.Instant(nanosecondsSinceEpoch: now * 1_000_000_000 + Int64(next(1_000_000_000))), on: loop
                    ).wait()
                case 4:
                    _ = try? store.increment(key, by: 1, window: 2, client: client, now: now, on: loop).wait()
                default:
                    if next(2) == 0 {
                        _ = try? store.ban(key, reason: "r", terms: terms, now: now, on: loop).wait()
                    } else {
                        _ = try? store.liftBan(key, now: now, on: loop).wait()
                    }
                }
            }
        }
        let held = Self.held(store)
        #expect(store.bytes == held.bytes)
        #expect(store.bytes <= 40_000)
        for client in clients {
            #expect(store.entries(of: client) == held.perClient[client, default: 0])
            #expect(store.entries(of: client) <= 20)
        }
        let statistics = store.statistics
        #expect(statistics.refusedFull + statistics.refusedClientLimit > 0, "the budget was never reached: the test tests nothing")

        // Long after everything expired, a reservation that needs room sweeps all of it away.
        limits.maxBytes = ByteCount(bytes: max(store.bytes, 300))
        store.apply(limits)
        let outcome = try store.reserve("last", fingerprint: [], client: nil, answerBytes: 0, lease: 60, now: 10_000, on: group.any())
            .wait()
        #expect(outcome == .reserved)
        #expect(store.count == 1)
        #expect(store.bytes == EntrySize.held(key: "last", fingerprint: []))
        for client in clients { #expect(store.entries(of: client) == 0) }
        #expect(store.statistics.expiredEvicted > 0)
    }
}
