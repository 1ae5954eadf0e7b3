import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// The hmac guard's primitives against published vectors: Wycheproof HMAC-SHA256 (valid tags
/// accepted, every invalid one refused) and GitHub's documented example delivery.
@Suite("HMAC guard")
struct HMACGuardTests {
    struct WycheproofCase: Sendable, CustomStringConvertible {
        var id: Int
        var key: [UInt8]
        var message: [UInt8]
        var tag: [UInt8]
        var valid: Bool
        var tagSize: Int
        var description: String { "tc\(id)" }
    }

    static func wycheproof() throws -> [WycheproofCase] {
        let url = try #require(TestVectors.url("hmac_sha256_test", withExtension: "json"))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var cases: [WycheproofCase] = []
        for group in root["testGroups"] as? [[String: Any]] ?? [] {
            let tagSize = (group["tagSize"] as? Int ?? 256) / 8
            for test in group["tests"] as? [[String: Any]] ?? [] {
                cases.append(
                    WycheproofCase(
                        id: test["tcId"] as? Int ?? 0,
                        key: SignatureCoding.hex(test["key"] as? String ?? "") ?? [],
                        message: SignatureCoding.hex(test["msg"] as? String ?? "") ?? [],
                        tag: SignatureCoding.hex(test["tag"] as? String ?? "") ?? [],
                        valid: test["result"] as? String == "valid",
                        tagSize: tagSize
                    )
                )
            }
        }
        return cases
    }

    @Test("Wycheproof HMAC-SHA256: 174 cases, valid accepted, invalid refused")
    func wycheproofVectors() throws {
        let cases = try Self.wycheproof()
        #expect(cases.count == 174)
        for c in cases {
            let mac = c.message.withUnsafeBytes { body in
                HMACGuardSpec.Algorithm.sha256.mac(key: .init(data: c.key), parts: [], body, [])
            }
            // Palisade compares whole tags only; a truncated tag is never a match.
            let accepted = SignatureCoding.constantTimeEquals(mac, c.tag)
            if c.valid && c.tagSize == 32 {
                #expect(accepted, "tc\(c.id) should verify")
            } else if !c.valid {
                #expect(!accepted, "tc\(c.id) must be refused")
            }
        }
    }

    @Test("hex signatures decode from strings and substrings; odd lengths, empty text and non-hex digits are refused")
    func hexDecoding() {
        #expect(SignatureCoding.hex("00ff7Aa9") == [0x00, 0xff, 0x7a, 0xa9])
        let header = "sha256=DEADbeef"
        #expect(SignatureCoding.hex(header.dropFirst(7)) == [0xde, 0xad, 0xbe, 0xef])
        #expect(SignatureCoding.hex("") == nil)
        #expect(SignatureCoding.hex("abc") == nil)
        for bad in ["g0", "0g", "00 0", "0x00", "ab-c", "é0"] {
            #expect(SignatureCoding.hex(bad) == nil, "\(bad)")
        }
        let bytes = (0...255).map { UInt8($0) }
        #expect(SignatureCoding.hex(bytes.map { String(format: "%02x", $0) }.joined()) == bytes)
    }

    /// The precomputed pads against swift-crypto's own HMAC, for every algorithm, keys around the
    /// block size (where the key is used as it is, zero-filled, or hashed first) and messages split
    /// anywhere between the signed prefix, the body and the suffix.
    @Test(
        "precomputed HMAC pads give swift-crypto's HMAC tags for SHA-1, SHA-256, SHA-512",
        arguments: [
            HMACGuardSpec.Algorithm.sha1, .sha256, .sha512,
        ])
    func padsMatchSwiftCrypto(algorithm: HMACGuardSpec.Algorithm) {
        let block = algorithm == .sha512 ? 128 : 64
        var generator = SystemRandomNumberGenerator()
        for keyLength in [0, 1, 20, block - 1, block, block + 1, 2 * block + 3] {
            let keyBytes = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let key = SymmetricKey(data: keyBytes)
            let pads = HMACPads(algorithm, key: key)
            for messageLength in [0, 1, 55, 64, 1024] {
                let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let expected: [UInt8]
                switch algorithm {
                case .sha1: expected = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
                case .sha256: expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
                case .sha512: expected = Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
                }
                let cut1 = messageLength / 3
                let cut2 = messageLength - messageLength / 4
                let tag = message[cut1..<cut2].withUnsafeBytes { body in
                    pads.tag(Array(message[..<cut1]), body, Array(message[cut2...]))
                }
                #expect(tag == expected, "key \(keyLength) bytes, message \(messageLength) bytes")
                // The same pads serve any number of messages: a second use gives the same tag.
                let again = message.withUnsafeBytes { pads.tag([], $0, []) }
                #expect(again == expected)
            }
        }
    }

    /// Every event loop uses a guard's pads at once; each use must start from the stored states,
    /// never from another thread's half-updated copy.
    @Test("one set of pads used from several threads at once gives every thread the right tags")
    func padsSharedAcrossThreads() {
        let key = SymmetricKey(data: Array("shared-secret".utf8))
        let pads = HMACPads(.sha256, key: key)
        let messages = (0..<8).map { i in Array("message \(i) ".utf8) + [UInt8](repeating: UInt8(i), count: 700) }
        let expected = messages.map { Array(HMAC<SHA256>.authenticationCode(for: $0, using: key)) }
        let mismatches = NIOLockedValueBox(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var wrong = 0
            for round in 0..<2000 {
                let index = (worker + round) % messages.count
                let tag = messages[index].withUnsafeBytes { pads.tag([], $0, []) }
                if tag != expected[index] { wrong += 1 }
            }
            mismatches.withLockedValue { $0 += wrong }
        }
        #expect(mismatches.withLockedValue { $0 } == 0)
    }

    static func request(_ headers: [(String, String)], body: String, now: Int64) -> GuardRequest {
        let request = GuardRequest(eventLoop: EmbeddedEventLoop())
        request.head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: HTTPHeaders(headers))
        request.body = ByteBuffer(string: body)
        request.now = WallClock.Instant(nanosecondsSinceEpoch: now * 1_000_000_000)
        return request
    }

    static func guardFor(_ preset: HMACGuardSpec.Preset, secrets: [String]) throws -> HMACGuard {
        let spec = HMACGuardSpec(
            preset: preset, secret: "s", secretPosition: .init(line: 1, column: 1, keyPath: ""), tolerance: nil,
            futureTolerance: nil, generic: nil
        )
        return try HMACGuard(spec: spec, secrets: secrets.map { Secret(Array($0.utf8)) })
    }

    @Test("GitHub's documented example delivery verifies; one flipped hex digit does not")
    func githubExample() throws {
        // https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
        let guardItem = try Self.guardFor(.github, secrets: ["It's a Secret to Everybody"])
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        let bad = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"
        if case .allowDetailed(let detail) = guardItem.check(Self.request([("X-Hub-Signature-256", good)], body: "Hello, World!", now: 0)) {
            #expect(detail == "secret=s#1")
        } else {
            Issue.record("the documented signature was refused")
        }
        guard case .reject(let code) = guardItem.check(Self.request([("X-Hub-Signature-256", bad)], body: "Hello, World!", now: 0))
        else {
            Issue.record("a wrong signature passed")
            return
        }
        #expect(code == HMACGuard.signatureInvalid)
    }

    @Test("a secret's description never shows its bytes")
    func secretIsRedacted() {
        let secret = Secret(Array("hunter2".utf8))
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!"\(Mirror(reflecting: secret).children.map { $0 })".contains("104"))
    }

    @Test("tolerance on a preset without timestamps is a configuration error")
    func toleranceWithoutTimestamp() {
        let spec = HMACGuardSpec(
            preset: .github, secret: "s", secretPosition: .init(line: 1, column: 1, keyPath: ""),
            tolerance: .seconds(60), futureTolerance: nil, generic: nil
        )
        #expect(throws: GuardConfigurationError.self) { try HMACGuard(spec: spec, secrets: [Secret([1])]) }
    }

    static func standardWebhooksGuard(secret: String) throws -> HMACGuard {
        let spec = HMACGuardSpec(
            preset: .standardWebhooks, secret: "sw", secretPosition: .init(line: 1, column: 1, keyPath: ""),
            tolerance: nil, futureTolerance: nil, generic: nil
        )
        return try HMACGuard(spec: spec, secrets: [Secret(Array(secret.utf8))])
    }

    static func accepted(_ decision: GuardDecision) -> Bool {
        switch decision {
        case .allow, .allowDetailed: return true
        default: return false
        }
    }

    @Test("Standard Webhooks negative cases from the reference libraries, with the vector's clock")
    func standardWebhooksNegativeCases() throws {
        let url = try #require(TestVectors.url("standard-webhooks", withExtension: "json"))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try #require(root["negative_cases"] as? [[String: Any]])
        #expect(cases.count == 19)
        for c in cases {
            let id = c["id"] as? String ?? "?"
            let headers = (c["headers"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let guardItem = try Self.standardWebhooksGuard(secret: c["secret"] as? String ?? "")
            let decision = guardItem.check(Self.request(headers, body: c["payload"] as? String ?? "", now: 1_614_265_330))
            let expected = c["expected_verdict_frozen_clock"] as? String == "accept"
            #expect(Self.accepted(decision) == expected, "\(id): expected \(expected ? "accept" : "reject")")
        }
    }

    @Test("Standard Webhooks timestamps: 299 s off either way accepted, 301 s refused", arguments: [-301, -299, 0, 299, 301])
    func standardWebhooksTolerance(_ offset: Int64) throws {
        let guardItem = try Self.standardWebhooksGuard(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let headers = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ]
        // A signature made `offset` seconds from now is the same as the clock moved by -offset.
        let decision = guardItem.check(Self.request(headers, body: #"{"test": 2432232314}"#, now: 1_614_265_330 - offset))
        #expect(Self.accepted(decision) == (abs(offset) <= 300))
    }

    @Test("Twilio's documented example signature verifies")
    func twilioExample() throws {
        // https://www.twilio.com/docs/usage/security#validating-requests
        let spec = HMACGuardSpec(
            preset: .twilio, secret: "t", secretPosition: .init(line: 1, column: 1, keyPath: ""), tolerance: nil,
            futureTolerance: nil, generic: nil, publicURL: "https://mycompany.com"
        )
        let guardItem = try HMACGuard(spec: spec, secrets: [Secret(Array("12345".utf8))])
        let request = Self.request(
            [("X-Twilio-Signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="), ("Content-Type", "application/x-www-form-urlencoded")],
            body: "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212",
            now: 0
        )
        request.head.uri = "/myapp.php?foo=1&bar=2"
        #expect(Self.accepted(guardItem.check(request)))
    }

    @Test(
        "guard configurations that would check nothing are refused by the decoder, with positions",
        arguments: [
            ("hmac: { preset: github, secret: s, tolerance: 5m }", "signs no timestamp"),
            ("replay: { id: signature, ttl: 1h }", "needs an hmac guard before it"),
            ("hmac: { preset: generic, secret: s, header: x-sig, timestamp_header: x-ts }", "checked but not signed"),
            ("hmac: { preset: twilio, secret: s }", "missing required key 'public_url'"),
            ("hmac: { preset: stripe, secret: nope }", "secret 'nope' is not declared"),
        ])
    func refusedConfigurations(_ guardYAML: String, _ message: String) {
        let yaml = """
            version: 1
            upstream: { url: "http://127.0.0.1:3000" }
            secrets:
              s: { value: "x" }
            routes:
              - name: r
                match: { prefix: / }
                guards:
                  - \(guardYAML)
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: "g.yaml")
        #expect(result.policy == nil)
        #expect(result.errors.contains { $0.message.contains(message) && $0.position.line >= 8 }, "\(result.errors)")
    }
}
