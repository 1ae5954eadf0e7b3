/// What an access line's values go through before they are written: the policy's masker
/// (`log.mask`, `log.secret_names`) and the rules that hold whatever the policy says. Built once
/// per plan; shared read-only by every loop.
final class LogMasking: Sendable {
    let masker: PIIMasker
    let query: URLEncodedMasking

    init(_ spec: LogSpec) {
        masker = PIIMasker(classes: spec.mask, secretNames: spec.secretNames)
        query = URLEncodedMasking(masker: masker, fields: nil)
    }

    /// A logged header whose name says it holds a secret (`x-session-token`, `x-auth`) is
    /// replaced whole, as a query parameter of that name would be.
    /// The `x-` of a custom header is no part of what it holds: `x-session-token` is a session_token.
    func hidesHeader(_ name: String) -> Bool {
        masker.isSecretName(name) || (name.hasPrefix("x-") && masker.isSecretName(name.dropFirst(2)))
    }

    static let replacement = "[masked]"
}
