import Foundation
import NIOCore
import Testing

@testable import PalisadeCore

/// `store: { kind: redis, redis: {...} }` in the policy, and the pure parts of the Redis store:
/// Cluster slots, key names, the record encoding and the hiredis codec.
@Suite("Redis store: policy and codec")
struct RedisStorePolicyTests {
    static func decode(_ store: String) -> PolicyDecoder.Result {
        PolicyDecoder.decode(yaml: "version: 1\nupstream:\n  url: http://app\nstore:\n\(store)\n", file: "p.yaml")
    }

    @Test("a full redis section decodes to its values; the URL's password never shows when printed")
    func fullSection() throws {
        let result = Self.decode(
            """
              kind: redis
              redis:
                url: "rediss://app:s3cr%21t@redis.internal:6380/2"
                timeout: 80ms
                on_error: local
                pool_size: 3
                tls: { ca_file: /etc/redis-ca.pem }
            """)
        #expect(result.errors.isEmpty, "\(result.errors)")
        let policy = try #require(result.policy)
        #expect(policy.storeKind == .redis)
        let redis = try #require(policy.storeRedis)
        #expect(redis.url?.endpoint == RedisEndpoint(host: "redis.internal", port: 6380))
        #expect(redis.url?.tls == true)
        #expect(redis.url?.username == "app")
        #expect(redis.url?.password?.bytes == Array("s3cr!t".utf8))
        #expect(redis.url?.database == 2)
        #expect(redis.timeout == .milliseconds(80))
        #expect(redis.onError == .local)
        #expect(redis.poolSize == 3)
        #expect(redis.tlsCAFile == "/etc/redis-ca.pem")
        #expect(!"\(redis)".contains("s3cr"))
    }

    @Test("errors name the key path and position; fail_open is a warning; a bad URL is not echoed")
    func errorsAndWarnings() throws {
        let bad = Self.decode(
            """
              kind: redis
              redis: { url: "http://user:hunter2@x", pool_size: 0, on_error: maybe, cluster: [nohost] }
            """)
        let messages = bad.errors.map { "\($0.position.keyPath): \($0.message)" }
        #expect(messages.contains("store.redis.url: not a Redis URL: the URL must start with redis:// or rediss://"), "\(messages)")
        #expect(messages.contains { $0.hasPrefix("store.redis.pool_size: must be between 1 and 64") })
        #expect(messages.contains { $0.hasPrefix("store.redis.on_error: 'maybe' is not one of") })
        #expect(messages.contains("store.redis.cluster[0]: 'nohost' is not host:port"), "\(messages)")
        #expect(!messages.joined().contains("hunter2"))
        let missing = Self.decode("  kind: redis")
        #expect(missing.errors.map(\.message).contains { $0.contains("kind: redis needs a redis: section") })
        let open = Self.decode("  kind: redis\n  redis: { url: redis://r:6379, on_error: fail_open }")
        #expect(open.errors.isEmpty)
        #expect(open.warnings.first?.position.keyPath == "store.redis.on_error")
        #expect(open.warnings.first?.position.line == 6)
        let unused = Self.decode("  kind: memory\n  redis: { url: redis://r:6379 }")
        #expect(unused.warnings.map(\.message) == ["store.redis is not used: kind is memory (write kind: redis to share the store)"])
    }

    @Test("the password can come from a secret; a reload with the same store section keeps the store")
    func passwordSecretAndReload() throws {
        setenv("PALISADE_TEST_REDIS_PASSWORD", "from-env", 1)
        let yaml = """
            version: 1
            upstream: { url: "http://app" }
            store:
              kind: redis
              redis: { url: "redis://127.0.0.1:6379", password: { env: PALISADE_TEST_REDIS_PASSWORD } }
            """
        let (first, _) = try PlanCompiler.load(yaml: yaml, file: "p.yaml", generation: 1)
        let store = try #require(first.store as? ResilientStore)
        #expect(store.primary.configuration.password?.bytes == Array("from-env".utf8))
        #expect(store.mode == .failClosed)
        let (second, _) = try PlanCompiler.load(yaml: yaml, file: "p.yaml", generation: 2, store: first.store)
        #expect(second.store === first.store)
        let changed = yaml.replacingOccurrences(of: "6379", with: "6380")
        let (third, _) = try PlanCompiler.load(yaml: changed, file: "p.yaml", generation: 3, store: first.store)
        #expect(third.store !== first.store)
        // The fallback (what `local` holds) goes over to the new store.
        #expect((third.store as? ResilientStore)?.fallback === store.fallback)
    }

    @Test("Cluster slots follow Redis's CRC16 and hash tags")
    func slots() {
        #expect(RedisClusterSlots.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        #expect(RedisClusterSlots.slot(of: Array("foo".utf8)) == 12182)
        #expect(RedisClusterSlots.slot(of: Array("{user1000}.following".utf8)) == RedisClusterSlots.slot(of: Array("user1000".utf8)))
        #expect(RedisClusterSlots.slot(of: Array("foo{}{bar}".utf8)) == RedisClusterSlots.slot(of: Array("foo{}{bar}".utf8)))
        let key = RedisKey(.ban, "ban:203.0.113.7")
        #expect(key.slot == RedisClusterSlots.slot(of: key.bytes))
        #expect(key.bytes.count == "palisade:ban:{}".utf8.count + 32)
        #expect(
            RedisClusterSlots.redirect("MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: RedisEndpoint(host: "127.0.0.1", port: 6381)))
        #expect(RedisClusterSlots.redirect("ASK 1 [::1]:7000") == .ask(slot: 1, to: RedisEndpoint(host: "::1", port: 7000)))
        #expect(RedisClusterSlots.redirect("ERR wrong") == nil)
    }

    @Test("records round-trip through their Redis encoding; foreign bytes are refused")
    func recordCoding() {
        let record = StoredRecord(
            fingerprint: [0, 1, 255], response: StoredResponse(status: 200, headers: [("a", "b"), ("c", "")], body: [0, 13, 10]))
        #expect(StoredRecordCoding.decode(StoredRecordCoding.committed(record)) == .committed(record))
        #expect(
            StoredRecordCoding.decode(StoredRecordCoding.committed(StoredRecord(fingerprint: [])))
                == .committed(StoredRecord(fingerprint: [])))
        #expect(StoredRecordCoding.decode(StoredRecordCoding.held([9, 9])) == .held(fingerprint: [9, 9]))
        #expect(StoredRecordCoding.decode(Array("c\u{0}\u{0}".utf8)) == nil)
        #expect(StoredRecordCoding.decode([]) == nil)
    }

    @Test("hiredis formats binary-safe commands and parses replies that arrive in pieces")
    func codec() throws {
        let buffer = RedisCommandBuilder.encode([Array("SET".utf8), [0, 13, 10], []])
        #expect(
            buffer.readableBytesView.elementsEqual(Array("*3\r\n$3\r\nSET\r\n$3\r\n".utf8) + [0, 13, 10] + Array("\r\n$0\r\n\r\n".utf8)))
        // One builder serves command after command; numbers are written as Redis reads them.
        var builder = RedisCommandBuilder()
        for _ in 0..<2 {
            builder.reset()
            builder.append("EX")
            builder.append(Int64(0))
            builder.append(Int64(-42))
            builder.append(Int64.min)
            builder.append(Int64(1_000_000_007))
            let encoded = builder.encode(allocator: ByteBufferAllocator())
            #expect(
                String(buffer: encoded)
                    == "*5\r\n$2\r\nEX\r\n$1\r\n0\r\n$3\r\n-42\r\n$20\r\n-9223372036854775808\r\n$10\r\n1000000007\r\n")
        }
        let reader = RedisReplyReader()
        try reader.feed(ByteBufferAllocator().buffer(string: "*3\r\n:12\r\n$-1\r\n$4\r\nab"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBufferAllocator().buffer(string: "cd\r\n-NOSCRIPT x\r\n+OK\r\n"))
        #expect(try reader.next() == .array([.integer(12), .null, .string(Array("abcd".utf8))]))
        #expect(try reader.next() == .error("NOSCRIPT x"))
        #expect(try reader.next() == .status("OK"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBufferAllocator().buffer(string: "?bad\r\n"))
        #expect(throws: RedisReplyReader.ProtocolError.self) { try reader.next() }
    }
}
