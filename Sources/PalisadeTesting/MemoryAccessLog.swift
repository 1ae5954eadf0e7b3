import Foundation
import NIOConcurrencyHelpers
import PalisadeCore

/// An access-log sink that keeps every line in memory, for tests: they read what would have gone
/// to stdout, and wait for a line to arrive instead of sleeping and hoping it has.
public final class MemoryAccessLog: AccessLogSink {
    /// A line's JSON object; a predicate gets one per line.
    public typealias Fields = [String: Any]

    public struct Timeout: Error, CustomStringConvertible {
        public let lines: [String]
        public var description: String { "no matching access line arrived; lines so far:\n" + lines.joined(separator: "\n") }
    }

    private struct Waiter {
        let id: Int
        let matches: @Sendable (Fields) -> Bool
        let continuation: CheckedContinuation<String, any Error>
    }

    private struct State {
        var lines: [String] = []
        var waiters: [Waiter] = []
        /// Each wait's deadline, cancelled when a line answers it first.
        var deadlines: [Int: Task<Void, Never>] = [:]
        var nextWaiterID = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer) {
        // The writer hands over whole lines only, so a batch splits cleanly at newlines.
        let arrived = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        var resumed: [(CheckedContinuation<String, any Error>, String)] = []
        var finished: [Task<Void, Never>] = []
        state.withLockedValue { state in
            state.lines += arrived
            state.waiters.removeAll { waiter in
                guard let line = arrived.first(where: { waiter.matches(Self.fields(of: $0)) }) else { return false }
                resumed.append((waiter.continuation, line))
                if let deadline = state.deadlines.removeValue(forKey: waiter.id) { finished.append(deadline) }
                return true
            }
        }
        for deadline in finished { deadline.cancel() }
        for (continuation, line) in resumed { continuation.resume(returning: line) }
    }

    /// Every line received so far, as written.
    public var lines: [String] { state.withLockedValue { $0.lines } }

    /// Every line received so far, parsed.
    public var parsedLines: [Fields] { lines.map(Self.fields(of:)) }

    /// The first line, already here or still to come, for which `matches` holds; throws `Timeout`
    /// when none has arrived within `deadline`.
    public func line(
        within deadline: Duration = .seconds(5), where matches: @escaping @Sendable (Fields) -> Bool
    ) async throws -> Fields {
        Self.fields(of: try await lineText(within: deadline, where: matches))
    }

    /// `line(within:where:)`, as written rather than parsed.
    public func lineText(
        within deadline: Duration = .seconds(5), where matches: @escaping @Sendable (Fields) -> Bool
    ) async throws -> String {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            let outcome: (found: String?, id: Int) = state.withLockedValue { state in
                if let line = state.lines.first(where: { matches(Self.fields(of: $0)) }) { return (line, -1) }
                let id = state.nextWaiterID
                state.nextWaiterID += 1
                state.waiters.append(Waiter(id: id, matches: matches, continuation: continuation))
                return (nil, id)
            }
            if let found = outcome.found {
                continuation.resume(returning: found)
                return
            }
            let timer = Task { [self] in
                guard (try? await Task.sleep(for: deadline)) != nil else { return }
                self.expire(waiter: outcome.id)
            }
            let answered = state.withLockedValue { state in
                guard state.waiters.contains(where: { $0.id == outcome.id }) else { return true }
                state.deadlines[outcome.id] = timer
                return false
            }
            if answered { timer.cancel() }
        }
    }

    /// Waits not yet answered (tests of this type).
    var waiting: Int { state.withLockedValue { $0.waiters.count } }

    private func expire(waiter id: Int) {
        let (expired, lines) = state.withLockedValue { state in
            let index = state.waiters.firstIndex { $0.id == id }
            state.deadlines[id] = nil
            return (index.map { state.waiters.remove(at: $0) }, state.lines)
        }
        expired?.continuation.resume(throwing: Timeout(lines: lines))
    }

    static func fields(of line: String) -> Fields {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? Fields ?? [:]
    }
}
