import Foundation
import Yams

/// Collects diagnostics while a policy's YAML nodes are walked by hand. Yams' `Codable` path drops
/// node positions and silently ignores unknown keys, both of which the policy format forbids.
final class DiagnosticCollector {
    let file: String
    private(set) var diagnostics: [PolicyDiagnostic] = []

    init(file: String) { self.file = file }

    func error(_ message: String, at position: SourcePosition) {
        diagnostics.append(.init(severity: .error, file: file, position: position, message: message))
    }

    func warning(_ message: String, at position: SourcePosition) {
        diagnostics.append(.init(severity: .warning, file: file, position: position, message: message))
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// A YAML node with the key path that led to it.
struct PolicyNode {
    let node: Node
    let keyPath: String
    let diagnostics: DiagnosticCollector

    var position: SourcePosition {
        // Yams marks are 1-based for lines and columns, as editors count them.
        let mark = node.mark
        return SourcePosition(line: mark?.line ?? 1, column: mark?.column ?? 1, keyPath: keyPath)
    }

    func error(_ message: String) { diagnostics.error(message, at: position) }

    var kindName: String {
        switch node {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// A plain string scalar; reports an error and returns nil for anything else.
    func string() -> String? {
        guard case .scalar(let scalar) = node else {
            error("expected a string, found \(kindName)")
            return nil
        }
        return scalar.string
    }

    func int(in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            error("expected an integer")
            return nil
        }
        guard range.contains(value) else {
            error("must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    func bool() -> Bool? {
        guard case .scalar(let scalar) = node else {
            error("expected true or false")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error("expected true or false, found '\(scalar.string)'")
            return nil
        }
    }

    func duration(atLeast minimum: PolicyDuration = .milliseconds(1)) -> PolicyDuration? {
        guard let text = string() else { return nil }
        guard let value = PolicyDuration(parsing: text) else {
            error("'\(text)' is not a duration; write a whole number with a unit: 250ms, 30s, 5m, 24h, 7d")
            return nil
        }
        guard value >= minimum else {
            error("must be at least \(minimum), found \(text)")
            return nil
        }
        return value
    }

    func byteCount(in range: ClosedRange<Int>) -> ByteCount? {
        guard let text = string() else { return nil }
        guard let value = ByteCount(parsing: text) else {
            error("'\(text)' is not a size; write e.g. 512, 16KiB, 1MiB")
            return nil
        }
        guard range.contains(value.bytes) else {
            error(
                "must be between \(ByteCount(bytes: range.lowerBound)) and \(ByteCount(bytes: range.upperBound)), found \(text)"
            )
            return nil
        }
        return value
    }

    /// One of a fixed set of words; the error names every accepted word.
    func oneOf<T>(_ choices: KeyValuePairs<String, T>) -> T? {
        guard let text = string() else { return nil }
        if let match = choices.first(where: { $0.key == text }) { return match.value }
        error("'\(text)' is not one of: \(choices.map(\.key).joined(separator: ", "))")
        return nil
    }

    func list() -> [PolicyNode]? {
        guard case .sequence(let sequence) = node else {
            error("expected a list, found \(kindName)")
            return nil
        }
        return sequence.enumerated().map { index, child in
            PolicyNode(node: child, keyPath: "\(keyPath)[\(index)]", diagnostics: diagnostics)
        }
    }

    /// A list of strings, or a single string taken as a list of one.
    func stringList() -> [(String, PolicyNode)]? {
        if case .scalar = node, let s = string() { return [(s, self)] }
        guard let items = list() else { return nil }
        return items.compactMap { item in item.string().map { ($0, item) } }
    }

    func mapping(allowedKeys: [String]) -> MappingReader? {
        guard case .mapping(let mapping) = node else {
            error("expected a mapping with keys \(allowedKeys.joined(separator: ", ")), found \(kindName)")
            return nil
        }
        return MappingReader(mapping: mapping, owner: self, allowedKeys: allowedKeys)
    }

    func child(_ node: Node, key: String) -> PolicyNode {
        PolicyNode(node: node, keyPath: keyPath.isEmpty ? key : "\(keyPath).\(key)", diagnostics: diagnostics)
    }
}

/// Reads one YAML mapping: hands out its values by key and refuses keys the format does not know.
struct MappingReader {
    let owner: PolicyNode
    private(set) var entries: [(key: String, keyNode: PolicyNode, value: PolicyNode)] = []

    init(mapping: Node.Mapping, owner: PolicyNode, allowedKeys: [String]) {
        self.owner = owner
        for (keyNode, valueNode) in mapping {
            let keyPolicyNode = PolicyNode(node: keyNode, keyPath: owner.keyPath, diagnostics: owner.diagnostics)
            guard case .scalar(let scalar) = keyNode else {
                keyPolicyNode.error("mapping keys must be plain strings")
                continue
            }
            let key = scalar.string
            let valueNode = owner.child(valueNode, key: key)
            guard allowedKeys.contains(key) else {
                let childPath = owner.child(keyNode, key: key)
                let hint = Self.closest(to: key, in: allowedKeys).map { " (did you mean '\($0)'?)" } ?? ""
                childPath.error(
                    "unknown key '\(key)'\(hint); allowed here: \(allowedKeys.joined(separator: ", "))"
                )
                continue
            }
            entries.append((key, owner.child(keyNode, key: key), valueNode))
        }
    }

    subscript(key: String) -> PolicyNode? { entries.first { $0.key == key }?.value }

    /// The value for a key the format requires; reports its absence at the mapping's position.
    func required(_ key: String) -> PolicyNode? {
        if let value = self[key] { return value }
        owner.error("missing required key '\(key)'")
        return nil
    }

    var keys: [String] { entries.map(\.key) }

    private static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
