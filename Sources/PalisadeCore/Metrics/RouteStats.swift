/// Requests and durations of one route name on one event loop. Plain integers touched only by that
/// loop: no atomics, no lock, no shared cache line on the request path. `/metrics` merges every
/// loop's copy. Kept by name across reloads so counters never reset while the process lives.
final class RouteCounters {
    /// Indexed by status code (100...599).
    var requestsByStatus = [Int](repeating: 0, count: 600)
    /// From the request head to the end of the response.
    var duration = DurationHistogram()
    /// The app's part: from the request sent to the answer's first byte.
    var upstream = DurationHistogram()

    func record(status: Int, durationNanos: Int64) {
        if status >= 100 && status < 600 { requestsByStatus[status] &+= 1 }
        duration.record(nanoseconds: durationNanos)
    }
}

/// A latency histogram in plain integers: per-bucket (not cumulative) counts for `boundsSeconds`
/// then +Inf, their sum and count. One type for every route latency Palisade keeps, counted on a
/// loop and merged at scrape.
struct DurationHistogram: Sendable {
    static let boundsSeconds: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
    private static let boundsNanos: [Int64] = boundsSeconds.map { Int64($0 * 1e9) }

    var buckets = [Int](repeating: 0, count: boundsSeconds.count + 1)
    var sumNanos: Int64 = 0
    var count = 0

    mutating func record(nanoseconds: Int64) {
        var bucket = 0
        let bounds = Self.boundsNanos
        while bucket < bounds.count && nanoseconds > bounds[bucket] { bucket += 1 }
        buckets[bucket] &+= 1
        sumNanos &+= nanoseconds
        count &+= 1
    }

    mutating func merge(_ other: DurationHistogram) {
        for index in buckets.indices { buckets[index] += other.buckets[index] }
        sumNanos += other.sumNanos
        count += other.count
    }

    var sample: MetricSample.Value {
        .histogram(bounds: Self.boundsSeconds, buckets: buckets, sum: Double(sumNanos) / 1e9, count: count)
    }
}

/// A guard that reports details safe to use as metric label values: a fixed list, known when the
/// plan is compiled and taken from the policy (which secret of a rotation matched). A detail a
/// guard reports that is not in this list (an API-key id) is logged but never becomes a label.
protocol CountedGuardDetails {
    var countedDetails: [String] { get }
}

/// The decisions of one guard of one route on one loop, resolved when the plan is installed.
/// Kept across reloads for the same route, guard kind and position among that route's guards of
/// that kind, so a reload that leaves a guard in place keeps its counts.
final class GuardOutcomeCounters {
    let guardKind: String
    /// Details that may become the `detail` label; index-aligned with `allowedWithDetail`.
    private(set) var countedDetails: [String]
    private(set) var allowed = 0
    private(set) var allowedWithDetail: [Int]
    /// Any other outcome (a refusal code, `replayed`, `guard_unavailable`), in first-seen order.
    /// Outcomes are short constants and a guard has a handful, so a scan beats hashing: equal
    /// constants compare by their storage before any byte is read.
    private(set) var others: [(outcome: String, reportOnly: Bool, count: Int)] = []

    init(guardKind: String, countedDetails: [String]) {
        self.guardKind = guardKind
        self.countedDetails = countedDetails
        self.allowedWithDetail = [Int](repeating: 0, count: countedDetails.count)
    }

    /// A reload may change the rotation (more or fewer values): counts of details still listed stay.
    func adopt(countedDetails newDetails: [String]) {
        guard newDetails != countedDetails else { return }
        var kept: [String: Int] = [:]
        for (detail, count) in zip(countedDetails, allowedWithDetail) { kept[detail] = count }
        // A detail no longer listed keeps its count under the plain "ok" series.
        for (detail, count) in kept where !newDetails.contains(detail) { allowed += count }
        countedDetails = newDetails
        allowedWithDetail = newDetails.map { kept[$0] ?? 0 }
    }

    func record(_ note: GuardNote) {
        if note.outcome == GuardNote.allowed && !note.reportOnly {
            if let detail = note.detail, let index = countedDetails.firstIndex(of: detail) {
                allowedWithDetail[index] &+= 1
            } else {
                allowed &+= 1
            }
            return
        }
        for index in others.indices where others[index].reportOnly == note.reportOnly && others[index].outcome == note.outcome {
            others[index].count &+= 1
            return
        }
        others.append((note.outcome, note.reportOnly, 1))
    }

    /// Adds this guard's counts to `into`, keyed by their labels (scrape time only).
    func addCounts(into outcomes: inout [GuardOutcomeKey: Int]) {
        if allowed > 0 { outcomes[GuardOutcomeKey(guardKind: guardKind, outcome: GuardNote.allowed), default: 0] += allowed }
        for (detail, count) in zip(countedDetails, allowedWithDetail) where count > 0 {
            outcomes[GuardOutcomeKey(guardKind: guardKind, outcome: GuardNote.allowed, detail: detail), default: 0] += count
        }
        for entry in others {
            let outcome = entry.reportOnly ? "reported:\(entry.outcome)" : entry.outcome
            outcomes[GuardOutcomeKey(guardKind: guardKind, outcome: outcome), default: 0] += entry.count
        }
    }
}

/// Everything a request of one compiled route counts on one loop, resolved when the loop installs
/// the plan: the exchange keeps this handle, and its completion touches no dictionary.
final class RouteStats {
    let counters: RouteCounters
    /// Aligned with the route's guards.
    let guards: [GuardOutcomeCounters]

    init(counters: RouteCounters, guards: [GuardOutcomeCounters]) {
        self.counters = counters
        self.guards = guards
    }

    func record(status: Int, durationNanos: Int64) {
        counters.record(status: status, durationNanos: durationNanos)
    }

    /// The exchange notes guards in the order they ran, one note each, from the route's first
    /// guard; so the k-th note is the k-th guard's.
    func record(guardNotes: [GuardNote]) {
        for (index, note) in guardNotes.enumerated() where index < guards.count {
            assert(guards[index].guardKind == note.guardKind, "guard notes out of step with the route's guards")
            guards[index].record(note)
        }
    }
}

struct GuardOutcomeKey: Hashable, Comparable, Sendable {
    var guardKind: String
    var outcome: String
    /// Which secret of a rotation matched (a `CountedGuardDetails` entry), or "".
    var detail: String = ""

    static func < (lhs: GuardOutcomeKey, rhs: GuardOutcomeKey) -> Bool {
        (lhs.guardKind, lhs.outcome, lhs.detail) < (rhs.guardKind, rhs.outcome, rhs.detail)
    }
}
