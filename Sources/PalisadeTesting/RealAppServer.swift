import Foundation

/// An app server nobody on this project wrote, started on a loopback port for a test to put
/// Palisade in front of. Each differs from `TestUpstream` in a way that has broken proxies: closing
/// after every answer, answering in HTTP/1.0, closing pooled connections while they sit idle,
/// chunking answers, or closing after a fixed number of requests.
///
/// Every app answers `GET`/`POST` on any path with JSON naming the method, the path and the
/// SHA-256 of the body it read (`http.server` serves a file instead: it knows no POST).
public final class RealAppServer: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Python's `http.server`: HTTP/1.0, closes after each answer.
        case pythonHTTPServer = "python http.server"
        /// Werkzeug's development server (`flask run`): `Connection: close` on every answer.
        case flaskDevelopment = "flask dev server"
        /// gunicorn's sync worker: closes after every answer.
        case gunicornSync = "gunicorn sync"
        /// uvicorn: keep-alive, closes idle connections after `--timeout-keep-alive` (1 s here).
        case uvicorn = "uvicorn"
        /// node's `http`: keep-alive (1 s idle here), chunked answers.
        case nodeHTTP = "node http"
        /// nginx with `keepalive_requests 3; keepalive_timeout 1s`.
        case nginxShortKeepAlive = "nginx keepalive_requests 3"

        public var description: String { rawValue }
        /// Whether it reads request bodies (http.server has no POST).
        public var acceptsPOST: Bool { self != .pythonHTTPServer }
        /// Whether it echoes the request as JSON (nginx and http.server answer fixed text).
        public var echoesJSON: Bool { self != .pythonHTTPServer && self != .nginxShortKeepAlive }
        /// How long it keeps an idle keep-alive connection, where that is what it is tested for.
        public var idleCloseAfter: Duration? {
            switch self {
            case .uvicorn, .nodeHTTP, .nginxShortKeepAlive: return .seconds(1)
            default: return nil
            }
        }
    }

    public let kind: Kind
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    private let process: Process
    private let directory: URL

    private init(kind: Kind, port: Int, process: Process, directory: URL) {
        self.kind = kind
        self.port = port
        self.process = process
        self.directory = directory
    }

    /// Whether this machine can run `kind` (nginx and node come from the system, not PyPI).
    public static func isAvailable(_ kind: Kind) -> Bool {
        switch kind {
        case .nginxShortKeepAlive: return nginxPath != nil
        case .nodeHTTP: return executable("node") != nil
        default: return true
        }
    }

    public static func start(_ kind: Kind) async throws -> RealAppServer {
        guard kind != .nginxShortKeepAlive else { return try await startNginx() }
        let directory = try TemporaryFiles.directory("palisade-app")
        try Self.appFiles.forEach { name, text in
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        // Each server binds port 0 itself and names the port it got in its start line, so no other
        // test can take the port between a probe and the bind.
        let process = try Self.process(in: directory)
        process.environment?["PYTHONUNBUFFERED"] = "1"
        switch kind {
        case .pythonHTTPServer:
            process.arguments = ["python3", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", directory.path]
        case .flaskDevelopment:
            process.arguments = ["python3", "-m", "flask", "--app", "wsgi_app", "run", "--host", "127.0.0.1", "--port", "0"]
        case .gunicornSync:
            process.arguments = ["python3", "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:0", "wsgi_app:app"]
        case .uvicorn:
            // Log level info: the start line naming the port is an info line.
            process.arguments = [
                "python3", "-m", "uvicorn", "--host", "127.0.0.1", "--port", "0", "--timeout-keep-alive", "1",
                "--log-level", "info", "asgi_app:app",
            ]
        case .nodeHTTP:
            process.arguments = ["node", "node_app.js"]
        case .nginxShortKeepAlive:
            preconditionFailure("started by startNginx()")
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let announced = StartLineReader(output.fileHandleForReading)
        try process.run()
        if let port = await announced.port(within: .seconds(20)) {
            return RealAppServer(kind: kind, port: port, process: process, directory: directory)
        }
        let server = RealAppServer(kind: kind, port: 0, process: process, directory: directory)
        server.stop()
        throw Python.Failure(message: "\(kind) did not name its port; it printed:\n\(announced.text)")
    }

    /// nginx listens only on ports its configuration names and cannot report one it was given as
    /// 0, so it gets a port that was free a moment ago; if another process took the port first,
    /// nginx exits at once and is started again on another.
    private static func startNginx() async throws -> RealAppServer {
        guard let nginx = nginxPath else { throw Python.Failure(message: "nginx is not installed") }
        for _ in 0..<3 {
            let directory = try TemporaryFiles.directory("palisade-app")
            let port = try TestSupport.freePort()
            let config = Self.nginxConfig(port: port, directory: directory.path)
            try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
            let process = try Self.process(in: directory)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.arguments = [nginx, "-p", directory.path, "-c", directory.appendingPathComponent("nginx.conf").path]
            try process.run()
            let server = RealAppServer(kind: .nginxShortKeepAlive, port: port, process: process, directory: directory)
            // Ready once it accepts a connection; one that died (the port was taken) gives up at once.
            let accepting = await TestSupport.eventually(timeout: .seconds(20), interval: .milliseconds(50)) {
                if !process.isRunning { return true }
                return (try? await RawConnection.open(port: port))?.close() != nil
            }
            if accepting && process.isRunning { return server }
            server.stop()
        }
        throw Python.Failure(message: "nginx did not start")
    }

    private static func process(in directory: URL) throws -> Process {
        let process = Process()
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        var environment = try PythonEnvironment.environment()
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        return process
    }

    public func stop() {
        if process.isRunning {
            // gunicorn and nginx stop their workers on SIGTERM; SIGKILL follows if they linger.
            process.terminate()
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while process.isRunning && clock.now < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts `kind`, runs `body`, and stops the server whatever happens.
    public static func with<T>(_ kind: Kind, _ body: (RealAppServer) async throws -> T) async throws -> T {
        let server = try await start(kind)
        do {
            let result = try await body(server)
            server.stop()
            return result
        } catch {
            server.stop()
            throw error
        }
    }

    private static func executable(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for directory in paths.split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    private static var nginxPath: String? { executable("nginx") }

    private static func nginxConfig(port: Int, directory: String) -> String {
        """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(directory)/nginx.pid;
        error_log \(directory)/error.log warn;
        events { worker_connections 256; }
        http {
            access_log off;
            client_body_temp_path \(directory)/body;
            proxy_temp_path \(directory)/proxy;
            fastcgi_temp_path \(directory)/fastcgi;
            uwsgi_temp_path \(directory)/uwsgi;
            scgi_temp_path \(directory)/scgi;
            keepalive_requests 3;
            keepalive_timeout 1s;
            server {
                listen 127.0.0.1:\(port);
                location / {
                    default_type text/plain;
                    return 200 "nginx $request_method $uri\\n";
                }
            }
        }
        """
    }

    private static let appFiles: [(String, String)] = [
        ("hello.txt", "hello from http.server\n"),
        (
            "wsgi_app.py",
            """
            import hashlib
            from flask import Flask, request, jsonify

            app = Flask(__name__)

            @app.route("/", defaults={"rest": ""}, methods=["GET", "POST", "HEAD"])
            @app.route("/<path:rest>", methods=["GET", "POST", "HEAD"])
            def echo(rest):
                body = request.get_data()
                return jsonify(method=request.method, path=request.path,
                               body_sha256=hashlib.sha256(body).hexdigest(), body_bytes=len(body))

            """
        ),
        (
            "asgi_app.py",
            """
            import hashlib, json

            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                body = b""
                while True:
                    message = await receive()
                    body += message.get("body", b"")
                    if not message.get("more_body"):
                        break
                out = json.dumps({"method": scope["method"], "path": scope["path"],
                                  "body_sha256": hashlib.sha256(body).hexdigest(),
                                  "body_bytes": len(body)}).encode()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(out)).encode())]})
                await send({"type": "http.response.body", "body": out})

            """
        ),
        (
            "node_app.js",
            """
            const http = require('http');
            const crypto = require('crypto');
            const server = http.createServer((req, res) => {
              const hash = crypto.createHash('sha256');
              let bytes = 0;
              req.on('data', (chunk) => { hash.update(chunk); bytes += chunk.length; });
              req.on('end', () => {
                res.setHeader('content-type', 'application/json');
                // No content-length: node answers chunked.
                res.write(JSON.stringify({ method: req.method, path: req.url.split('?')[0],
                  body_sha256: hash.digest('hex'), body_bytes: bytes }));
                res.end();
              });
            });
            server.keepAliveTimeout = 1000;
            server.listen(0, '127.0.0.1', () => {
              console.log(`listening on http://127.0.0.1:${server.address().port}`);
            });

            """
        ),
    ]
}

/// Reads a server's output on a thread of its own until a line names `http://127.0.0.1:<port>`,
/// and keeps reading after that so the server never blocks on a full pipe.
private final class StartLineReader: @unchecked Sendable {
    private let lock = NSLock()
    private var output = ""
    private var found: Int?
    private var ended = false

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                lock.withLock {
                    // Only the start is kept for the error message; later output is read and dropped.
                    if found == nil {
                        output += String(decoding: data, as: UTF8.self)
                        found = Self.port(in: output)
                    }
                }
            }
            lock.withLock { ended = true }
        }
    }

    var text: String { lock.withLock { output } }

    /// The announced port; nil if the output ended or the time ran out without one.
    func port(within timeout: Duration) async -> Int? {
        _ = await TestSupport.eventually(timeout: timeout, interval: .milliseconds(20)) {
            lock.withLock { found != nil || ended }
        }
        return lock.withLock { found }
    }

    private static func port(in text: String) -> Int? {
        guard let range = text.range(of: "http://127.0.0.1:") else { return nil }
        let digits = text[range.upperBound...].prefix(while: \.isNumber)
        // A number cut off by the end of what has arrived so far could still grow.
        guard !digits.isEmpty, digits.endIndex < text.endIndex else { return nil }
        return Int(digits)
    }
}
