import Foundation

/// A span of time written in the policy file, such as `250ms`, `30s`, `5m`, `24h`.
///
/// Kept apart from NIO's `TimeAmount` so the policy model does not depend on the runtime.
public struct PolicyDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func seconds(_ s: Int64) -> PolicyDuration { .init(nanoseconds: s * 1_000_000_000) }
    public static func milliseconds(_ ms: Int64) -> PolicyDuration { .init(nanoseconds: ms * 1_000_000) }

    public static func < (lhs: PolicyDuration, rhs: PolicyDuration) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    private static let units: [(suffix: String, nanos: Int64)] = [
        ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ]

    /// Parses `<integer><unit>` with unit one of ms, s, m, h, d. A bare number is refused: a unit
    /// left out is the classic cause of a 30-millisecond timeout meant as 30 seconds.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = trimmed.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 12, let value = Int64(digits),
            let factor = Self.units.first(where: { $0.suffix == unit })?.nanos
        else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        guard !overflow else { return nil }
        self.nanoseconds = product
    }

    public var description: String {
        for (suffix, nanos) in Self.units.reversed() where nanoseconds % nanos == 0 && nanoseconds >= nanos {
            return "\(nanoseconds / nanos)\(suffix)"
        }
        return "\(nanoseconds / 1_000_000)ms"
    }
}
