import Foundation

/// An app run by Python that answers every request with a large body written with blocking
/// `sendall` in 64 KiB pieces, and counts the bytes the kernel has taken: how far the app got
/// tells whether the proxy in front of it applied backpressure. `GET /sent` on the app's second
/// port answers that count.
public final class PythonStreamingApp: @unchecked Sendable {
    static let script = #"""
        import socket, sys, threading
        size = int(sys.argv[1])
        sent = [0]
        def serve(listener):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=answer, args=(conn,), daemon=True).start()
        def answer(conn):
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk: return
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: %d\r\n\r\n" % size)
                piece = bytes(range(256)) * 256
                left = size
                while left > 0:
                    n = min(left, len(piece))
                    conn.sendall(piece[:n])
                    sent[0] += n
                    left -= n
            except OSError:
                pass
        def report(listener):
            while True:
                conn, _ = listener.accept()
                conn.recv(65536)
                body = str(sent[0]).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
                conn.close()
        app, control = socket.socket(), socket.socket()
        for s in (app, control):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(16)
        threading.Thread(target=serve, args=(app,), daemon=True).start()
        threading.Thread(target=report, args=(control,), daemon=True).start()
        print(app.getsockname()[1], control.getsockname()[1], flush=True)
        sys.stdin.read()
        """#

    private let server: PythonServerProcess
    public let port: Int
    public let controlPort: Int

    public init(bodyBytes: Int) throws {
        let server = try PythonServerProcess(script: Self.script, arguments: [String(bodyBytes)])
        guard let ports = server.ports(2) else { throw Python.Failure(message: "the streaming app did not start") }
        self.server = server
        self.port = ports[0]
        self.controlPort = ports[1]
    }

    /// Body bytes the app has handed to the kernel so far, over all its connections.
    public func bytesSent() async throws -> Int {
        let response = try await RawClient.get("/sent", port: controlPort)
        return Int(response.bodyText) ?? -1
    }

    public func stop() { server.stop() }
}
