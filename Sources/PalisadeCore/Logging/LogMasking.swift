/// What an access line's values go through before they are written: the policy's masker
/// (`log.mask`, `log.secret_names`) and the rules that hold whatever the policy says. Built once
/// per plan; shared read-only by every loop.
final class LogMasking: Sendable {
    let masker: PIIMasker
    let query: URLEncodedMasking
    /// `log.headers` decided once: the names a line may carry are the policy's.
    private let hiddenHeaders: [String: Bool]

    init(_ spec: LogSpec) {
        let masker = PIIMasker(classes: spec.mask, secretNames: spec.secretNames)
        self.masker = masker
        query = URLEncodedMasking(masker: masker, fields: nil)
        var hidden: [String: Bool] = [:]
        for name in spec.headers { hidden[name.lowercased()] = Self.hides(name.lowercased(), masker) }
        hiddenHeaders = hidden
    }

    /// A logged header whose name says it holds a secret (`x-session-token`, `x-auth`) is
    /// replaced whole, as a query parameter of that name would be.
    func hidesHeader(_ name: String) -> Bool {
        hiddenHeaders[name] ?? Self.hides(name, masker)
    }

    /// The `x-` of a custom header is no part of what it holds: `x-session-token` is a session_token.
    private static func hides(_ name: String, _ masker: PIIMasker) -> Bool {
        masker.isSecretName(name) || (name.hasPrefix("x-") && masker.isSecretName(name.dropFirst(2)))
    }

    static let replacement = "[masked]"
}
