import NIOCore
import NIOEmbedded
import Testing

@testable import PalisadeCore

/// Counters with a window and ban records in the embedded store, driven with an injected clock.
@Suite("Memory store counters and bans")
struct MemoryStoreBanTests {
    let loop = EmbeddedEventLoop()
    static let alice = IPAddressBytes(parsing: "192.0.2.1")!
    static let terms = BanTerms(first: 60, longest: 600, memory: 3600)

    func count(
        _ store: MemoryStore, _ key: String, by amount: Int64 = 1, window: Int64 = 60, now: Int64,
        client: IPAddressBytes? = alice
    ) throws -> CounterOutcome {
        try store.increment(key, by: amount, window: window, client: client, now: now, on: loop).wait()
    }

    func ban(_ store: MemoryStore, _ key: String, reason: String = "signature_invalid", terms: BanTerms = terms, now: Int64) throws
        -> BanOutcome
    {
        try store.ban(key, reason: reason, terms: terms, now: now, on: loop).wait()
    }

    func activeBan(_ store: MemoryStore, _ key: String, now: Int64) throws -> BanRecord? {
        try store.activeBan(key, now: now, on: loop).wait()
    }

    @Test("a counter adds within its window, which opens at the first increment; then it starts over")
    func counterWindow() throws {
        let store = MemoryStore()
        #expect(try count(store, "strikes:a", now: 1000) == .counted(1, windowEnds: 1060))
        #expect(try count(store, "strikes:a", by: 3, now: 1030) == .counted(4, windowEnds: 1060))
        #expect(try count(store, "strikes:a", now: 1059) == .counted(5, windowEnds: 1060))
        #expect(try count(store, "strikes:b", now: 1059) == .counted(1, windowEnds: 1119))
        // At the window's end the key has expired: the next strike opens a new window.
        #expect(try count(store, "strikes:a", by: 2, now: 1060) == .counted(2, windowEnds: 1120))
        #expect(store.count == 2)
        #expect(store.bytes == 2 * EntrySize.counter(key: "strikes:a"))
    }

    @Test("a new counter takes a client slot and budget; a full store refuses it, an existing one still counts")
    func counterBudget() throws {
        var limits = StoreLimitsSpec()
        limits.maxBytes = ByteCount(bytes: 3 * EntrySize.counter(key: "c:0"))
        limits.maxEntriesPerClient = 2
        let store = MemoryStore(limits: limits)
        #expect(try count(store, "c:0", now: 1000) == .counted(1, windowEnds: 1060))
        #expect(try count(store, "c:1", now: 1000) == .counted(1, windowEnds: 1060))
        #expect(try count(store, "c:2", now: 1000) == .refused(.clientLimit))
        #expect(try count(store, "c:0", now: 1001) == .counted(2, windowEnds: 1060))
        let bob = IPAddressBytes(parsing: "192.0.2.2")!
        #expect(try count(store, "c:3", now: 1000, client: bob) == .counted(1, windowEnds: 1060))
        #expect(try count(store, "c:4", now: 1000, client: nil) == .refused(.full))
        // Once alice's windows have ended they are evicted to make room.
        #expect(try count(store, "c:4", window: 100, now: 1060, client: nil) == .counted(1, windowEnds: 1160))
        #expect(store.entries(of: Self.alice) == 0)
    }

    static let escalations: [(offence: Int, seconds: Int64)] = [
        (1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (6, 600), (70, 600), (Int.max, 600),
    ]

    @Test("a ban doubles per offence up to its longest", arguments: escalations)
    func escalation(offence: Int, seconds: Int64) {
        #expect(Self.terms.duration(forOffence: offence) == seconds)
    }

    @Test("terms that would overflow a shift give the longest ban, never a short or negative one")
    func escalationNeverOverflows() {
        let terms = BanTerms(first: Int64.max / 2, longest: Int64.max, memory: 0)
        #expect(terms.duration(forOffence: 1) == Int64.max / 2)
        #expect(terms.duration(forOffence: 3) == Int64.max)
        let oneSecond = BanTerms(first: 1, longest: Int64.max, memory: 0)
        #expect(oneSecond.duration(forOffence: 63) == Int64(1) << 62)
        #expect(oneSecond.duration(forOffence: 64) == Int64.max)
    }

    @Test("repeat offences within the memory escalate; a client good for longer starts over")
    func storeEscalates() throws {
        let store = MemoryStore()
        let key = "ban:192.0.2.1"
        #expect(try activeBan(store, key, now: 1000) == nil)
        #expect(try ban(store, key, now: 1000) == .banned(BanRecord(until: 1060, reason: "signature_invalid", offences: 1)))
        #expect(try activeBan(store, key, now: 1059) == BanRecord(until: 1060, reason: "signature_invalid", offences: 1))
        #expect(try activeBan(store, key, now: 1060) == nil)
        // Offending again after the ban but within the memory: twice as long.
        #expect(
            try ban(store, key, reason: "token_invalid", now: 2000) == .banned(BanRecord(until: 2120, reason: "token_invalid", offences: 2))
        )
        #expect(try ban(store, key, now: 3000) == .banned(BanRecord(until: 3240, reason: "signature_invalid", offences: 3)))
        // The memory runs until 3240 + 3600; past it the count starts over.
        #expect(try ban(store, key, now: 3240 + 3600) == .banned(BanRecord(until: 6900, reason: "signature_invalid", offences: 1)))
    }

    @Test("a ban already running is never shortened by a shorter one")
    func neverShortened() throws {
        let store = MemoryStore()
        let day = BanTerms(first: 86_400, longest: 86_400, memory: 0)
        #expect(
            try ban(store, "ban:k", reason: "admin", terms: day, now: 1000)
                == .banned(BanRecord(until: 87_400, reason: "admin", offences: 1)))
        #expect(try ban(store, "ban:k", now: 1010) == .banned(BanRecord(until: 87_400, reason: "signature_invalid", offences: 2)))
    }

    @Test("a lift ends the ban and forgets its offences; lifting what is not banned says so")
    func lift() throws {
        let store = MemoryStore()
        #expect(try store.liftBan("ban:k", now: 1000, on: loop).wait() == false)
        _ = try ban(store, "ban:k", now: 1000)
        _ = try ban(store, "ban:k", now: 1100)
        #expect(try store.liftBan("ban:k", now: 1150, on: loop).wait() == true)
        #expect(try activeBan(store, "ban:k", now: 1150) == nil)
        #expect(store.count == 0)
        #expect(store.bytes == 0)
        #expect(try ban(store, "ban:k", now: 1200) == .banned(BanRecord(until: 1260, reason: "signature_invalid", offences: 1)))
        // A ban that ended but is still remembered: lifting forgets it, and reports it was not running.
        #expect(try store.liftBan("ban:k", now: 1300, on: loop).wait() == false)
        #expect(store.count == 0)
    }

    @Test("the listing holds the running bans, soonest to end first, up to its limit")
    func listing() throws {
        let store = MemoryStore()
        for (index, length) in [300, 60, 600, 120].enumerated() {
            let terms = BanTerms(first: Int64(length), longest: Int64(length), memory: 1000)
            _ = try ban(store, "ban:\(index)", reason: "r\(index)", terms: terms, now: 1000)
        }
        // Other kinds of state do not show up.
        _ = try count(store, "strikes:x", now: 1000)
        let all = try store.activeBans(now: 1000, limit: 100, on: loop).wait()
        #expect(all.map(\.key) == ["ban:1", "ban:3", "ban:0", "ban:2"])
        #expect(all.first == ListedBan(key: "ban:1", record: BanRecord(until: 1060, reason: "r1", offences: 1)))
        // The 60-second ban has ended (though it is remembered): it is no longer listed.
        #expect(try store.activeBans(now: 1060, limit: 100, on: loop).wait().map(\.key) == ["ban:3", "ban:0", "ban:2"])
        #expect(try store.activeBans(now: 1000, limit: 2, on: loop).wait().map(\.key) == ["ban:1", "ban:3"])
    }

    @Test("bans are held to the byte budget, not the client cap; a full store refuses a ban until bans expire")
    func banBudget() throws {
        let size = EntrySize.ban(key: "ban:0", reason: "signature_invalid")
        var limits = StoreLimitsSpec()
        limits.maxBytes = ByteCount(bytes: 3 * size)
        limits.maxEntriesPerClient = 1
        let store = MemoryStore(limits: limits)
        let short = BanTerms(first: 10, longest: 10, memory: 5)
        for index in 0..<3 { #expect(try ban(store, "ban:\(index)", terms: short, now: 1000) != .refused(.full)) }
        #expect(try ban(store, "ban:3", terms: short, now: 1000) == .refused(.full))
        // A repeat offence of a key already held needs no new room.
        #expect(
            try ban(store, "ban:0", terms: short, now: 1000) == .banned(BanRecord(until: 1010, reason: "signature_invalid", offences: 2)))
        // Ended at 1010, remembered until 1015: only then is the room given back.
        #expect(try ban(store, "ban:3", terms: short, now: 1014) == .refused(.full))
        #expect(
            try ban(store, "ban:3", terms: short, now: 1015) == .banned(BanRecord(until: 1025, reason: "signature_invalid", offences: 1)))
        #expect(store.count == 1)
        #expect(store.statistics.refusedFull == 2)
    }
}
