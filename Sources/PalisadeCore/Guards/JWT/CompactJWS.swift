import Foundation

/// A JWS in compact form, split and decoded strictly: three segments, canonical unpadded
/// base64url, a JSON object header and payload. Anything else is `nil`, never a guess.
struct CompactJWS {
    var header: [String: Any]
    var payload: [String: Any]
    var signingInput: [UInt8]
    var signature: [UInt8]

    static let maxTokenBytes = 16 * 1024

    init?(_ token: Substring) {
        guard token.utf8.count <= Self.maxTokenBytes else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
            let headerBytes = Self.base64url(parts[0]), let payloadBytes = Self.base64url(parts[1]),
            let signature = Self.base64url(parts[2]), !signature.isEmpty,
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            let payload = try? JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any],
            !Self.hasDuplicateKeys(payloadBytes), !Self.hasDuplicateKeys(headerBytes)
        else { return nil }
        self.header = header
        self.payload = payload
        self.signingInput = Array((parts[0] + "." + parts[1]).utf8)
        self.signature = signature
    }

    /// RFC 7515 base64url without padding; non-canonical encodings (stray bits) are refused.
    static func base64url(_ text: Substring) -> [UInt8]? {
        guard
            text.utf8.allSatisfy({
                ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f
            })
        else { return nil }
        guard text.utf8.count % 4 != 1, let bytes = SignatureCoding.base64url(text) else { return nil }
        // Canonical: re-encoding gives the same text.
        let again = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return again == text ? bytes : nil
    }

    /// JSONSerialization keeps the last of duplicate keys; a token with duplicates means two
    /// parsers could read two different claims sets, so such tokens are refused.
    static func hasDuplicateKeys(_ json: [UInt8]) -> Bool {
        guard let text = String(bytes: json, encoding: .utf8) else { return true }
        var depth = 0
        var inString = false
        var escaped = false
        var current = ""
        var keysAtDepth: [Int: Set<String>] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            let ch = text[index]
            if inString {
                if escaped {
                    escaped = false
                    current.append(ch)
                } else if ch == "\\" {
                    escaped = true
                    current.append(ch)
                } else if ch == "\"" {
                    inString = false
                    // A string followed by ':' is a key.
                    var look = text.index(after: index)
                    while look < text.endIndex, text[look].isWhitespace { look = text.index(after: look) }
                    if look < text.endIndex, text[look] == ":" {
                        if !(keysAtDepth[depth, default: []].insert(current).inserted) { return true }
                    }
                } else {
                    current.append(ch)
                }
            } else {
                switch ch {
                case "\"":
                    inString = true
                    current = ""
                case "{":
                    depth += 1
                    keysAtDepth[depth] = []
                case "}":
                    keysAtDepth[depth] = nil
                    depth -= 1
                default: break
                }
            }
            index = text.index(after: index)
        }
        return false
    }
}
