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

/// Formats one command with hiredis's `redisFormatCommandArgv` (binary-safe: each argument is
/// passed with its length, so a fingerprint or a stored answer may hold any byte).
enum RedisCommandEncoder {
    static func encode(_ arguments: [[UInt8]], into buffer: inout ByteBuffer) {
        // One contiguous copy of every argument, so one pointer base serves them all; the trailing
        // byte keeps the base non-nil when every argument is empty.
        var joined: [UInt8] = []
        joined.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            joined += argument
            lengths.append(argument.count)
        }
        joined.append(0)
        joined.withUnsafeBufferPointer { base in
            let start = UnsafeRawPointer(base.baseAddress!)
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append((start + offset).assumingMemoryBound(to: CChar.self))
                offset += length
            }
            var target: UnsafeMutablePointer<CChar>?
            let written = redisFormatCommandArgv(&target, Int32(arguments.count), &pointers, lengths)
            guard written > 0, let target else {
                // Only an allocation failure gets here; an empty buffer then fails as a protocol error.
                return
            }
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
            redisFreeCommand(target)
        }
    }

    static func encode(_ arguments: [[UInt8]], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64 + arguments.reduce(0) { $0 + $1.count + 16 })
        encode(arguments, into: &buffer)
        return buffer
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
