import Crypto
import Foundation

/// New API keys for `palisade keygen`: 32 bytes from the system's CSPRNG, base64url, prefixed so
/// leaked keys are easy to recognise and search for.
public enum APIKeyMaker {
    public static func make() -> (key: String, sha256Hex: String) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key =
            "pk_"
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let digest = HexText.lowercase(SHA256.hash(data: Array(key.utf8)))
        return (key, digest)
    }
}
