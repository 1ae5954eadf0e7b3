import Foundation

/// An alert receiver nobody here wrote the checks of: a Python HTTP server that verifies each
/// POST with the `standardwebhooks` library and records what it got (one JSON line per
/// delivery: verified or not, and the body). The first `failFirst` deliveries are answered 503,
/// to see a sender retry.
public final class PythonWebhookReceiver: @unchecked Sendable {
    public let port: Int
    public let recordPath: String
    private let server: PythonServerProcess

    static let script = #"""
        import http.server, json, sys, threading
        from standardwebhooks.webhooks import Webhook
        secret, record, fail_first = sys.argv[1], sys.argv[2], int(sys.argv[3])
        lock = threading.Lock()
        seen = [0]
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    seen[0] += 1
                    n = seen[0]
                if n <= fail_first:
                    self.send_response(503); self.send_header("content-length", "0"); self.end_headers(); return
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(secret).verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                with lock, open(record, "a") as f:
                    f.write(json.dumps({"verified": verified, "attempt": n, "body": body.decode()}) + "\n")
                self.send_response(204); self.end_headers()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        """#

    public init(secret: String, failFirst: Int = 0) throws {
        recordPath = try TemporaryFiles.directory("palisade-alerts").appendingPathComponent("alerts.jsonl").path
        _ = FileManager.default.createFile(atPath: recordPath, contents: nil)
        server = try PythonServerProcess(script: Self.script, arguments: [secret, recordPath, String(failFirst)])
        guard let ports = server.ports(1) else { throw CocoaError(.fileReadUnknown) }
        port = ports[0]
    }

    /// Deliveries recorded so far.
    public var deliveries: [[String: Any]] {
        let text = (try? String(contentsOfFile: recordPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    public func stop() { server.stop() }
}
