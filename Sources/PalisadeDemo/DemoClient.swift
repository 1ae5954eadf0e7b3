import Foundation

/// The client `palisade demo` sends its two requests with: exact bytes to 127.0.0.1:port over a
/// blocking socket, read until the proxy closes (the requests ask it to) or a timeout passes.
/// Blocking on purpose: it runs once, on a thread of its own, never on the proxy's traffic.
public enum DemoClient {
    /// Sends the demo's two requests through the proxy on 127.0.0.1:port, one the demo policy lets
    /// through and one it refuses, and returns a line for each: `allowed: GET /path -> 200 body`.
    public static func tour(proxyPort port: Int) -> [String] {
        var lines: [String] = []
        for (label, path) in [("allowed", "/api/public/hello"), ("refused", "/api/internal/stats")] {
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: palisade-demo\r\nConnection: close\r\n\r\n"
            if let outcome = try? send(Array(request.utf8), port: port) {
                lines.append("\(label): GET \(path) -> \(outcome.status ?? 0) \(outcome.body)")
            }
        }
        return lines
    }

    struct Outcome: Sendable {
        var bytes: [UInt8]
        var text: String { String(decoding: bytes, as: UTF8.self) }
        /// Status code of the response line, if any.
        var status: Int? {
            let firstLine = text.split(separator: "\r\n", maxSplits: 1).first ?? ""
            let parts = firstLine.split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return nil }
            return Int(parts[1])
        }
        var body: String {
            guard let range = text.range(of: "\r\n\r\n") else { return "" }
            return String(text[range.upperBound...])
        }
    }

    enum Failure: Error {
        case connect(Int32)
        case socket
    }

    static func send(_ request: [UInt8], port: Int, readTimeoutMilliseconds: Int = 2000) throws -> Outcome {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: readTimeoutMilliseconds / 1000, tv_usec: .init((readTimeoutMilliseconds % 1000) * 1000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if sent <= 0 { break }
            offset += sent
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            received.append(contentsOf: chunk[0..<n])
        }
        return Outcome(bytes: received)
    }

    private static func connectLoopback(port: Int) throws -> Int32 {
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
}
