import Crypto
import Foundation

/// Twilio's signed bytes: the URL it called, then each form field as name+value, sorted by name
/// (and value). For JSON bodies Twilio puts `bodySHA256=<hex>` in the URL and signs only the URL;
/// that hash must then match the body, or the body could be swapped under a valid signature.
enum TwilioPayload {
    static func signedBytes(publicURL: String, request: GuardRequest) -> [UInt8]? {
        let target = request.head.uri
        guard target.hasPrefix("/") else { return nil }
        let url = publicURL + target
        if let bodyHash = queryValue("bodySHA256", in: target) {
            let actual =
                request.body.map { b in b.withUnsafeReadableBytes { Array(SHA256.hash(data: $0)) } } ?? Array(SHA256.hash(data: [UInt8]()))
            guard let expected = SignatureCoding.hex(bodyHash), SignatureCoding.constantTimeEquals(actual, expected) else {
                return nil
            }
            return Array(url.utf8)
        }
        var signed = Array(url.utf8)
        let contentType = request.head.headers.first(name: "content-type")?.lowercased() ?? ""
        if contentType.hasPrefix("application/x-www-form-urlencoded"), let body = request.body {
            let text = body.getString(at: body.readerIndex, length: body.readableBytes) ?? ""
            let fields = text.split(separator: "&").compactMap { pair -> (String, String)? in
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = formDecode(kv[0]) else { return nil }
                return (name, kv.count > 1 ? formDecode(kv[1]) ?? "" : "")
            }
            for (name, value) in fields.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
                signed += Array(name.utf8) + Array(value.utf8)
            }
        }
        return signed
    }

    private static func formDecode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    private static func queryValue(_ name: String, in target: String) -> String? {
        guard let query = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == name { return String(kv[1]) }
        }
        return nil
    }
}
