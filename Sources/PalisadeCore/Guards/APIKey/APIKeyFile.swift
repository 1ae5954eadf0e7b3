import Foundation
import Yams

/// The keys file: ids and SHA-256 hashes of keys, never the keys themselves.
///
/// ```yaml
/// keys:
///   - id: ci-bot
///     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
///     state: enabled            # or revoked
///     expires: 2027-01-01T00:00:00Z   # optional
/// ```
struct APIKeyFile {
    struct Entry: Sendable {
        var id: String
        var hash: [UInt8]
        var revoked: Bool
        /// Unix seconds; nil never expires.
        var expires: Int64?
    }

    static func decode(path: String) -> (entries: [Entry], errors: [PolicyDiagnostic]) {
        let collector = DiagnosticCollector(file: path)
        let start = SourcePosition(line: 1, column: 1, keyPath: "")
        let text: String
        do throws(BoundedFile.Failure) {
            guard let decoded = String(validating: try BoundedFile.contents(of: path), as: UTF8.self) else {
                collector.error("the keys file is not UTF-8", at: start)
                return ([], collector.diagnostics)
            }
            text = decoded
        } catch {
            collector.error(error.message("the keys file"), at: start)
            return ([], collector.diagnostics)
        }
        let root: Node
        switch YAMLComposer.compose(text, diagnostics: collector) {
        case .document(let composed): root = composed
        case .empty: return ([], collector.diagnostics)
        case .failed: return ([], collector.diagnostics)
        }
        var entries: [Entry] = []
        var seenIDs: Set<String> = []
        let top = PolicyNode(node: root, keyPath: "", diagnostics: collector)
        guard let map = top.mapping(allowedKeys: ["keys"]), let list = map.required("keys")?.list() else {
            return ([], collector.diagnostics)
        }
        for item in list {
            guard let entry = item.mapping(allowedKeys: ["id", "sha256", "state", "expires"]) else { continue }
            let id = entry.required("id")?.string()
            var hash: [UInt8]?
            if let hashNode = entry.required("sha256"), let text = hashNode.string() {
                hash = SignatureCoding.hex(text)
                if hash?.count != 32 { hashNode.error("sha256 is the 64 hex digits of the key's SHA-256") }
            }
            let revoked = entry["state"]?.oneOf(["enabled": false, "revoked": true]) ?? false
            var expires: Int64?
            if let expiresNode = entry["expires"], let text = expiresNode.string() {
                if let date = ISO8601DateFormatter().date(from: text) {
                    expires = Int64(date.timeIntervalSince1970)
                } else {
                    expiresNode.error("expires is an RFC 3339 time such as 2027-01-01T00:00:00Z")
                }
            }
            guard let id, let hash, hash.count == 32 else { continue }
            if !seenIDs.insert(id).inserted { item.error("key id '\(id)' is listed twice") }
            entries.append(Entry(id: id, hash: hash, revoked: revoked, expires: expires))
        }
        return (entries, collector.diagnostics.filter { $0.severity == .error })
    }
}
