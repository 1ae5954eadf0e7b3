import Crypto

/// A Redis key of the store: `palisade:<kind>:{<32 hex digits>}`. The braces are the Cluster hash
/// tag, so each operation's one key decides its slot. The digits are the first 16 bytes of the
/// SHA-256 of the caller's key: callers' keys hold what clients chose (replay ids, idempotency
/// keys, token subjects), so hashing bounds every Redis key to 50 bytes and keeps client text out
/// of key names (and out of `redis-cli --bigkeys`, MONITOR and slow logs).
struct RedisKey: Sendable, Equatable {
    let bytes: [UInt8]

    /// The Cluster slot of the hash tag (CRC16 of the 32 hex digits), computed only when asked:
    /// a single server has no slots (`RedisLoopClient.slot(of:)`).
    var slot: Int {
        let tagStart = bytes.count - 33
        return Int(RedisClusterSlots.crc16(bytes[tagStart..<bytes.count - 1]) & 0x3FFF)
    }

    enum Kind: String {
        /// Replay ids and idempotency keys (a string: held or committed).
        case record = "rec"
        case rateLimit = "rl"
        case counter = "cnt"
        case ban = "ban"

        /// `palisade:<kind>:{`, made once per kind rather than once per key.
        var keyPrefix: [UInt8] {
            switch self {
            case .record: return Self.recordPrefix
            case .rateLimit: return Self.rateLimitPrefix
            case .counter: return Self.counterPrefix
            case .ban: return Self.banPrefix
            }
        }

        private static let recordPrefix = Array("\(RedisKey.prefix)\(Kind.record.rawValue):{".utf8)
        private static let rateLimitPrefix = Array("\(RedisKey.prefix)\(Kind.rateLimit.rawValue):{".utf8)
        private static let counterPrefix = Array("\(RedisKey.prefix)\(Kind.counter.rawValue):{".utf8)
        private static let banPrefix = Array("\(RedisKey.prefix)\(Kind.ban.rawValue):{".utf8)
    }

    static let prefix = "palisade:"

    init(_ kind: Kind, _ key: String) {
        var key = key
        let digest = key.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        var bytes = kind.keyPrefix
        bytes.reserveCapacity(bytes.count + 33)
        for byte in digest.prefix(16) {
            bytes.append(Self.hexDigits[Int(byte >> 4)])
            bytes.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        bytes.append(UInt8(ascii: "}"))
        self.bytes = bytes
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// SCAN's MATCH pattern for every key of one kind.
    static func pattern(_ kind: Kind) -> [UInt8] { Array("\(prefix)\(kind.rawValue):*".utf8) }

    /// The caller's key is kept beside a ban (for the admin listing) up to this many bytes.
    static let maxListedKeyBytes = 256
}

/// How a replay id's or idempotency key's record is kept: one string per key (`h` + fingerprint
/// while held; `c` + fingerprint and answer once committed), so reserve is one SET NX and commit
/// one SET. Lengths are 4-byte big-endian.
enum StoredRecordCoding {
    static func held(_ fingerprint: [UInt8]) -> [UInt8] { [UInt8(ascii: "h")] + fingerprint }

    static func committed(_ record: StoredRecord) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "c")]
        append(record.fingerprint, to: &out)
        guard let response = record.response else {
            out.append(0)
            return out
        }
        out.append(1)
        appendNumber(response.status, to: &out)
        appendNumber(response.headers.count, to: &out)
        for (name, value) in response.headers {
            append(Array(name.utf8), to: &out)
            append(Array(value.utf8), to: &out)
        }
        append(response.body, to: &out)
        return out
    }

    enum Decoded: Equatable {
        case held(fingerprint: [UInt8])
        case committed(StoredRecord)
    }

    /// Nil for bytes this code did not write.
    static func decode(_ bytes: [UInt8]) -> Decoded? {
        guard let first = bytes.first else { return nil }
        var rest = bytes.dropFirst()
        switch first {
        case UInt8(ascii: "h"):
            return .held(fingerprint: Array(rest))
        case UInt8(ascii: "c"):
            guard let fingerprint = take(&rest), let flag = rest.popFirst() else { return nil }
            guard flag == 1 else { return flag == 0 ? .committed(StoredRecord(fingerprint: fingerprint)) : nil }
            guard let status = takeNumber(&rest), let count = takeNumber(&rest), count <= rest.count else { return nil }
            var headers: [(String, String)] = []
            for _ in 0..<count {
                guard let name = take(&rest), let value = take(&rest) else { return nil }
                headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
            guard let body = take(&rest), rest.isEmpty else { return nil }
            return .committed(
                StoredRecord(fingerprint: fingerprint, response: StoredResponse(status: status, headers: headers, body: body)))
        default:
            return nil
        }
    }

    private static func appendNumber(_ value: Int, to out: inout [UInt8]) {
        let v = UInt32(clamping: value)
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    private static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
        appendNumber(bytes.count, to: &out)
        out += bytes
    }

    private static func takeNumber(_ rest: inout ArraySlice<UInt8>) -> Int? {
        guard rest.count >= 4 else { return nil }
        let b = Array(rest.prefix(4))
        rest = rest.dropFirst(4)
        return Int(UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]))
    }

    private static func take(_ rest: inout ArraySlice<UInt8>) -> [UInt8]? {
        guard let count = takeNumber(&rest), count <= rest.count else { return nil }
        let bytes = Array(rest.prefix(count))
        rest = rest.dropFirst(count)
        return bytes
    }
}
