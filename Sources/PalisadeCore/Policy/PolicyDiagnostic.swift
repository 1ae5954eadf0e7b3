/// Where in the policy file a value was written: 1-based line and column plus the key path
/// (`routes[2].guards[0].ip.allow[1]`), so an error can be found without reading the whole file.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var keyPath: String

    public init(line: Int, column: Int, keyPath: String) {
        self.line = line
        self.column = column
        self.keyPath = keyPath
    }

    public var description: String { "\(line):\(column)" }
}

/// One finding about a policy file: an error that stops it from loading, or a warning about a risky choice.
public struct PolicyDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public var severity: Severity
    public var file: String
    public var position: SourcePosition
    public var message: String

    public init(severity: Severity, file: String, position: SourcePosition, message: String) {
        self.severity = severity
        self.file = file
        self.position = position
        self.message = message
    }

    /// `file:line:column: error: key.path: message`, the shape editors and CI annotators understand.
    public var description: String {
        let path = position.keyPath.isEmpty ? "" : "\(position.keyPath): "
        return "\(file):\(position.line):\(position.column): \(severity.rawValue): \(path)\(message)"
    }
}

/// Thrown when a policy cannot be loaded; carries every error found, not only the first.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [PolicyDiagnostic]
    public init(diagnostics: [PolicyDiagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
