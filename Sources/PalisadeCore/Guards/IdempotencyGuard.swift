import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Makes unsafe methods safe to retry: the first request with a key is forwarded and its answer
/// kept (status, end-to-end headers, body up to a cap); the same key and the same request get
/// that answer again, marked `idempotent-replayed: true`, without reaching the app; the same key
/// with a different request (method, path or body hash) gets 422; one still in flight gets 409.
/// Answers of 5xx, failures and answers larger than the cap are not kept, so a retry is forwarded.
public struct IdempotencyGuard: Guard {
    public var kind: String { GuardKind.idempotency.rawValue }
    public var bodyNeed: BodyNeed { .raw }

    let spec: IdempotencyGuardSpec
    let methods: [HTTPMethod]
    let routeName: String
    let store: any StateStore
    let lease: Int64

    public static let keyMissing = RejectionCode("idempotency_key_missing", status: .badRequest)
    public static let keyInvalid = RejectionCode("idempotency_key_invalid", status: .badRequest)
    public static let inFlight = RejectionCode("idempotency_in_flight", status: .conflict)
    public static let keyReused = RejectionCode("idempotency_key_reused", status: .unprocessableEntity)

    init(spec: IdempotencyGuardSpec, routeName: String, store: any StateStore, lease: Int64) {
        self.spec = spec
        self.methods = spec.methods.map { HTTPMethod(rawValue: $0) }
        self.routeName = routeName
        self.store = store
        self.lease = lease
    }

    private func clientKey(_ request: GuardRequest) -> String? {
        request.head.headers.first(name: spec.header)
    }

    /// Keys are scoped to the caller's credentials (Authorization or Cookie, hashed), so one
    /// client can never receive another's kept answer by guessing or reusing its key.
    private func storeKey(_ clientKey: String, _ request: GuardRequest) -> String {
        let credentials = request.head.headers.first(name: "authorization") ?? request.head.headers.first(name: "cookie") ?? ""
        let digest = SHA256.hash(data: Array("\(routeName)\u{0}\(clientKey)\u{0}\(credentials)".utf8))
        return "idem:" + HexText.lowercase(digest)
    }

    /// What makes two requests "the same": method, target and body.
    private func fingerprint(_ request: GuardRequest) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array("\(request.head.method.rawValue) \(request.head.uri)\n".utf8))
        if let body = request.body { body.withUnsafeReadableBytes { hasher.update(data: $0) } }
        return Array(hasher.finalize())
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        guard methods.contains(request.head.method) else { return .allow }
        guard let key = clientKey(request) else { return spec.required ? .reject(Self.keyMissing) : .allow }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7e }) else {
            return .reject(Self.keyInvalid)
        }
        let storeKey = storeKey(key, request)
        let fingerprint = fingerprint(request)
        let limit = spec.maxResponseBytes.bytes
        let future = store.reserve(
            storeKey, fingerprint: fingerprint, client: request.clientIP,
            answerBytes: EntrySize.answerAllowance(maxBodyBytes: limit), lease: lease, now: request.now.seconds,
            on: request.eventLoop
        )
        .hop(to: request.eventLoop)
        .assumeIsolatedUnsafeUnchecked()
        .map { outcome -> GuardDecision in
            switch outcome {
            case .reserved:
                request.heldKeys.append(storeKey)
                request.captureLimit = max(request.captureLimit, limit)
                return .allow
            case .inFlight(let held):
                return .reject(SignatureCoding.constantTimeEquals(held, fingerprint) ? Self.inFlight : Self.keyReused)
            case .committed(let record):
                guard SignatureCoding.constantTimeEquals(record.fingerprint, fingerprint), let response = record.response
                else { return .reject(Self.keyReused) }
                return .respond(response)
            case .refused(let refusal):
                // Forwarding without a held key would let two copies reach the app: refuse.
                return .reject(refusal.rejection)
            }
        }
        .nonisolated()
        return .pending(future)
    }

    public func afterResponse(_ request: GuardRequest, status: HTTPResponseStatus) {
        guard methods.contains(request.head.method), let key = clientKey(request) else { return }
        let storeKey = storeKey(key, request)
        guard let index = request.heldKeys.firstIndex(of: storeKey) else { return }
        request.heldKeys.remove(at: index)
        if status.code < 500, let response = request.capturedResponse, response.status == Int(status.code) {
            _ = store.commit(
                storeKey, record: StoredRecord(fingerprint: fingerprint(request), response: response),
                client: request.clientIP, ttl: spec.ttl.nanoseconds / 1_000_000_000, now: request.now.seconds, on: request.eventLoop
            )
        } else {
            _ = store.release(storeKey, on: request.eventLoop)
        }
    }
}
