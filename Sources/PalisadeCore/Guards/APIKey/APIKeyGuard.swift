import Crypto
import Foundation

/// Admits a request whose header carries a known, enabled, unexpired key. Keys are looked up by
/// their SHA-256, so the file holds no usable secret and the lookup's timing depends on the hash,
/// not on how much of a key an attacker got right. The key's id is forwarded to the app and
/// logged; the key never is.
public struct APIKeyGuard: Guard {
    public var kind: String { GuardKind.apiKey.rawValue }

    let header: String
    let forwardHeader: String
    /// Hex SHA-256 -> entry.
    let entries: [String: APIKeyFile.Entry]
    /// `key=ID` per entry, built once.
    let details: [String: String]
    /// Built once: the refusal names the configured header.
    let duplicate: RejectionCode

    public static let missing = RejectionCode("api_key_missing", status: .unauthorized)
    public static let invalid = RejectionCode("api_key_invalid", status: .unauthorized)

    init(spec: APIKeyGuardSpec, entries: [APIKeyFile.Entry]) {
        header = spec.header
        forwardHeader = spec.forwardHeader
        duplicate = .duplicateCredentialHeader(spec.header)
        var byHash: [String: APIKeyFile.Entry] = [:]
        var details: [String: String] = [:]
        for entry in entries {
            byHash[HexText.lowercase(entry.hash)] = entry
            details[entry.id] = "key=\(entry.id)"
        }
        self.entries = byHash
        self.details = details
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        // A client must never choose the id the app sees.
        request.removeUpstreamHeader(forwardHeader)
        let presented: String
        switch CredentialField.lookup(header, in: request.head.headers) {
        case .one(let value) where !value.isEmpty: presented = value
        case .repeated: return .reject(duplicate)
        default: return .reject(Self.missing)
        }
        let digest = Array(SHA256.hash(data: Array(presented.utf8)))
        guard let entry = entries[HexText.lowercase(digest)], SignatureCoding.constantTimeEquals(entry.hash, digest), !entry.revoked
        else { return .reject(Self.invalid) }
        if let expires = entry.expires, request.now.seconds >= expires { return .reject(Self.invalid) }
        // The app learns who called, not the credential.
        request.removeUpstreamHeader(header)
        request.addUpstreamHeader(forwardHeader, entry.id)
        request.principal.apiKeyID = entry.id
        return .allowDetailed(details[entry.id] ?? "key=\(entry.id)")
    }
}
