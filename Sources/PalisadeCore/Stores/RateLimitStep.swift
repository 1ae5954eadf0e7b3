/// One limit of a rate-limit step: `limit` units per period, of which up to `burst` may be spent
/// at once (a client idle long enough may send `burst` requests back to back, then one per
/// `interval`). Kept as GCRA's two figures, so checking it costs two subtractions and a compare.
public struct GCRALimit: Sendable, Hashable {
    /// Units per period, as the policy wrote it (for `RateLimit-Policy`'s quota).
    public let limit: Int
    public let periodNanoseconds: Int64
    public let burst: Int
    /// How long one unit of quota takes to come back: the emission interval T = period / limit.
    public let interval: Int64
    /// How far the theoretical arrival time may run ahead of now: τ = T × burst.
    public let tolerance: Int64

    /// Nil unless `limit`, `burst` and the period are positive and the period holds `limit`
    /// whole nanoseconds (no real policy comes near that bound).
    public init?(limit: Int, periodNanoseconds: Int64, burst: Int) {
        guard limit > 0, burst > 0, periodNanoseconds >= Int64(limit) else { return nil }
        let interval = periodNanoseconds / Int64(limit)
        let (tolerance, overflow) = interval.multipliedReportingOverflow(by: Int64(burst))
        guard !overflow else { return nil }
        self.limit = limit
        self.periodNanoseconds = periodNanoseconds
        self.burst = burst
        self.interval = interval
        self.tolerance = tolerance
    }
}

/// What one limit looked like after a step, for the IETF `RateLimit` field.
public struct RateLimitFigures: Sendable, Equatable {
    /// Units that could be spent at once right now (`r`).
    public var remaining: Int
    /// Seconds until the whole burst is available again (`t`), rounded up.
    public var resetSeconds: Int64

    public init(remaining: Int, resetSeconds: Int64) {
        self.remaining = remaining
        self.resetSeconds = resetSeconds
    }
}

public enum RateLimitOutcome: Sendable, Equatable {
    /// Every limit had room and each was charged; figures per limit, in the order given.
    case allowed([RateLimitFigures])
    /// At least one limit had no room, so none was charged (figures as they stand). After
    /// `retryAfterSeconds` every limit has room for the same cost again.
    case limited([RateLimitFigures], retryAfterSeconds: Int64)
    /// The step would pass but its state cannot be kept (budget or per-client cap): nothing stored.
    case refused(StoreRefusal)
}

/// The Generic Cell Rate Algorithm over a key's theoretical arrival times (one per limit), as a
/// pure function so the memory store and a Redis script compute the same figures. The state is a
/// time, not a count, so it needs no refill job and expires by itself: a TAT in the past means a
/// full burst, exactly as if nothing were stored.
enum GCRA {
    /// One limit's state. Matched to a limit by its two figures, so a reload that changes a
    /// route's limits starts the changed ones fresh and drops the ones that went.
    struct Cell: Sendable, Equatable {
        var interval: Int64
        var tolerance: Int64
        /// Theoretical arrival time, nanoseconds since the epoch.
        var tat: Int64
    }

    enum Verdict: Equatable {
        case allowed([Cell], [RateLimitFigures])
        case limited([RateLimitFigures], retryAfterSeconds: Int64)
    }

    static func step(stored: [Cell], limits: [GCRALimit], cost: Int, now: Int64) -> Verdict {
        let cost = Int64(max(cost, 0))
        var charged: [Cell] = []
        charged.reserveCapacity(limits.count)
        var after: [RateLimitFigures] = []
        after.reserveCapacity(limits.count)
        var wait: Int64 = 0
        for limit in limits {
            let next = chargedTAT(storedTAT(stored, limit) ?? now, limit, cost: cost, now: now)
            let aheadAfter = saturatingAdd(next, -now)
            if aheadAfter > limit.tolerance {
                wait = max(wait, aheadAfter - limit.tolerance)
            } else if wait == 0 {
                after.append(figures(ahead: aheadAfter, limit))
            }
            charged.append(Cell(interval: limit.interval, tolerance: limit.tolerance, tat: next))
        }
        // A refusal answers the figures as they stand, uncharged: worked out only then, so the
        // common step (allowed) fills two lists, not three.
        if wait > 0 { return .limited(standing(stored, limits: limits, now: now), retryAfterSeconds: ceilingSeconds(wait)) }
        return .allowed(charged, after)
    }

    /// `step` for cells that already match `limits` one for one, in order (the usual case: the
    /// same guard on its own key again), charged where they are: no list is made for the new
    /// state. Nil when the shapes differ, and `step` answers. On a refusal nothing changes.
    static func chargeInPlace(_ cells: inout [Cell], limits: [GCRALimit], cost: Int, now: Int64) -> RateLimitOutcome? {
        guard cells.count == limits.count else { return nil }
        let cost = Int64(max(cost, 0))
        var wait: Int64 = 0
        for (cell, limit) in zip(cells, limits) {
            guard cell.interval == limit.interval && cell.tolerance == limit.tolerance else { return nil }
            let aheadAfter = saturatingAdd(chargedTAT(cell.tat, limit, cost: cost, now: now), -now)
            if aheadAfter > limit.tolerance { wait = max(wait, aheadAfter - limit.tolerance) }
        }
        if wait > 0 { return .limited(standing(cells, limits: limits, now: now), retryAfterSeconds: ceilingSeconds(wait)) }
        var after: [RateLimitFigures] = []
        after.reserveCapacity(limits.count)
        for index in cells.indices {
            let limit = limits[index]
            let next = chargedTAT(cells[index].tat, limit, cost: cost, now: now)
            cells[index].tat = next
            after.append(figures(ahead: saturatingAdd(next, -now), limit))
        }
        return .allowed(after)
    }

    /// The TAT after charging `cost` units to a limit whose TAT is `tat` (one in the past counts
    /// from now: a full burst).
    private static func chargedTAT(_ tat: Int64, _ limit: GCRALimit, cost: Int64, now: Int64) -> Int64 {
        saturatingAdd(max(tat, now), saturatingMultiply(limit.interval, cost))
    }

    private static func storedTAT(_ stored: [Cell], _ limit: GCRALimit) -> Int64? {
        for cell in stored where cell.interval == limit.interval && cell.tolerance == limit.tolerance { return cell.tat }
        return nil
    }

    /// Each limit's figures as the cells stand at `now`, charging nothing.
    static func standing(_ stored: [Cell], limits: [GCRALimit], now: Int64) -> [RateLimitFigures] {
        limits.map { limit in figures(ahead: max(storedTAT(stored, limit) ?? now, now) - now, limit) }
    }

    /// The second at which every cell's TAT has passed, so the stored state equals no state.
    static func expiry(_ cells: [Cell]) -> Int64 {
        ceilingSeconds(cells.reduce(Int64.min) { max($0, $1.tat) })
    }

    private static func figures(ahead: Int64, _ limit: GCRALimit) -> RateLimitFigures {
        let room = limit.tolerance - ahead
        return RateLimitFigures(remaining: Int(max(room, 0) / limit.interval), resetSeconds: ceilingSeconds(max(ahead, 0)))
    }

    static func ceilingSeconds(_ nanoseconds: Int64) -> Int64 {
        let (whole, part) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        return part > 0 ? whole + 1 : whole
    }

    private static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    private static func saturatingMultiply(_ a: Int64, _ b: Int64) -> Int64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : product
    }
}
