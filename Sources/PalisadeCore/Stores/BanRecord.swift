/// A key's ban: until when, why, and how many offences led to it.
public struct BanRecord: Sendable, Equatable {
    /// Unix seconds at which the ban ends.
    public var until: Int64
    /// A short constant (a refusal code such as `signature_invalid`, or `admin`), never request data.
    public var reason: String
    /// Offences remembered for this key, this one included: the ban's length grows with it.
    public var offences: Int

    public init(until: Int64, reason: String, offences: Int) {
        self.until = until
        self.reason = reason
        self.offences = offences
    }

    public func isActive(at now: Int64) -> Bool { until > now }

    /// Whole seconds left, for `Retry-After`.
    public func secondsLeft(at now: Int64) -> Int64 { max(until - now, 0) }
}

/// How long a ban lasts: `first` for a first offence, doubling with each repeat up to `longest`.
/// Offences are remembered `memory` seconds past the end of the ban, so a client that offends
/// again soon after its ban ends gets a longer one, and one that stays good long enough starts over.
public struct BanTerms: Sendable, Equatable {
    public var first: Int64
    public var longest: Int64
    public var memory: Int64

    public init(first: Int64, longest: Int64, memory: Int64) {
        self.first = max(first, 1)
        self.longest = max(longest, self.first)
        self.memory = max(memory, 0)
    }

    /// `first × 2^(offence−1)`, capped at `longest` (and safe from overflow however many offences).
    public func duration(forOffence offence: Int) -> Int64 {
        let doublings = max(offence - 1, 0)
        guard doublings < 63, first <= longest >> Int64(doublings) else { return longest }
        return min(first << Int64(doublings), longest)
    }
}

public enum BanOutcome: Sendable, Equatable {
    case banned(BanRecord)
    /// The store's byte budget is spent even after expired entries went: the ban is not kept.
    case refused(StoreRefusal)
}

/// One active ban, for the admin listing.
public struct ListedBan: Sendable, Equatable {
    public var key: String
    public var record: BanRecord

    public init(key: String, record: BanRecord) {
        self.key = key
        self.record = record
    }
}
