import Crypto

/// An HMAC key with both padded blocks already hashed (RFC 2104, section 4: the intermediate
/// results of `K ⊕ ipad` and `K ⊕ opad` may be precomputed once per key).
///
/// swift-crypto's `HMAC<H>(key:)` pads and hashes the key again for every message, and its
/// `update(data:)` walks `DataProtocol` regions through generic code that is not specialised
/// across the module boundary. On the signed-webhook bench route (`webhook1k`) that took about
/// three quarters of the guard's time, against a quarter for hashing the body itself. Here a
/// request costs a copy of two hash states, the hashing of its own bytes and two finalisations.
/// Verified against the Wycheproof HMAC-SHA256 vectors (keys shorter than, equal to and longer
/// than a block) in `HMACGuardTests`.
struct HMACPads: @unchecked Sendable {
    // @unchecked: swift-crypto's hash types are not marked Sendable because their state lives in
    // a class behind copy-on-write. The stored states are never updated: each use takes a local
    // copy, whose first update finds the class instance shared (these pads still hold it) and so
    // works on a private copy. Event loops therefore only ever read the shared instance.
    private enum States {
        case sha1(inner: Insecure.SHA1, outer: Insecure.SHA1)
        case sha256(inner: SHA256, outer: SHA256)
        case sha512(inner: SHA512, outer: SHA512)
    }

    private let states: States

    init(_ algorithm: HMACGuardSpec.Algorithm, key: SymmetricKey) {
        switch algorithm {
        case .sha1:
            let (inner, outer) = Self.padded(Insecure.SHA1.self, key)
            states = .sha1(inner: inner, outer: outer)
        case .sha256:
            let (inner, outer) = Self.padded(SHA256.self, key)
            states = .sha256(inner: inner, outer: outer)
        case .sha512:
            let (inner, outer) = Self.padded(SHA512.self, key)
            states = .sha512(inner: inner, outer: outer)
        }
    }

    /// The hash states after absorbing `K ⊕ ipad` and `K ⊕ opad`, where K is the key, hashed
    /// first if longer than a block, then zero-filled to the block size.
    private static func padded<H: HashFunction>(_: H.Type, _ key: SymmetricKey) -> (H, H) {
        var block = key.withUnsafeBytes { Array($0) }
        if block.count > H.blockByteCount { block = Array(H.hash(data: block)) }
        block += [UInt8](repeating: 0, count: H.blockByteCount - block.count)
        var inner = H()
        inner.update(data: block.map { $0 ^ 0x36 })
        var outer = H()
        outer.update(data: block.map { $0 ^ 0x5c })
        return (inner, outer)
    }

    /// The tag of `before ‖ body ‖ after`.
    func tag(_ before: [UInt8], _ body: UnsafeRawBufferPointer, _ after: [UInt8]) -> [UInt8] {
        switch states {
        case .sha1(let inner, let outer): return Self.tag(inner, outer, before, body, after)
        case .sha256(let inner, let outer): return Self.tag(inner, outer, before, body, after)
        case .sha512(let inner, let outer): return Self.tag(inner, outer, before, body, after)
        }
    }

    @inline(__always)
    private static func tag<H: HashFunction>(
        _ inner: H, _ outer: H, _ before: [UInt8], _ body: UnsafeRawBufferPointer, _ after: [UInt8]
    ) -> [UInt8] {
        var inner = inner
        if !before.isEmpty { before.withUnsafeBytes { inner.update(bufferPointer: $0) } }
        inner.update(bufferPointer: body)
        if !after.isEmpty { after.withUnsafeBytes { inner.update(bufferPointer: $0) } }
        var outer = outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { Array($0) }
    }
}
