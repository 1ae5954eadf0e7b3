import Foundation

/// Reads a file Palisade trusts to be small (the policy, keys files, secret files) without
/// trusting its size: a file larger than the limit is refused from its `fstat` size before a
/// byte is read, and at most `limit + 1` bytes are ever read, so a file that grows (or a pipe
/// that claims no size) cannot make the process allocate more than the limit either.
enum BoundedFile {
    /// The cap on every policy, keys, JWKS, PEM and secret file: far above any real one (a policy
    /// with hundreds of routes is tens of KiB) and small enough that reading it costs nothing.
    static let defaultLimit = 1 << 20

    enum Failure: Error, Equatable {
        /// The system's reason (`errno`), said in the message: a missing file, a permission, a directory.
        case unreadable(errno: Int32)
        /// `size` is what `fstat` reported, or `limit + 1` when the excess was found while reading.
        case tooLarge(size: Int, limit: Int)

        /// The end of a diagnostic sentence about `what` ("the policy file", "the keys file").
        func message(_ what: String) -> String {
            switch self {
            case .unreadable(let code):
                return "cannot read \(what): \(String(cString: strerror(code)).lowercased())"
            case .tooLarge(let size, let limit):
                let found = size > limit + 1 ? "it has \(size) bytes" : "it has more"
                return "\(what) is larger than \(ByteCount(bytes: limit)) (\(found)); such files are refused unread"
            }
        }
    }

    static func contents(of path: String, limit: Int = defaultLimit) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .unreadable(errno: errno) }
        guard (status.st_mode & mode_t(S_IFMT)) != mode_t(S_IFDIR) else { throw .unreadable(errno: EISDIR) }
        if Int(status.st_size) > limit { throw .tooLarge(size: Int(status.st_size), limit: limit) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(Int(status.st_size), limit) + 1)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count <= limit {
            let wanted = min(chunk.count, limit + 1 - bytes.count)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        guard bytes.count <= limit else { throw .tooLarge(size: bytes.count, limit: limit) }
        return bytes
    }
}
