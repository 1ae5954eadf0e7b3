import NIOEmbedded
import Testing

@testable import PalisadeCore

/// The embedded store's byte budget and per-client cap, driven directly (the proxy-level
/// behaviour is in the integration suite's StoreBudgetTests).
@Suite("Memory store budget")
struct MemoryStoreBudgetTests {
    let loop = EmbeddedEventLoop()
    static let alice = IPAddressBytes(parsing: "192.0.2.1")!
    static let bob = IPAddressBytes(parsing: "192.0.2.2")!

    static func limits(bytes: Int, perClient: Int = 1_000_000) -> StoreLimitsSpec {
        var limits = StoreLimitsSpec()
        limits.maxBytes = ByteCount(bytes: bytes)
        limits.maxEntriesPerClient = perClient
        return limits
    }

    func reserve(
        _ store: MemoryStore, _ key: String, client: IPAddressBytes = alice, answerBytes: Int = 0, lease: Int64 = 60,
        now: Int64 = 1000
    ) throws -> ReservationOutcome {
        try store.reserve(key, fingerprint: [1, 2, 3], client: client, answerBytes: answerBytes, lease: lease, now: now, on: loop).wait()
    }

    func commit(
        _ store: MemoryStore, _ key: String, body: Int, client: IPAddressBytes = alice, ttl: Int64 = 60, now: Int64 = 1000
    ) throws {
        let response = StoredResponse(status: 200, headers: [("content-type", "text/plain")], body: Array(repeating: 0x61, count: body))
        try store.commit(
            key, record: StoredRecord(fingerprint: [1, 2, 3], response: response), client: client, ttl: ttl, now: now, on: loop
        ).wait()
    }

    @Test("each entry is charged its size: key, fingerprint, kept answer and overhead; freeing it refunds all")
    func accounting() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 1 << 20))
        #expect(try reserve(store, "k1") == .reserved)
        let held = EntrySize.held(key: "k1", fingerprint: [1, 2, 3])
        #expect(store.bytes == held)
        #expect(held > EntrySize.entryOverhead)
        try commit(store, "k1", body: 5000)
        #expect(store.bytes > 5000 + EntrySize.entryOverhead)
        #expect(
            store.bytes
                == EntrySize.committed(
                    key: "k1",
                    record: StoredRecord(
                        fingerprint: [1, 2, 3],
                        response: StoredResponse(
                            status: 200, headers: [("content-type", "text/plain")], body: Array(repeating: 0x61, count: 5000)))
                ))
        #expect(try reserve(store, "k2") == .reserved)
        #expect(store.entries(of: Self.alice) == 2)
        _ = try store.release("k2", on: loop).wait()
        #expect(store.entries(of: Self.alice) == 1)
        // A committed key is not released (only held ones are).
        _ = try store.release("k1", on: loop).wait()
        #expect(store.count == 1)
        #expect(store.statistics.entries == 1)
        #expect(store.statistics.bytes == store.bytes)
    }

    @Test("past the budget a new key is refused as full and counted; keys already held still answer")
    func refusesWhenFull() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 10_000))
        var reserved = 0
        var outcome = ReservationOutcome.reserved
        while case .reserved = outcome, reserved < 1000 {
            outcome = try reserve(store, "key-\(reserved)")
            if outcome == .reserved { reserved += 1 }
        }
        #expect(outcome == .refused(.full))
        #expect(reserved == 10_000 / EntrySize.held(key: "key-10", fingerprint: [1, 2, 3]))
        #expect(store.bytes <= 10_000)
        #expect(store.statistics.refusedFull == 1)
        #expect(store.statistics.refusedClientLimit == 0)
        // A duplicate of a held key is still recognised: refusing it 503 would hide the replay.
        #expect(try reserve(store, "key-0") == .inFlight(fingerprint: [1, 2, 3]))
        // Freeing one makes room for exactly one more.
        _ = try store.release("key-1", on: loop).wait()
        #expect(try reserve(store, "another") == .reserved)
        #expect(try reserve(store, "yet-another") == .refused(.full))
        #expect(store.statistics.refusedFull == 2)
    }

    @Test("expired entries are evicted before a reservation is refused")
    func evictsExpiredFirst() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 10_000))
        var index = 0
        while try reserve(store, "old-\(index)", lease: 5, now: 1000) == .reserved { index += 1 }
        let full = store.bytes
        #expect(try reserve(store, "new", now: 1004) == .refused(.full))
        // At 1005 every old lease has run out: they go, and the new key fits.
        #expect(try reserve(store, "new", now: 1005) == .reserved)
        #expect(store.count == 1)
        #expect(store.bytes < full)
        #expect(store.bytes == EntrySize.held(key: "new", fingerprint: [1, 2, 3]))
        #expect(store.statistics.expiredEvicted == index)
        #expect(store.entries(of: Self.alice) == 1)
    }

    @Test("a client at its cap is refused (429 reason) while others are not; an IPv6 /64 is one client")
    func perClientCap() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 1 << 20, perClient: 3))
        for i in 0..<3 { #expect(try reserve(store, "a-\(i)", client: Self.alice) == .reserved) }
        #expect(try reserve(store, "a-3", client: Self.alice) == .refused(.clientLimit))
        #expect(try reserve(store, "b-0", client: Self.bob) == .reserved)
        #expect(store.statistics.refusedClientLimit == 1)
        // A refused key took nothing: neither bytes nor a slot.
        #expect(store.count == 4)
        // Releasing one of alice's entries gives her a slot back.
        _ = try store.release("a-0", on: loop).wait()
        #expect(try reserve(store, "a-3", client: Self.alice) == .reserved)

        let v6a = IPAddressBytes(parsing: "2001:db8:1:2::1")!
        let v6b = IPAddressBytes(parsing: "2001:db8:1:2:ffff::9")!
        let v6other = IPAddressBytes(parsing: "2001:db8:1:3::1")!
        for i in 0..<3 { #expect(try reserve(store, "v6-\(i)", client: i == 1 ? v6b : v6a) == .reserved) }
        #expect(try reserve(store, "v6-3", client: v6b) == .refused(.clientLimit))
        #expect(try reserve(store, "v6-4", client: v6other) == .reserved)

        // An entry charged to no client (a signed replay id) is held to the byte budget only.
        for i in 0..<10 {
            let outcome = try store.reserve("signed-\(i)", fingerprint: [], client: nil, answerBytes: 0, lease: 60, now: 1000, on: loop)
                .wait()
            #expect(outcome == .reserved)
        }
    }

    @Test("an answer that does not fit the budget is not kept: its key is freed, so a retry is forwarded")
    func commitOverBudgetFreesKey() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 4000))
        #expect(try reserve(store, "k") == .reserved)
        try commit(store, "k", body: 10_000)
        #expect(store.count == 0)
        #expect(store.bytes == 0)
        #expect(store.entries(of: Self.alice) == 0)
        #expect(store.statistics.commitsDropped == 1)
        #expect(try reserve(store, "k") == .reserved)
        try commit(store, "k", body: 100)
        guard case .committed(let record) = try reserve(store, "k") else {
            Issue.record("a small answer is kept")
            return
        }
        #expect(record.response?.body.count == 100)
    }

    @Test("a reservation sets room aside for the answer; the commit gives back what the answer did not use")
    func answerAllowance() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 20_000))
        let allowance = EntrySize.answerAllowance(maxBodyBytes: 4096)
        #expect(try reserve(store, "k", answerBytes: allowance) == .reserved)
        #expect(store.bytes == EntrySize.held(key: "k", fingerprint: [1, 2, 3]) + allowance)
        try commit(store, "k", body: 4096)
        #expect(store.statistics.commitsDropped == 0)
        #expect(store.bytes < EntrySize.held(key: "k", fingerprint: [1, 2, 3]) + allowance)
        #expect(store.bytes > 4096)
        // Room for the allowance is what a new key needs, not the few bytes of a bare key.
        var reserved = 1
        while try reserve(store, "k-\(reserved)", answerBytes: allowance) == .reserved { reserved += 1 }
        #expect(store.bytes + EntrySize.held(key: "k-9", fingerprint: [1, 2, 3]) + allowance > 20_000)
        // Every held key can still keep a full answer.
        for index in 1..<reserved { try commit(store, "k-\(index)", body: 4096) }
        #expect(store.statistics.commitsDropped == 0)
        #expect(store.bytes <= 20_000)
    }

    @Test("a reload's new limits apply to the store that outlives it")
    func limitsFollowReload() throws {
        let store = MemoryStore(limits: Self.limits(bytes: 1 << 20, perClient: 1))
        #expect(try reserve(store, "a") == .reserved)
        #expect(try reserve(store, "b") == .refused(.clientLimit))
        store.apply(Self.limits(bytes: 1 << 20, perClient: 2))
        #expect(try reserve(store, "b") == .reserved)
        #expect(store.statistics.maxBytes == 1 << 20)
    }
}
