import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The embedded store: keys spread over 32 independently locked shards, so two event loops
/// contend only when they touch the same shard at the same instant; a lock is held for one
/// entry's bookkeeping, never across I/O. Expired entries go lazily and in a bounded sweep.
///
/// Memory is budgeted, because every key is chosen by a client: each entry is charged its
/// estimated size (`EntrySize`) against `store.max_bytes`, and each client (its address, an IPv6
/// client by its /64) may hold at most `store.max_entries_per_client` entries. A reservation that
/// does not fit first has every expired entry evicted (at most one full sweep per second, since
/// expiry has one-second resolution), then is refused: the store never grows past its budget.
///
/// A key holds one kind of state (a reservation, a rate limit, a counter or a ban); the callers'
/// key prefixes keep the kinds apart, and an operation that finds another kind under its key
/// takes the key over. Limits, counters and bans are in MemoryStore+Limits.swift.
///
/// Lock order: an entry shard, then a client shard inside it; never the other way round.
public final class MemoryStore: StateStore {
    enum State: Sendable {
        case held(fingerprint: [UInt8])
        case committed(StoredRecord)
        case rateLimit([GCRA.Cell])
        case counter(Int64)
        case ban(BanRecord)
    }

    struct Entry: Sendable {
        var state: State
        var expires: Int64
        /// Who is charged for it against the per-client cap; nil for ids no client can mint.
        var client: IPAddressBytes?
        /// What this entry is charged against the budget.
        var size: Int
    }

    struct Shard: Sendable {
        var entries: [String: Entry] = [:]
        var operationsSinceSweep = 0
    }

    /// What one locked step decided; a step that needs room is retried once after a full sweep.
    enum Step<Answer> {
        case done(Answer)
        case needsRoom(StoreRefusal)
    }

    let shards: [NIOLockedValueBox<Shard>]
    /// Live entries per client key; a key with no entries is removed, so this never outgrows `shards`.
    private let clientShards: [NIOLockedValueBox<[IPAddressBytes: Int]>]
    private static let shardCount = 32
    private static let sweepEvery = 1024

    private let usedBytes = Synchronization.Atomic<Int>(0)
    private let maxBytes: Synchronization.Atomic<Int>
    private let maxEntriesPerClient: Synchronization.Atomic<Int>
    /// The `now` of the last full sweep: one per second is enough, nothing expires in between.
    private let lastFullSweep = Synchronization.Atomic<Int64>(.min)
    private let refusedFull = Synchronization.Atomic<Int>(0)
    private let refusedClientLimit = Synchronization.Atomic<Int>(0)
    private let commitsDropped = Synchronization.Atomic<Int>(0)
    private let expiredEvicted = Synchronization.Atomic<Int>(0)
    /// Ban entries held, live or not yet swept: while there are none, the ban check every request
    /// makes is one atomic load instead of a key, a hash and a lock.
    let banEntries = Synchronization.Atomic<Int>(0)

    public init(limits: StoreLimitsSpec = StoreLimitsSpec()) {
        shards = (0..<Self.shardCount).map { _ in NIOLockedValueBox(Shard()) }
        clientShards = (0..<Self.shardCount).map { _ in NIOLockedValueBox([:]) }
        maxBytes = Synchronization.Atomic(limits.maxBytes.bytes)
        maxEntriesPerClient = Synchronization.Atomic(limits.maxEntriesPerClient)
    }

    public func apply(_ limits: StoreLimitsSpec) {
        maxBytes.store(limits.maxBytes.bytes, ordering: .relaxed)
        maxEntriesPerClient.store(limits.maxEntriesPerClient, ordering: .relaxed)
    }

    func shard(for key: String) -> NIOLockedValueBox<Shard> {
        var hasher = Hasher()
        hasher.combine(key)
        return shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.shardCount))]
    }

    /// One host usually owns a whole IPv6 /64, so its addresses count as one client.
    static func clientKey(_ address: IPAddressBytes) -> IPAddressBytes {
        address.isIPv4Mapped ? address : IPAddressBytes(high: address.high, low: 0)
    }

    static func clientKey(_ address: IPAddressBytes?) -> IPAddressBytes? { address.map(clientKey) }

    // MARK: Budget and per-client counts

    private func charge(_ bytes: Int) -> Bool {
        let limit = maxBytes.load(ordering: .relaxed)
        var current = usedBytes.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = usedBytes.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed
            )
            if exchanged { return true }
            current = original
        }
    }

    private func refund(_ bytes: Int) { usedBytes.subtract(bytes, ordering: .relaxed) }

    private func clientShard(_ client: IPAddressBytes) -> NIOLockedValueBox<[IPAddressBytes: Int]> {
        clientShards[Int(UInt(bitPattern: client.hashValue) % UInt(Self.shardCount))]
    }

    private func addEntry(for client: IPAddressBytes) -> Bool {
        let cap = maxEntriesPerClient.load(ordering: .relaxed)
        return clientShard(client).withLockedValue { counts in
            let held = counts[client, default: 0]
            guard held < cap else { return false }
            counts[client] = held + 1
            return true
        }
    }

    private func removeEntry(for client: IPAddressBytes) {
        clientShard(client).withLockedValue { counts in
            guard let held = counts[client] else { return }
            counts[client] = held > 1 ? held - 1 : nil
        }
    }

    /// Takes a new entry's size and client slot, or says which limit stops it (taking neither).
    private func admit(size: Int, client: IPAddressBytes?) -> StoreRefusal? {
        if let client, !addEntry(for: client) { return .clientLimit }
        guard charge(size) else {
            if let client { removeEntry(for: client) }
            return .full
        }
        return nil
    }

    /// Drops an entry's charges; the caller has taken it out of its shard.
    func forget(_ entry: Entry) {
        if case .ban = entry.state { banEntries.subtract(1, ordering: .relaxed) }
        refund(entry.size)
        if let client = entry.client { removeEntry(for: client) }
    }

    // MARK: Expiry

    private func removeExpired(_ shard: inout Shard, now: Int64) {
        var evicted = 0
        shard.entries = shard.entries.filter { _, entry in
            if entry.expires > now { return true }
            forget(entry)
            evicted += 1
            return false
        }
        if evicted > 0 { expiredEvicted.add(evicted, ordering: .relaxed) }
    }

    private func sweepIfDue(_ shard: inout Shard, now: Int64) {
        shard.operationsSinceSweep += 1
        guard shard.operationsSinceSweep >= Self.sweepEvery else { return }
        shard.operationsSinceSweep = 0
        removeExpired(&shard, now: now)
    }

    /// Evicts every expired entry, unless a sweep at this second (or later) already did.
    /// Returns false when there was nothing new to sweep, so the caller refuses at once.
    private func sweepAll(now: Int64) -> Bool {
        var last = lastFullSweep.load(ordering: .relaxed)
        while last < now {
            let (exchanged, original) = lastFullSweep.compareExchange(expected: last, desired: now, ordering: .relaxed)
            if exchanged {
                for shard in shards { shard.withLockedValue { removeExpired(&$0, now: now) } }
                return true
            }
            last = original
        }
        return false
    }

    /// Runs `step` under the key's shard lock; if it needs room, evicts expired entries and runs it
    /// once more. A step that still needs room leaves the refusal to the caller.
    func withRoom<Answer>(
        _ key: String, now: Int64, _ step: (inout Shard) -> Step<Answer>
    ) -> Step<Answer> {
        let box = shard(for: key)
        let first = box.withLockedValue { shard -> Step<Answer> in
            sweepIfDue(&shard, now: now)
            return step(&shard)
        }
        guard case .needsRoom = first, sweepAll(now: now) else { return first }
        return box.withLockedValue { step(&$0) }
    }

    /// The live entry under `key`; an expired one is removed on the way (its charges refunded).
    func live(_ key: String, now: Int64, in shard: inout Shard) -> Entry? {
        guard let entry = shard.entries[key] else { return nil }
        if entry.expires > now { return entry }
        shard.entries[key] = nil
        forget(entry)
        return nil
    }

    /// Stores `state` under `key`. A live entry there keeps its client slot and is charged only
    /// the change in size; a new one takes a slot of `client` and its whole size. Nil when stored,
    /// else the limit that stopped it (nothing changed then).
    func put(
        _ key: String, _ state: State, expires: Int64, size: Int, client: IPAddressBytes?, now: Int64, in shard: inout Shard
    ) -> StoreRefusal? {
        if let entry = live(key, now: now, in: &shard) {
            if size > entry.size {
                guard charge(size - entry.size) else { return .full }
            } else if size < entry.size {
                refund(entry.size - size)
            }
            countBans(replacing: entry.state, with: state)
            shard.entries[key] = Entry(state: state, expires: expires, client: entry.client, size: size)
            return nil
        }
        if let refusal = admit(size: size, client: client) { return refusal }
        countBans(replacing: nil, with: state)
        shard.entries[key] = Entry(state: state, expires: expires, client: client, size: size)
        return nil
    }

    private func countBans(replacing old: State?, with new: State) {
        var change = 0
        if case .ban = new { change += 1 }
        if let old, case .ban = old { change -= 1 }
        if change != 0 { banEntries.add(change, ordering: .relaxed) }
    }

    /// The answer of a step, counting a refusal once it is final.
    func settle<Answer>(_ step: Step<Answer>, refused: (StoreRefusal) -> Answer) -> Answer {
        switch step {
        case .done(let answer):
            return answer
        case .needsRoom(let refusal):
            if refusal == .full {
                refusedFull.add(1, ordering: .relaxed)
            } else {
                refusedClientLimit.add(1, ordering: .relaxed)
            }
            return refused(refusal)
        }
    }

    // MARK: StateStore

    public func reserve(
        _ key: String, fingerprint: [UInt8], client: IPAddressBytes?, answerBytes: Int, lease: Int64, now: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<ReservationOutcome> {
        let client = Self.clientKey(client)
        // The commit then only gives back what the answer did not use.
        let size = EntrySize.held(key: key, fingerprint: fingerprint) + answerBytes
        let step = withRoom(key, now: now) { shard -> Step<ReservationOutcome> in
            if let entry = shard.entries[key] {
                if entry.expires > now {
                    switch entry.state {
                    case .held(let held): return .done(.inFlight(fingerprint: held))
                    case .committed(let record): return .done(.committed(record))
                    case .rateLimit, .counter, .ban: break
                    }
                }
                shard.entries[key] = nil
                forget(entry)
            }
            if let refusal = admit(size: size, client: client) { return .needsRoom(refusal) }
            shard.entries[key] = Entry(state: .held(fingerprint: fingerprint), expires: now + lease, client: client, size: size)
            return .done(.reserved)
        }
        return loop.makeSucceededFuture(settle(step, refused: ReservationOutcome.refused))
    }

    public func commit(
        _ key: String, record: StoredRecord, client: IPAddressBytes?, ttl: Int64, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let client = Self.clientKey(client)
        let size = EntrySize.committed(key: key, record: record)
        let committed = Entry(state: .committed(record), expires: now + ttl, client: client, size: size)
        let step = withRoom(key, now: now) { shard -> Step<Void> in
            if let entry = shard.entries[key] {
                // The entry keeps its client slot; only the change in size is charged.
                guard size <= entry.size || charge(size - entry.size) else { return .needsRoom(.full) }
                if size < entry.size { refund(entry.size - size) }
                shard.entries[key] = Entry(state: .committed(record), expires: now + ttl, client: entry.client, size: size)
                return .done(())
            }
            // The lease ran out and was swept before the answer came: hold the key anew.
            if let refusal = admit(size: size, client: client) { return .needsRoom(refusal) }
            shard.entries[key] = committed
            return .done(())
        }
        if case .needsRoom = step {
            // Keeping a half-record (a fingerprint without its answer) would refuse the honest
            // retry, so the key is freed instead: a retry is forwarded, as for an answer too large to keep.
            shard(for: key).withLockedValue { shard in
                if let entry = shard.entries.removeValue(forKey: key) { forget(entry) }
            }
            commitsDropped.add(1, ordering: .relaxed)
        }
        return loop.makeSucceededVoidFuture()
    }

    public func release(_ key: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        shard(for: key).withLockedValue { shard in
            guard let entry = shard.entries[key], case .held = entry.state else { return }
            shard.entries[key] = nil
            forget(entry)
        }
        return loop.makeSucceededVoidFuture()
    }

    /// The keys of the entries held now, expired or not (for tests: what a client's values became).
    public var keys: [String] { shards.flatMap { $0.withLockedValue { Array($0.entries.keys) } } }

    /// Entries currently held (for tests and the admin view).
    public var count: Int { shards.reduce(0) { $0 + $1.withLockedValue { $0.entries.count } } }

    /// Bytes charged against the budget now.
    public var bytes: Int { usedBytes.load(ordering: .relaxed) }

    /// Live entries charged to one client (tests).
    func entries(of client: IPAddressBytes) -> Int {
        let key = Self.clientKey(client)
        return clientShard(key).withLockedValue { $0[key] ?? 0 }
    }

    public var statistics: StoreStatistics {
        StoreStatistics(
            bytes: bytes,
            maxBytes: maxBytes.load(ordering: .relaxed),
            entries: count,
            refusedFull: refusedFull.load(ordering: .relaxed),
            refusedClientLimit: refusedClientLimit.load(ordering: .relaxed),
            commitsDropped: commitsDropped.load(ordering: .relaxed),
            expiredEvicted: expiredEvicted.load(ordering: .relaxed),
            banRecords: banEntries.load(ordering: .relaxed)
        )
    }
}
