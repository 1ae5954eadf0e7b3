import Crypto
import NIOCore

/// `rate_limit`: GCRA per client key, one or several limits checked together. `scope: local`
/// counts in this process's memory store (sharded: no lock shared by all loops), `shared` in the
/// policy's store, so replicas sharing a Redis enforce one combined limit. Answers carry the
/// IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers); a
/// refusal is 429 `rate_limited` with `Retry-After`.
final class RateLimitGuard: Guard {
    let kind = GuardKind.rateLimit.rawValue
    let spec: RateLimitGuardSpec
    private let limits: [GCRALimit]
    private let store: any StateStore
    /// The memory store when it is the one asked: answered at once, without a future.
    private let memory: MemoryStore?
    /// What makes this guard's keys its own: two limits on one route never share state.
    private let keySeed: String
    private let routeName: String
    /// `RateLimit-Policy`, the same on every answer.
    private let policyField: String
    private let names: [String]
    /// For keys made only of `ip` and `route`: the stored key's fixed part (nil: the key is hashed).
    private let plainPrefix: String?
    private let keyUsesAddress: Bool

    static let rateLimited = "rate_limited"

    init(spec: RateLimitGuardSpec, routeName: String, index: Int, local: MemoryStore, shared: any StateStore) {
        self.spec = spec
        self.routeName = routeName
        self.limits = spec.limits.compactMap {
            GCRALimit(limit: $0.count, periodNanoseconds: $0.period.nanoseconds, burst: $0.burst)
        }
        self.store = spec.scope == .local ? local : shared
        self.memory = self.store as? MemoryStore
        self.keySeed = "\(routeName)#\(index)"
        self.names = spec.limits.map { RateLimitFields.name($0.text) }
        let plain = spec.key.allSatisfy { $0 == .ip || $0 == .route }
        self.plainPrefix = plain ? "rl:\(routeName)#\(index):" : nil
        self.keyUsesAddress = spec.key.contains(.ip)
        self.policyField = zip(names, spec.limits).map { name, limit in
            "\(name);q=\(limit.count);w=\(max(limit.period.nanoseconds / 1_000_000_000, 1))"
        }.joined(separator: ", ")
    }

    func check(_ request: GuardRequest) -> GuardDecision {
        let key = storeKey(request)
        if let memory {
            return decide(memory.rateLimitNow(key, limits: limits, cost: 1, client: request.clientIP, now: request.now), request)
        }
        let future = store.rateLimit(key, limits: limits, cost: 1, client: request.clientIP, now: request.now, on: request.eventLoop)
        // Answered on the request's loop, where the request object lives.
        return .pending(
            future.hop(to: request.eventLoop).assumeIsolatedUnsafeUnchecked().map { self.decide($0, request) }.nonisolated()
        )
    }

    private func decide(_ outcome: RateLimitOutcome, _ request: GuardRequest) -> GuardDecision {
        switch outcome {
        case .allowed(let figures):
            request.addResponseHeader("ratelimit-policy", policyField)
            request.addResponseHeader("ratelimit", RateLimitFields.current(names: names, figures: figures))
            return .allow
        case .limited(let figures, let retryAfter):
            let seconds = max(retryAfter, 1)
            return .reject(
                RejectionCode(
                    Self.rateLimited, status: .tooManyRequests,
                    headers: [
                        ("retry-after", String(seconds)), ("ratelimit-policy", policyField),
                        ("ratelimit", RateLimitFields.current(names: names, figures: figures)),
                    ]
                ))
        case .refused(let refusal):
            return .reject(refusal.rejection)
        }
    }

    /// The key the limit is counted under: this guard's seed and the key's parts, hashed, so a
    /// client-chosen value (a header, a claim) is stored as 32 hex characters whatever its length.
    /// A part the request lacks (no such header, no verified token or key) counts by client
    /// address instead, so leaving a header out never escapes the limit.
    func storeKey(_ request: GuardRequest) -> String {
        // A key of the address and the route only holds nothing a client chose: the address's
        // text is bounded, so it is stored as it is, with no hash to compute.
        if let plainPrefix { return keyUsesAddress ? request.addressKey(prefix: plainPrefix) : plainPrefix }
        var input: [UInt8] = []
        input.reserveCapacity(128)
        input.append(contentsOf: keySeed.utf8)
        for part in spec.key {
            var value: String?
            var label = part.description
            switch part {
            case .ip: value = nil
            case .header(let name): value = request.head.headers.first(name: name)
            case .claim(let name): value = request.principal.claim(name)
            case .apiKey: value = request.principal.apiKeyID
            case .route: value = routeName
            }
            if value == nil {
                label = "ip"
                value = request.clientIPText
            }
            input.append(0)
            input.append(contentsOf: label.utf8)
            input.append(0)
            input.append(contentsOf: value!.utf8)
        }
        return "rl:" + HexText.lowercase(SHA256.hash(data: input).prefix(16))
    }
}

/// The IETF RateLimit fields' text (draft-ietf-httpapi-ratelimit-headers-09: a list of policy
/// items, `"name";q=quota;w=window` and `"name";r=remaining;t=reset`).
enum RateLimitFields {
    /// A limit's item name: its rate as written, quoted (`"50/s"`).
    static func name(_ text: String) -> String {
        "\"" + text.filter { $0 != "\"" && $0 != "\\" } + "\""
    }

    /// The limit closest to running out, with what is left of it and when it is whole again.
    static func current(names: [String], figures: [RateLimitFigures]) -> String {
        guard var tightest = figures.indices.first else { return "" }
        for i in figures.indices where figures[i].remaining < figures[tightest].remaining { tightest = i }
        let figure = figures[tightest]
        // Written as bytes into one string of the right size: on every allowed request, so no
        // interpolation and no intermediate strings for the two numbers.
        var name = names[tightest]
        return name.withUTF8 { nameBytes in
            String(unsafeUninitializedCapacity: nameBytes.count + 6 + 2 * ASCII.maxDecimalBytes) { out in
                let raw = UnsafeMutableRawBufferPointer(out)
                var at = 0
                func put(_ bytes: some Sequence<UInt8>) {
                    for byte in bytes {
                        out[at] = byte
                        at += 1
                    }
                }
                put(nameBytes)
                put(";r=".utf8)
                at = ASCII.writeDecimal(Int64(figure.remaining), into: raw, at: at)
                put(";t=".utf8)
                return ASCII.writeDecimal(figure.resetSeconds, into: raw, at: at)
            }
        }
    }
}
