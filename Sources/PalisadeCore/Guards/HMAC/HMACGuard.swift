import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Verifies a webhook's HMAC signature over the exact raw body Palisade will forward, with any of
/// the named secret's values (rotation), in constant time, and checks the signed timestamp where
/// the scheme has one. Which value matched is reported, so an operator can see when an old
/// secret is no longer used.
public struct HMACGuard: Guard {
    public var kind: String { GuardKind.hmac.rawValue }
    public var bodyNeed: BodyNeed { .raw }

    let scheme: HMACScheme
    /// One per value of the secret (rotation), pads hashed once here rather than per request.
    let keys: [HMACPads]
    /// `secret=NAME#N` per key, built once rather than per request.
    let matchDetails: [String]
    let secretName: String
    let pastTolerance: Int64?
    let futureTolerance: Int64?
    /// Every header the scheme reads, each allowed once (`HMACScheme.credentialHeaders`), built once.
    let credentialHeaders: [String]

    public static let signatureMissing = RejectionCode("signature_missing", status: .unauthorized)
    public static let signatureInvalid = RejectionCode("signature_invalid", status: .unauthorized)
    public static let timestampOutsideTolerance = RejectionCode("timestamp_outside_tolerance", status: .unauthorized)

    /// Builds the guard; throws a message (the compiler adds the position) for keys that cannot be decoded.
    init(spec: HMACGuardSpec, secrets: [Secret]) throws(GuardConfigurationError) {
        scheme = HMACScheme(spec: spec)
        credentialHeaders = scheme.credentialHeaders
        secretName = spec.secret
        var keys: [HMACPads] = []
        for secret in secrets { keys.append(HMACPads(scheme.algorithm, key: try scheme.key(from: secret))) }
        self.keys = keys
        self.matchDetails = keys.indices.map { "secret=\(spec.secret)#\($0 + 1)" }
        let defaults = scheme.defaultTolerance
        if scheme.usesTimestamp {
            pastTolerance = spec.tolerance.map { $0.nanoseconds / 1_000_000_000 } ?? defaults
            futureTolerance = spec.futureTolerance.map { $0.nanoseconds / 1_000_000_000 } ?? pastTolerance
        } else {
            if spec.tolerance != nil || spec.futureTolerance != nil {
                throw GuardConfigurationError(message: "preset \(spec.preset.rawValue) signs no timestamp; tolerance has nothing to check")
            }
            pastTolerance = nil
            futureTolerance = nil
        }
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        if let repeated = CredentialField.firstRepeated(credentialHeaders, in: request.head.headers) {
            return .reject(.duplicateCredentialHeader(repeated))
        }
        let extracted: HMACScheme.Extracted
        switch scheme.extract(from: request.head.headers) {
        case .success(let value): extracted = value
        case .failure(let code): return .reject(code)
        }
        if let timestamp = extracted.timestamp {
            let now = request.now.seconds
            if let pastTolerance, timestamp < now - pastTolerance { return .reject(Self.timestampOutsideTolerance) }
            if let futureTolerance, timestamp > now + futureTolerance { return .reject(Self.timestampOutsideTolerance) }
        }
        var (before, after) = scheme.signedAffixes(extracted)
        var body = request.body ?? ByteBuffer()
        if scheme.preset == .twilio {
            // Twilio signs the URL (and the sorted form fields), not the raw body.
            guard let signed = TwilioPayload.signedBytes(publicURL: scheme.publicURL, request: request) else {
                return .reject(Self.signatureInvalid)
            }
            (before, after, body) = (signed, [], ByteBuffer())
        }
        for (index, key) in keys.enumerated() {
            let mac = body.withUnsafeReadableBytes { bytes in
                key.tag(before, UnsafeRawBufferPointer(bytes), after)
            }
            for candidate in extracted.signatures where SignatureCoding.constantTimeEquals(mac, candidate) {
                request.verifiedSignature = mac
                return .allowDetailed(matchDetails[index])
            }
        }
        return .reject(Self.signatureInvalid)
    }
}

/// Which value of a rotated secret matched is a name and a position from the policy: bounded, and
/// what an operator watches to retire an old value, so it is a metric label.
extension HMACGuard: CountedGuardDetails {
    var countedDetails: [String] { matchDetails }
}

/// A key, immutable once built (SymmetricKey wraps read-only bytes), shared by every event loop.
struct HMACKey: @unchecked Sendable {
    let key: SymmetricKey
}

extension HMACGuardSpec.Algorithm {
    /// One tag with a key used once (`palisade sign`, tests); guards keep their `HMACPads`.
    func mac(key: SymmetricKey, parts before: [UInt8], _ body: UnsafeRawBufferPointer, _ after: [UInt8]) -> [UInt8] {
        HMACPads(self, key: key).tag(before, body, after)
    }
}
