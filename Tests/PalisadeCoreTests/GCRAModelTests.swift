import Foundation
import NIOEmbedded
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// The store's GCRA (virtual scheduling: one theoretical arrival time per limit) against the
/// other form ITU-T I.371 gives for the same conformance test, the continuous-state leaky bucket
/// (a fill level and the time it was last drained), written in Python from that description. The
/// two keep different state, so a slip in the store's bookkeeping (the max with now, matching a
/// limit to its state, all-or-nothing charging, expiry) shows up as a different line.
@Suite("GCRA against a leaky-bucket model")
struct GCRAModelTests {
    static let model = #"""
        import json, sys
        spec = json.load(sys.stdin)
        limits = spec["limits"]                   # [[interval, tolerance], ...] in nanoseconds
        level = [0] * len(limits)                 # bucket fill, nanoseconds of work
        drained = [None] * len(limits)            # time the level was last brought up to date
        def ceil_seconds(ns): return -(-ns // 1_000_000_000)
        out = []
        for now, cost in spec["events"]:
            current = []
            for i, (interval, tolerance) in enumerate(limits):
                x = level[i] if drained[i] is None else max(level[i] - (now - drained[i]), 0)
                current.append(x)
            after = [current[i] + limits[i][0] * cost for i in range(len(limits))]
            over = [after[i] - limits[i][1] for i in range(len(limits)) if after[i] > limits[i][1]]
            if over:
                figures = ";".join(f"{(limits[i][1] - current[i]) // limits[i][0]},{ceil_seconds(current[i])}" for i in range(len(limits)))
                out.append(f"L {ceil_seconds(max(over))} {figures}")
            else:
                for i in range(len(limits)):
                    level[i], drained[i] = after[i], now
                figures = ";".join(f"{(limits[i][1] - after[i]) // limits[i][0]},{ceil_seconds(after[i])}" for i in range(len(limits)))
                out.append(f"A {figures}")
        print("\n".join(out))
        """#

    /// A fixed sequence, so a failure can be replayed: arrivals up to 250 ms apart with costs of
    /// one to three, and now and then a pause long enough for every limit to refill.
    static func schedule(count: Int, start: Int64) -> [(now: Int64, cost: Int)] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 33) % bound
        }
        var now = start
        var events: [(Int64, Int)] = []
        for _ in 0..<count {
            now += next(50) == 0 ? 120_000_000_000 : Int64(next(250_000_001))
            events.append((now, next(4) == 0 ? Int(next(3)) + 1 : 1))
        }
        return events
    }

    static func line(_ outcome: RateLimitOutcome) -> String {
        func figures(_ list: [RateLimitFigures]) -> String { list.map { "\($0.remaining),\($0.resetSeconds)" }.joined(separator: ";") }
        switch outcome {
        case .allowed(let list): return "A \(figures(list))"
        case .limited(let list, let retryAfter): return "L \(retryAfter) \(figures(list))"
        case .refused(let refusal): return "refused \(refusal)"
        }
    }

    @Test("2000 arrivals against 10/s (burst 5), 100/min (burst 20) and 3/s (burst 2): every verdict and figure agree")
    func agreesWithLeakyBucket() throws {
        let limits = [
            GCRALimit(limit: 10, periodNanoseconds: 1_000_000_000, burst: 5)!,
            GCRALimit(limit: 100, periodNanoseconds: 60_000_000_000, burst: 20)!,
            GCRALimit(limit: 3, periodNanoseconds: 1_000_000_000, burst: 2)!,
        ]
        let events = Self.schedule(count: 2000, start: 1_700_000_000_000_000_000)
        let input: [String: Any] = [
            "limits": limits.map { [Int($0.interval), Int($0.tolerance)] },
            "events": events.map { [Int($0.now), $0.cost] },
        ]
        let expected = try Python.run(Self.model, input: JSONSerialization.data(withJSONObject: input)).split(separator: "\n")
        let loop = EmbeddedEventLoop()
        let store = MemoryStore()
        var actual: [String] = []
        for event in events {
            let outcome = try store.rateLimit(
                "rl:model", limits: limits, cost: event.cost, client: nil,
                now: WallClock.Instant(nanosecondsSinceEpoch: event.now), on: loop
            ).wait()
            actual.append(Self.line(outcome))
        }
        #expect(expected.count == events.count)
        let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(
            firstDifference == nil,
            "first difference at arrival \(firstDifference?.offset ?? -1): \(String(describing: firstDifference?.element))")
        // The schedule exercised both answers.
        #expect(actual.filter { $0.hasPrefix("A") }.count > 200)
        #expect(actual.filter { $0.hasPrefix("L") }.count > 200)
    }
}
