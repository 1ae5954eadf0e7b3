import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Accepts a delivery id once within its TTL. The id is held while the first request is in
/// flight, committed when the app answers 2xx and released otherwise, so a sender's honest retry
/// after an app failure goes through while a concurrent duplicate gets 409 and a committed one is
/// refused (409) or acknowledged (200, not forwarded), as the policy says.
public struct ReplayGuard: Guard {
    public var kind: String { GuardKind.replay.rawValue }
    public var bodyNeed: BodyNeed {
        if case .json = spec.id { return .raw }
        return .none
    }

    let spec: ReplayGuardSpec
    let routeName: String
    let store: any StateStore
    /// For `id: signature`: the header the route's hmac guard reads.
    let signatureHeaders: [String]
    /// How long an unfinished request holds its id: longer than any answer can take.
    let lease: Int64
    /// For `id: header:NAME`, built once: the refusal when NAME comes twice.
    let duplicate: RejectionCode?
    /// The refusal when the id is missing; for `id: header:NAME` it names NAME, so a sender (or
    /// whoever tests with `palisade sign`) sees which header to send.
    let missing: RejectionCode

    public static let idMissing = RejectionCode("replay_id_missing", status: .badRequest)
    public static let inFlight = RejectionCode("replay_in_flight", status: .conflict)
    public static let detected = RejectionCode("replay_detected", status: .conflict)
    public static let acknowledged = RejectionCode("duplicate_acknowledged", status: .ok)

    init(spec: ReplayGuardSpec, routeName: String, store: any StateStore, signatureHeaders: [String], lease: Int64) {
        self.spec = spec
        self.routeName = routeName
        self.store = store
        self.signatureHeaders = signatureHeaders
        self.lease = lease
        if case .header(let name) = spec.id {
            duplicate = .duplicateCredentialHeader(name)
            missing = RejectionCode(Self.idMissing.code, status: Self.idMissing.status, headerName: name)
        } else {
            duplicate = nil
            missing = Self.idMissing
        }
    }

    /// Whom the store charges for an id. With an `hmac` guard before this one only signed ids get
    /// here, and a busy sender delivers many from few addresses: those count against the store's
    /// budget only, never against a per-client cap that would refuse genuine deliveries.
    func storeClient(_ request: GuardRequest) -> IPAddressBytes? {
        signatureHeaders.isEmpty ? request.clientIP : nil
    }

    /// The store key for this request's id: nil when there is none, a refusal when the id header
    /// came twice (the app could read the copy that was not recorded). Ids are compared exactly,
    /// case included: a sender's id is opaque, and folding it would merge distinct deliveries.
    func storeKey(_ request: GuardRequest) -> Result<String, RejectionCode>? {
        let id: String?
        switch spec.id {
        case .header(let name):
            switch CredentialField.lookup(name, in: request.head.headers) {
            case .one(let value): id = value
            case .absent: id = nil
            case .repeated: return .failure(duplicate ?? .duplicateCredentialHeader(name))
            }
        case .signature:
            if let mac = request.verifiedSignature {
                // The MAC that verified, not the header's text: `sha256=AB…` and `sha256=ab…`, or
                // Stripe's pairs reordered, are one signed message and must be one id.
                id = "mac:" + HexText.lowercase(mac)
            } else {
                // Only when the hmac guard reports rather than enforces: nothing was verified.
                id = signatureHeaders.lazy.compactMap { request.head.headers.first(name: $0) }.first
            }
        case .json(let path):
            id = request.body.flatMap { JSONPath.string(at: path, in: $0) }
        }
        guard let id, !id.isEmpty else { return nil }
        // Hashed: a fixed-length key whatever the sender's id looks like.
        let digest = SHA256.hash(data: Array("\(routeName)\u{0}\(id)".utf8))
        return .success("replay:" + HexText.lowercase(digest))
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        let key: String
        switch storeKey(request) {
        case .success(let found): key = found
        case .failure(let refusal): return .reject(refusal)
        case nil: return .reject(missing)
        }
        let onDuplicate = spec.onDuplicate
        // The store answers on the request's own loop, so the continuation may touch the request.
        let future = store.reserve(
            key, fingerprint: [], client: storeClient(request), answerBytes: 0, lease: lease, now: request.now.seconds,
            on: request.eventLoop
        )
        .hop(to: request.eventLoop)
        .assumeIsolatedUnsafeUnchecked()
        .map { outcome -> GuardDecision in
            switch outcome {
            case .reserved:
                request.heldKeys.append(key)
                return .allow
            case .inFlight:
                return .reject(Self.inFlight)
            case .committed:
                return .reject(onDuplicate == .acknowledge ? Self.acknowledged : Self.detected)
            case .refused(let refusal):
                // Fail closed: an id that cannot be remembered could be replayed.
                return .reject(refusal.rejection)
            }
        }
        .nonisolated()
        return .pending(future)
    }

    public func afterResponse(_ request: GuardRequest, status: HTTPResponseStatus) {
        guard case .success(let key) = storeKey(request), let index = request.heldKeys.firstIndex(of: key) else { return }
        request.heldKeys.remove(at: index)
        if (200..<300).contains(status.code) {
            _ = store.commit(
                key, record: StoredRecord(fingerprint: []), client: storeClient(request), ttl: spec.ttl.nanoseconds / 1_000_000_000,
                now: request.now.seconds, on: request.eventLoop
            )
        } else {
            _ = store.release(key, on: request.eventLoop)
        }
    }
}

/// Reads a string (or number, as text) at a key path in a JSON body.
enum JSONPath {
    static func string(at path: [String], in body: ByteBuffer) -> String? {
        guard let object = body.withUnsafeReadableBytes({ try? JSONSerialization.jsonObject(with: Data($0)) }) else {
            return nil
        }
        var current: Any = object
        for key in path {
            guard let dictionary = current as? [String: Any], let next = dictionary[key] else { return nil }
            current = next
        }
        if let text = current as? String { return text }
        if let number = current as? NSNumber, !(current is Bool) { return number.stringValue }
        return nil
    }
}
