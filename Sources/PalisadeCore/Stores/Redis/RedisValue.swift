import CHiredis
import NIOCore

/// One Redis reply, copied out of hiredis's memory so it can cross futures (hiredis's reply tree
/// is freed as soon as it is read).
enum RedisValue: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case null
    case error(String)
    case array([RedisValue])

    var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .string(let bytes): return Int64(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    var bytes: [UInt8]? {
        if case .string(let bytes) = self { return bytes }
        return nil
    }

    var text: String? {
        switch self {
        case .string(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }

    var elements: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

/// Builds one command's arguments and formats it with hiredis's `redisFormatCommandArgv`
/// (binary-safe: each argument is passed with its length, so a fingerprint or a stored answer may
/// hold any byte). The arguments are laid end to end in one array, numbers written as digits in
/// place, and the arrays are kept between commands: a loop's builder formats each guard operation
/// without allocating anything but hiredis's output and the buffer it is copied into.
struct RedisCommandBuilder {
    private var joined: [UInt8] = []
    private var lengths: [Int] = []
    private var pointers: [UnsafePointer<CChar>?] = []

    init() {
        joined.reserveCapacity(256)
        lengths.reserveCapacity(16)
        pointers.reserveCapacity(16)
    }

    mutating func reset() {
        joined.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
    }

    mutating func append(_ argument: some Collection<UInt8>) {
        joined.append(contentsOf: argument)
        lengths.append(argument.count)
    }

    mutating func append(_ argument: String) {
        var argument = argument
        argument.withUTF8 { append($0) }
    }

    /// A decimal integer, as Redis reads numbers from arguments.
    mutating func append(_ number: Int64) {
        ASCII.withDecimal(number) { append($0) }
    }

    /// `EVALSHA <sha> 1 <key>`: the head of every script call; the script's own arguments follow.
    mutating func script(_ script: RedisScript, key: RedisKey) {
        reset()
        append("EVALSHA")
        append(script.sha1)
        append("1")
        append(key.bytes)
    }

    /// The command formatted by hiredis, appended to `buffer`.
    mutating func encode(into buffer: inout ByteBuffer) {
        // The trailing byte keeps the base non-nil when every argument is empty.
        joined.append(0)
        defer { joined.removeLast() }
        let lengths = self.lengths
        pointers.removeAll(keepingCapacity: true)
        joined.withUnsafeBufferPointer { base in
            let start = UnsafeRawPointer(base.baseAddress!)
            var offset = 0
            for length in lengths {
                pointers.append((start + offset).assumingMemoryBound(to: CChar.self))
                offset += length
            }
            var target: UnsafeMutablePointer<CChar>?
            let written = pointers.withUnsafeMutableBufferPointer { argv in
                redisFormatCommandArgv(&target, Int32(lengths.count), argv.baseAddress, lengths)
            }
            guard written > 0, let target else {
                // Only an allocation failure gets here; an empty buffer then fails as a protocol error.
                return
            }
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
            redisFreeCommand(target)
        }
    }

    mutating func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 32 + joined.count + 16 * lengths.count)
        encode(into: &buffer)
        return buffer
    }

    /// One command from whole arguments (the rare paths: handshake, admin, Cluster map).
    static func encode(_ arguments: [[UInt8]], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var builder = RedisCommandBuilder()
        for argument in arguments { builder.append(argument) }
        return builder.encode(allocator: allocator)
    }

    static func encode(_ arguments: [String], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var builder = RedisCommandBuilder()
        for argument in arguments { builder.append(argument) }
        return builder.encode(allocator: allocator)
    }
}

/// Parses replies with a hiredis `redisReader`: bytes from the socket go in as they arrive, whole
/// replies come out. Confined to its connection's event loop.
final class RedisReplyReader {
    struct ProtocolError: Error {}

    private let reader: UnsafeMutablePointer<redisReader>

    init() { reader = redisReaderCreate() }

    deinit { redisReaderFree(reader) }

    func feed(_ buffer: ByteBuffer) throws {
        let status = buffer.withUnsafeReadableBytes { raw -> Int32 in
            guard let base = raw.baseAddress, raw.count > 0 else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard status == REDIS_OK else { throw ProtocolError() }
    }

    /// The next whole reply, or nil until more bytes arrive.
    func next() throws -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw ProtocolError() }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(reply.assumingMemoryBound(to: redisReply.self))
    }

    private static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            guard let str = r.str else { return .string([]) }
            return .string(Array(UnsafeRawBufferPointer(start: str, count: r.len)))
        case REDIS_REPLY_STATUS:
            return .status(r.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR:
            return .error(r.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            guard let element = r.element else { return .array([]) }
            return .array((0..<r.elements).map { index in element[index].map(value) ?? .null })
        default:
            return .null
        }
    }
}
