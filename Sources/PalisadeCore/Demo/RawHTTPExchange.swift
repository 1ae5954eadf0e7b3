#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends exact bytes to 127.0.0.1:port and reads until the peer closes or a timeout passes.
/// Blocking on purpose: it is for the demo and for tests, which must see precisely what went
/// over the wire, never for the proxy's own traffic.
public enum RawHTTPExchange {
    public struct Outcome: Sendable {
        public var bytes: [UInt8]
        /// True when the peer closed the connection (rather than the read timing out).
        public var peerClosed: Bool
        public var text: String { String(decoding: bytes, as: UTF8.self) }
        /// Status code of the first response line, if any.
        public var status: Int? {
            let firstLine = text.split(separator: "\r\n", maxSplits: 1).first ?? ""
            let parts = firstLine.split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return nil }
            return Int(parts[1])
        }
        /// All status codes of the responses in order (pipelined requests give several).
        public var statuses: [Int] {
            var result: [Int] = []
            var rest = Substring(text)
            while let range = rest.range(of: "HTTP/1.") {
                let line = rest[range.lowerBound...].prefix(while: { $0 != "\r" })
                let parts = line.split(separator: " ")
                if parts.count >= 2, let code = Int(parts[1]) { result.append(code) }
                rest = rest[range.upperBound...]
            }
            return result
        }
        public var body: String {
            guard let range = text.range(of: "\r\n\r\n") else { return "" }
            return String(text[range.upperBound...])
        }
    }

    public enum Failure: Error { case connect(Int32), socket }

    /// A blocking TCP socket connected to 127.0.0.1:port; the caller closes it.
    public static func connectLoopback(port: Int) throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure.socket }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw Failure.connect(error)
        }
        return fd
    }

    public static func send(
        _ request: [UInt8],
        port: Int,
        readTimeoutMilliseconds: Int = 2000,
        pauses: [(afterByte: Int, milliseconds: Int)] = []
    ) throws -> Outcome {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: readTimeoutMilliseconds / 1000, tv_usec: .init((readTimeoutMilliseconds % 1000) * 1000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        for pause in pauses.sorted(by: { $0.afterByte < $1.afterByte }) + [(afterByte: request.count, milliseconds: 0)] {
            let end = min(pause.afterByte, request.count)
            if end > offset {
                let sent = request[offset..<end].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if sent < 0 { break }
                offset = end
            }
            if pause.milliseconds > 0 { usleep(useconds_t(pause.milliseconds * 1000)) }
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var peerClosed = false
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                received.append(contentsOf: chunk[0..<n])
            } else {
                peerClosed = n == 0 || errno == ECONNRESET
                break
            }
        }
        return Outcome(bytes: received, peerClosed: peerClosed)
    }
}
