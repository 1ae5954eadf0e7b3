import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Palisade in front of app servers nobody here wrote (RealAppServer): each closes, times out or
/// frames its answers in its own way, and every answer must still reach the client, complete, on
/// a client connection that stays usable. Before the fix, an app that closed its connection after
/// an answer (gunicorn, flask, http.server, nginx's third request, a full pool) left the client
/// waiting for `idle_timeout` with nothing.
@Suite("Real app servers behind the proxy", .serialized)
struct RealAppServerTests {
    static let kinds = RealAppServer.Kind.allCases.filter(RealAppServer.isAvailable)
    static let postBody = String(repeating: "0123456789abcdef", count: 64)  // 1 KiB

    static func policy(app: RealAppServer, maxIdle: Int = 64) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: \(app.url)
          connect_timeout: 2s
          response_timeout: 5s
          max_idle_connections: \(maxIdle)
        admin:
          listen: 127.0.0.1:0
        routes:
          - name: all
            match: { prefix: / }
        default: deny
        """
    }

    /// The request bytes for step `i`: GETs, and 1 KiB POSTs where the app takes them.
    static func request(_ i: Int, app: RealAppServer, port: Int, close: Bool = false) -> (String, [UInt8], path: String) {
        let path = app.kind == .pythonHTTPServer ? "/hello.txt" : "/r/\(i)"
        let method = app.kind.acceptsPOST && i % 2 == 1 ? "POST" : "GET"
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if close { text += "Connection: close\r\n" }
        if method == "POST" { text += "Content-Type: text/plain\r\nContent-Length: \(postBody.utf8.count)\r\n" }
        text += "\r\n"
        if method == "POST" { text += postBody }
        return (method, Array(text.utf8), path)
    }

    /// What the app must have answered to step `i`, checked field by field.
    static func check(_ response: WireResponse?, step i: Int, app: RealAppServer, bodyHash: String) -> String? {
        guard let response else { return "step \(i): no answer within the timeout" }
        guard response.status == 200 else { return "step \(i): status \(response.status) \(response.bodyText)" }
        let method = app.kind.acceptsPOST && i % 2 == 1 ? "POST" : "GET"
        switch app.kind {
        case .pythonHTTPServer:
            return response.bodyText == "hello from http.server\n" ? nil : "step \(i): body \(response.bodyText)"
        case .nginxShortKeepAlive:
            return response.bodyText == "nginx \(method) /r/\(i)\n" ? nil : "step \(i): body \(response.bodyText)"
        default:
            guard let json = response.json, json["path"] as? String == "/r/\(i)", json["method"] as? String == method else {
                return "step \(i): body \(response.bodyText)"
            }
            let expected = method == "POST" ? bodyHash : emptyHash
            return json["body_sha256"] as? String == expected ? nil : "step \(i): app read a different body: \(response.bodyText)"
        }
    }

    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// One server start per kind (they take seconds each); the scenarios run against it in turn.
    @Test("every answer reaches the client, whatever the app does with its connections", arguments: kinds)
    func behindRealApp(kind: RealAppServer.Kind) async throws {
        let bodyHash = try Python.sha256Hex(Self.postBody)
        try await RealAppServer.with(kind) { app in
            for maxIdle in [64, 0] {
                try await Self.keepAliveClient(app: app, maxIdle: maxIdle, bodyHash: bodyHash)
            }
            try await Self.moreClientsThanThePool(app: app, bodyHash: bodyHash)
            if kind.idleCloseAfter != nil { try await Self.afterTheAppsIdleClose(app: app, bodyHash: bodyHash) }
            try await Self.realClients(app: app)
        }
    }

    /// A keep-alive client sends GETs and 1 KiB POSTs one after another on one connection.
    static func keepAliveClient(app: RealAppServer, maxIdle: Int, bodyHash: String) async throws {
        let kind = app.kind
        do {
            try await ProxyHarness.with(yaml: Self.policy(app: app, maxIdle: maxIdle)) { harness in
                let connection = try await RawConnection.open(port: harness.proxyPort)
                defer { connection.close() }
                for i in 0..<7 {
                    let (method, bytes, _) = Self.request(i, app: app, port: harness.proxyPort)
                    #expect(await connection.send(bytes))
                    let response = await connection.readResponse(method: method, timeoutMilliseconds: 5000)
                    let problem = Self.check(response, step: i, app: app, bodyHash: bodyHash)
                    #expect(problem == nil, "\(kind), pool \(maxIdle): \(problem ?? "")")
                    if problem != nil { return }
                    #expect(response?.header("connection")?.lowercased() != "close", "the client's connection stays open")
                }
            }
        }
    }

    /// 24 concurrent keep-alive clients on two loops, against a pool that keeps two per loop.
    static func moreClientsThanThePool(app: RealAppServer, bodyHash: String) async throws {
        let kind = app.kind
        do {
            try await ProxyHarness.with(yaml: Self.policy(app: app, maxIdle: 2), threads: 2) { harness in
                let port = harness.proxyPort
                let problems = try await withThrowingTaskGroup(of: [String].self) { group in
                    for client in 0..<24 {
                        group.addTask {
                            let connection = try await RawConnection.open(port: port)
                            defer { connection.close() }
                            var problems: [String] = []
                            for i in 0..<4 {
                                let (method, bytes, _) = Self.request(i, app: app, port: port)
                                await connection.send(bytes)
                                let response = await connection.readResponse(method: method, timeoutMilliseconds: 8000)
                                if let problem = Self.check(response, step: i, app: app, bodyHash: bodyHash) {
                                    problems.append("client \(client) \(problem)")
                                    break
                                }
                            }
                            return problems
                        }
                    }
                    var all: [String] = []
                    for try await found in group { all += found }
                    return all
                }
                #expect(problems.isEmpty, "\(kind): \(problems.prefix(5))")
            }
        }
    }

    /// Requests spaced past the app's keep-alive timeout, so each finds its pooled connection closed.
    static func afterTheAppsIdleClose(app: RealAppServer, bodyHash: String) async throws {
        let kind = app.kind
        do {
            try await ProxyHarness.with(yaml: Self.policy(app: app)) { harness in
                let connection = try await RawConnection.open(port: harness.proxyPort)
                defer { connection.close() }
                for i in 0..<4 {
                    if i > 0 { try await Task.sleep(for: (kind.idleCloseAfter ?? .zero) + .milliseconds(600)) }
                    let (method, bytes, _) = Self.request(i, app: app, port: harness.proxyPort)
                    await connection.send(bytes)
                    let response = await connection.readResponse(method: method, timeoutMilliseconds: 5000)
                    let problem = Self.check(response, step: i, app: app, bodyHash: bodyHash)
                    #expect(problem == nil, "\(kind): \(problem ?? "")")
                    if problem != nil { return }
                }
                let errors = TestSupport.metricValue(
                    try await harness.metrics(), "palisade_upstream_errors_total{kind=\"connection_lost\"}")
                #expect((errors ?? 0) == 0, "no request was lost to a connection the app had closed")
            }
        }
    }

    /// Real clients: requests' keep-alive sessions and http.client from eight threads at once,
    /// and curl reusing one connection for several URLs.
    static func realClients(app: RealAppServer) async throws {
        let kind = app.kind
        do {
            try await ProxyHarness.with(yaml: Self.policy(app: app, maxIdle: 2), threads: 2) { harness in
                let base = "http://127.0.0.1:\(harness.proxyPort)"
                let path = kind == .pythonHTTPServer ? "/hello.txt" : "/c"
                let script = """
                    import sys, threading, http.client, requests, hashlib, json
                    base, path, post = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
                    body = b"x" * 1500
                    results = []
                    def session_worker():
                        with requests.Session() as s:
                            for i in range(8):
                                if post and i % 2:
                                    r = s.post(base + path, data=body, timeout=5)
                                else:
                                    r = s.get(base + path, timeout=5)
                                results.append(r.status_code)
                    def http_client_worker():
                        c = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
                        for i in range(8):
                            if post and i % 2:
                                c.request("POST", path, body=body)
                            else:
                                c.request("GET", path)
                            r = c.getresponse(); r.read()
                            results.append(r.status)
                        c.close()
                    threads = [threading.Thread(target=session_worker) for _ in range(4)]
                    threads += [threading.Thread(target=http_client_worker) for _ in range(4)]
                    for t in threads: t.start()
                    for t in threads: t.join()
                    print(json.dumps({"ok": results.count(200), "all": len(results)}))
                    """
                let output = try Python.run(script, arguments: [base, path, kind.acceptsPOST ? "1" : "0"])
                #expect(output == #"{"ok": 64, "all": 64}"#, "\(kind): \(output)")

                // curl: three URLs over one reused connection, each answer complete.
                let curl = Process()
                curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                curl.arguments =
                    ["curl", "-sS", "--max-time", "10", "-w", "%{http_code}\n"]
                    + Array(repeating: ["-o", "/dev/null", base + path], count: 3).flatMap { $0 }
                let out = Pipe()
                curl.standardOutput = out
                curl.standardError = FileHandle.nullDevice
                try curl.run()
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                curl.waitUntilExit()
                #expect(curl.terminationStatus == 0 && text == "200\n200\n200\n", "\(kind): curl said \(text)")
            }
        }
    }
}
