import NIOCore

/// A route's `log.body`: the first `maxBytes` of request and answer bodies of the listed content
/// types, masked (JSON by value and by field name or path, forms by parameter, other text as free
/// text), written into the access line. Built once per plan.
final class BodyLogging: Sendable {
    enum Kind: Sendable { case json, form, text }

    let maxBytes: Int
    private let contentTypes: [String]
    private let json: JSONBodyMasker
    private let form: FormBodyMasker
    private let masker: PIIMasker

    init(_ spec: LogBodySpec, masker: PIIMasker) {
        maxBytes = spec.maxBytes.bytes
        contentTypes = spec.contentTypes.map { $0.lowercased() }
        json = JSONBodyMasker(masker: masker, fields: spec.fields)
        form = FormBodyMasker(masker: masker, fields: spec.fields)
        self.masker = masker
    }

    /// How a body of this `Content-Type` is masked, or nil when the route does not log it.
    func kind(of contentType: Substring?) -> Kind? {
        guard let contentType else { return nil }
        // The common answer first, without making a lower-cased copy.
        if contentType.utf8.elementsEqual("application/json".utf8) {
            return contentTypes.contains("application/json") || contentTypes.contains("*/*") ? .json : nil
        }
        let media = String(contentType.prefix { $0 != ";" }.filter { $0 != " " && $0 != "\t" }).lowercased()
        guard contentTypes.contains(media) || contentTypes.contains("*/*") else { return nil }
        if media == "application/json" || media.hasSuffix("+json") { return .json }
        if media == "application/x-www-form-urlencoded" { return .form }
        return .text
    }

    func masked(_ body: ByteBuffer, as kind: Kind) -> [UInt8] {
        body.withUnsafeReadableBytes { bytes in
            switch kind {
            case .json: return json.mask(bytes)
            case .form: return form.mask(bytes)
            case .text:
                var out: [UInt8] = []
                masker.mask(bytes, into: &out)
                return out
            }
        }
    }
}

/// The captured start of one body: at most `limit` bytes, and whether more came.
struct CapturedBody {
    let kind: BodyLogging.Kind
    let limit: Int
    var bytes: ByteBuffer
    var truncated = false

    init(kind: BodyLogging.Kind, limit: Int, allocator: ByteBufferAllocator) {
        self.kind = kind
        self.limit = limit
        bytes = allocator.buffer(capacity: min(limit, 1024))
    }

    mutating func append(_ part: ByteBuffer) {
        let room = limit - bytes.readableBytes
        guard room > 0 else {
            if part.readableBytes > 0 { truncated = true }
            return
        }
        if part.readableBytes > room {
            truncated = true
            bytes.writeImmutableBuffer(part.getSlice(at: part.readerIndex, length: room)!)
        } else {
            bytes.writeImmutableBuffer(part)
        }
    }
}

extension UpstreamResponseHead {
    private static let contentTypeName = Array("content-type:".utf8)

    /// The answer's `Content-Type` value, found in the header block as the app sent it (a scan
    /// of the bytes: no String of the whole block).
    var contentType: Substring? {
        headerBlock.withUnsafeReadableBytes { block -> Substring? in
            let name = Self.contentTypeName
            var lineStart = 0
            while lineStart + name.count <= block.count {
                var matches = true
                for (offset, expected) in name.enumerated() {
                    let byte = block[lineStart + offset]
                    let lower = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte
                    if lower != expected {
                        matches = false
                        break
                    }
                }
                var lineEnd = lineStart
                while lineEnd < block.count && block[lineEnd] != 0x0d && block[lineEnd] != 0x0a { lineEnd += 1 }
                if matches {
                    var valueStart = lineStart + name.count
                    while valueStart < lineEnd && (block[valueStart] == 0x20 || block[valueStart] == 0x09) { valueStart += 1 }
                    return Substring(decoding: UnsafeRawBufferPointer(rebasing: block[valueStart..<lineEnd]), as: UTF8.self)
                }
                lineStart = lineEnd
                while lineStart < block.count && (block[lineStart] == 0x0d || block[lineStart] == 0x0a) { lineStart += 1 }
            }
            return nil
        }
    }
}
