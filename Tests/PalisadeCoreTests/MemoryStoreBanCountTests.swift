import NIOCore
import NIOEmbedded
import Testing

@testable import PalisadeCore

/// The memory store's count of ban entries, which lets the abuse guard skip the ban lookup while
/// no ban exists: it must rise with every ban key and fall when one is lifted or swept, or a
/// ban would go unchecked (count too low) or the shortcut would never apply (count too high).
@Suite("Memory store ban count")
struct MemoryStoreBanCountTests {
    let loop = EmbeddedEventLoop()
    static let terms = BanTerms(first: 60, longest: 600, memory: 0)

    @Test("no bans: no lookup; a ban, a repeat, a lift and an expiry keep the count exact")
    func count() throws {
        let store = MemoryStore()
        #expect(!store.mayHoldBans)
        #expect(store.activeBanNow("ban:192.0.2.1", now: 1000) == nil)
        _ = try store.ban("ban:192.0.2.1", reason: "r", terms: Self.terms, now: 1000, on: loop).wait()
        _ = try store.ban("ban:192.0.2.1", reason: "r", terms: Self.terms, now: 1001, on: loop).wait()
        _ = try store.ban("ban:192.0.2.2", reason: "r", terms: Self.terms, now: 1000, on: loop).wait()
        #expect(store.banEntries.load(ordering: .relaxed) == 2)
        #expect(store.activeBanNow("ban:192.0.2.1", now: 1002) != nil)
        // Other kinds of entries do not count.
        _ = try store.increment("strikes:192.0.2.1", by: 1, window: 60, client: nil, now: 1000, on: loop).wait()
        #expect(store.banEntries.load(ordering: .relaxed) == 2)
        #expect(try store.liftBan("ban:192.0.2.1", now: 1002, on: loop).wait())
        #expect(store.banEntries.load(ordering: .relaxed) == 1)
        // Expired (ban over, nothing remembered): the next read of the key drops it.
        #expect(store.activeBanNow("ban:192.0.2.2", now: 5000) == nil)
        _ = try store.increment("ban:192.0.2.2", by: 1, window: 60, client: nil, now: 5000, on: loop).wait()
        #expect(store.banEntries.load(ordering: .relaxed) == 0)
        #expect(!store.mayHoldBans)
    }
}
