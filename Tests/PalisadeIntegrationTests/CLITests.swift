import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

/// The `palisade` binary as an operator runs it: `check` for CI, `version`, and `run` with SIGHUP
/// reloads and a SIGTERM drain that lets an in-flight request finish.
///
/// Over 400 lines: every test runs the real binary as a process, and the process helpers (start,
/// read the start line, signal, wait) are shared by all of them in this one suite.
@Suite("CLI", .serialized)
struct CLITests {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = repoRoot.appendingPathComponent(".build/debug/palisade").path
    static let binaryExists = FileManager.default.isExecutableFile(atPath: binary)
    static let skipMessage: Comment = "the palisade binary is not built at .build/debug/palisade; run `swift build` first"

    struct Finished {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
    }

    /// A running `palisade` child process with its output captured in files.
    final class Child: @unchecked Sendable {
        let process = Process()
        let stdoutPath: String
        let stderrPath: String

        init(_ arguments: [String], standardInputPath: String? = nil) throws {
            let directory = try TemporaryFiles.directory("palisade-cli")
            stdoutPath = directory.appendingPathComponent("stdout").path
            stderrPath = directory.appendingPathComponent("stderr").path
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: CLITests.binary)
            process.arguments = arguments
            process.currentDirectoryURL = CLITests.repoRoot
            process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            process.standardInput = standardInputPath.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
            try process.run()
        }

        var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        /// Waits for the process to end; nil if it is still running after `timeout`.
        func finished(within timeout: Duration) async -> Finished? {
            let ended = await TestSupport.eventually(timeout: timeout) { !self.process.isRunning }
            guard ended else { return nil }
            return Finished(status: process.terminationStatus, reason: process.terminationReason, stdout: stdout, stderr: stderr)
        }

        /// The ports `run` bound (its policy listens on port 0), read from its start line; nil if
        /// no start line came within `timeout`.
        func boundPorts(within timeout: Duration = .seconds(10)) async -> BoundPorts? {
            var ports: BoundPorts?
            _ = await TestSupport.eventually(timeout: timeout) {
                ports = BoundPorts(startLineIn: self.stderr)
                return ports != nil
            }
            return ports
        }

        /// Waits until the process handles SIGHUP itself (the reload service traps it as the
        /// service group starts, just after the listeners): before that, SIGHUP would end it.
        func trapsSIGHUP(within timeout: Duration = .seconds(10)) async -> Bool {
            await TestSupport.eventually(timeout: timeout) {
                let status = (try? String(contentsOfFile: "/proc/\(self.process.processIdentifier)/status", encoding: .utf8)) ?? ""
                // SigIgn and SigCgt are hex masks; SIGHUP (1) is their lowest bit.
                return status.split(separator: "\n").contains { line in
                    guard line.hasPrefix("SigIgn:") || line.hasPrefix("SigCgt:"),
                        let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16)
                    else { return false }
                    return mask & 1 != 0
                }
            }
        }

        /// Makes sure nothing outlives the test.
        func terminateIfRunning() {
            if process.isRunning { signal(SIGKILL) }
        }
    }

    /// The ports in `palisade run`'s start line (`palisade listening`, `proxy=127.0.0.1:P`,
    /// `admin=127.0.0.1:Q`): how a test learns the ports a policy listening on port 0 was given.
    struct BoundPorts {
        var proxy: Int
        var admin: Int?

        init?(startLineIn output: String) {
            guard let line = output.split(separator: "\n").first(where: { $0.contains("palisade listening") }) else { return nil }
            func port(_ key: String) -> Int? {
                // The start line is JSON (`"proxy":"127.0.0.1:P"`).
                guard let range = line.range(of: "\"\(key)\":\"127.0.0.1:") else { return nil }
                return Int(line[range.upperBound...].prefix(while: \.isNumber))
            }
            guard let proxy = port("proxy") else { return nil }
            self.proxy = proxy
            self.admin = port("admin")
        }
    }

    static func run(_ arguments: [String], standardInputPath: String? = nil) async throws -> Finished {
        let child = try Child(arguments, standardInputPath: standardInputPath)
        guard let finished = await child.finished(within: .seconds(20)) else {
            child.terminateIfRunning()
            throw CancellationError()
        }
        return finished
    }

    static func temporaryFile(_ text: String, name: String = "policy.yaml") throws -> String {
        try TemporaryFiles.file(text, named: name, prefix: "palisade-cli")
    }

    @Test("check - reads a policy from standard input", .enabled(if: binaryExists, skipMessage))
    func checkStandardInput() async throws {
        let good = try await Self.run(["check", "-"], standardInputPath: "policies/demo.yaml")
        #expect(good.status == 0, "stdout: \(good.stdout)\nstderr: \(good.stderr)")
        #expect(good.stdout.contains("<stdin>: ok"), "\(good.stdout)")
        let broken = try Self.temporaryFile("version: 1\nroutes:\n  - name: api\n    match: { prefx: /api/ }\n")
        let bad = try await Self.run(["check", "-"], standardInputPath: broken)
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("<stdin>:4:14: error: routes[0].match.prefx: unknown key 'prefx'"), "\(bad.stdout)")
    }

    @Test(
        "check --resolve reads secrets and key files as run does, and says why one cannot be read", .enabled(if: binaryExists, skipMessage))
    func checkResolve() async throws {
        let directory = try TemporaryFiles.directory("palisade-resolve")
        let secretPath = directory.appendingPathComponent("gh-secret").path
        let keysPath = directory.appendingPathComponent("keys.yaml").path
        let policy = try Self.temporaryFile(
            """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            secrets:
              gh: { file: \(secretPath) }
            routes:
              - name: hook
                match: { path: /hook, methods: [POST] }
                guards:
                  - hmac: { preset: github, secret: gh }
                  - replay: { id: signature, ttl: 1h }
              - name: api
                match: { prefix: /api/ }
                guards:
                  - api_key: { keys_file: \(keysPath) }
            """)
        // Without --resolve, check reads only the policy: the missing files go unnoticed.
        let plain = try await Self.run(["check", policy])
        #expect(plain.status == 0, "\(plain.stdout)")
        let resolved = try await Self.run(["check", "--resolve", policy])
        #expect(resolved.status == 1)
        #expect(
            resolved.stdout.contains("cannot read secret file \(secretPath) (secret 'gh'): no such file or directory"),
            "\(resolved.stdout)")
        #expect(resolved.stdout.contains("\(policy): invalid"), "\(resolved.stdout)")

        // With the files in place, --resolve passes, and the secret's value is never printed.
        try "It's a Secret to Everybody 0123456789".write(toFile: secretPath, atomically: true, encoding: .utf8)
        try "keys: []\n".write(toFile: keysPath, atomically: true, encoding: .utf8)
        let good = try await Self.run(["check", "--resolve", policy])
        #expect(good.status == 0, "\(good.stdout)\n\(good.stderr)")
        #expect(!(good.stdout + good.stderr).contains("Secret to Everybody"))
    }

    @Test("run refuses --threads outside 1-1024 with a usage error naming it", .enabled(if: binaryExists, skipMessage))
    func threadsOutOfRange() async throws {
        for value in ["0", "5000"] {
            let result = try await Self.run(["run", "--config", "policies/demo.yaml", "--threads", value])
            #expect(result.status == 64, "--threads \(value): exit \(result.status), stderr: \(result.stderr)")
            #expect(result.stderr.contains("--threads must be 1-1024, not \(value)"), "\(result.stderr)")
        }
        let help = try await Self.run(["run", "--help"])
        #expect(help.stdout.contains("one per core"))
        #expect(!help.stdout.contains("(default: \(ProcessInfo.processInfo.activeProcessorCount))"), "\(help.stdout)")
    }

    @Test("sign --help is the same every time: no random default in it", .enabled(if: binaryExists, skipMessage))
    func helpTexts() async throws {
        let first = try await Self.run(["sign", "--help"])
        let second = try await Self.run(["sign", "--help"])
        #expect(first.stdout == second.stdout, "the help changes from run to run")
        #expect(!first.stdout.contains("msg_1") && !first.stdout.contains("(default: msg_"), "\(first.stdout)")
    }

    @Test("check of policies/demo.yaml exits 0", .enabled(if: binaryExists, skipMessage))
    func checkDemo() async throws {
        let result = try await Self.run(["check", "policies/demo.yaml"])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.reason == .exit)
        #expect(result.stdout.contains("policies/demo.yaml: ok"))
        #expect(!result.stdout.contains("error:"))
    }

    @Test("check of a broken file exits 1 and prints file:line:col: error: key.path: message", .enabled(if: binaryExists, skipMessage))
    func checkBroken() async throws {
        let path = try Self.temporaryFile(
            """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
              connect_timeout: 30
            routes:
              - name: api
                match: { prefx: /api/ }
            """)
        let result = try await Self.run(["check", path])
        #expect(result.status == 1, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains(
                "\(path):4:20: error: upstream.connect_timeout: '30' is not a duration; write a whole number with a unit: 250ms, 30s, 5m, 24h, 7d"
            ),
            "\(result.stdout)"
        )
        #expect(
            lines.contains { $0.hasPrefix("\(path):7:14: error: routes[0].match.prefx: unknown key 'prefx' (did you mean 'prefix'?)") },
            "\(result.stdout)"
        )
        // Whatever the column, every error line has the editor-readable shape.
        let shaped = lines.filter { $0.wholeMatch(of: /.+:\d+:\d+: error: [\w\[\]\.]+: .+/) != nil }
        #expect(shaped.count == 2, "\(result.stdout)")
        #expect(result.stdout.contains("\(path): invalid (2 errors)"))
    }

    @Test("check of several files fails when any fails, and reports each", .enabled(if: binaryExists, skipMessage))
    func checkSeveral() async throws {
        let bad = try Self.temporaryFile("version: 2\nupstream:\n  url: http://127.0.0.1:3000\n")
        let result = try await Self.run(["check", "policies/demo.yaml", bad])
        #expect(result.status == 1)
        #expect(result.stdout.contains("policies/demo.yaml: ok"))
        #expect(result.stdout.contains("\(bad): invalid (1 error)"))
        let missing = try await Self.run(["check", "/nonexistent/policy.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("cannot read the file"))
    }

    @Test("version prints the version", .enabled(if: binaryExists, skipMessage))
    func version() async throws {
        let result = try await Self.run(["version"])
        #expect(result.status == 0)
        #expect(result.stdout == "palisade \(PalisadeVersion.current)\n")
        let flag = try await Self.run(["--version"])
        #expect(flag.status == 0)
        #expect(flag.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == PalisadeVersion.current)
    }

    @Test("run without a policy is a usage error", .enabled(if: binaryExists, skipMessage))
    func runWithoutConfig() async throws {
        let result = try await Self.run(["run"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--config"))
        #expect(result.stderr.contains("Usage: palisade run"), "\(result.stderr)")
    }

    @Test("run refuses to start on a broken policy, printing the diagnostics", .enabled(if: binaryExists, skipMessage))
    func runBroken() async throws {
        let path = try Self.temporaryFile("version: 1\nupstream:\n  url: https://127.0.0.1:3000\n")
        let result = try await Self.run(["run", "--config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path):3:"))
        #expect(result.stderr.contains("upstream.url"))
    }

    static func runPolicy(proxyPort: Int, adminPort: Int, upstreamPort: Int, extraRoute: String = "") -> String {
        """
        version: 1
        listen: 127.0.0.1:\(proxyPort)
        upstream:
          url: http://127.0.0.1:\(upstreamPort)
          connect_timeout: 1s
          response_timeout: 5s
        admin:
          listen: 127.0.0.1:\(adminPort)
        drain_timeout: 12s
        log:
          access: stdout
        routes:
          - name: api
            match: { prefix: /api/ }
          - name: slow
            match: { path: /slow }
        \(extraRoute)
        default: deny
        """
    }

    @Test("a busy port is named in the error, and the start line prints plain addresses", .enabled(if: binaryExists, skipMessage))
    func busyPortAndStartLine() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        // The test app's port is taken (it listens there): the proxy cannot have it.
        let busy = try Self.temporaryFile(Self.runPolicy(proxyPort: upstream.port, adminPort: 0, upstreamPort: upstream.port))
        let failed = try await Self.run(["run", "--config", busy, "--threads", "1"])
        #expect(failed.status != 0)
        #expect(
            failed.stderr.contains("cannot open listen 127.0.0.1:\(upstream.port): address already in use"),
            "\(failed.stderr)")
        #expect(!failed.stderr.contains("descriptor:ptr:bytes"), "\(failed.stderr)")

        let free = try Self.temporaryFile(Self.runPolicy(proxyPort: 0, adminPort: 0, upstreamPort: upstream.port))
        let child = try Child(["run", "--config", free, "--threads", "1"])
        defer { child.terminateIfRunning() }
        let ports = try #require(await child.boundPorts(), "no start line; stderr:\n\(child.stderr)")
        #expect(!child.stderr.contains("[IPv4]"), "\(child.stderr)")
        // The start line names the ports actually bound, not the 0 the policy asked for.
        #expect(ports.proxy != 0 && ports.admin != 0, "\(child.stderr)")
        #expect(try await RawClient.get("/api/hello", port: ports.proxy).status == 200)
        child.signal(SIGTERM)
        _ = await child.finished(within: .seconds(15))
        await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "run serves, reloads on SIGHUP, and drains on SIGTERM while an in-flight request completes",
        .enabled(if: binaryExists, skipMessage)
    )
    func runReloadAndDrain() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        let path = try Self.temporaryFile(Self.runPolicy(proxyPort: 0, adminPort: 0, upstreamPort: upstream.port))
        let child = try Child(["run", "--config", path, "--threads", "1"])
        defer { child.terminateIfRunning() }
        let ports = try #require(await child.boundPorts(), "no start line; stderr:\n\(child.stderr)")
        let proxyPort = ports.proxy
        let adminPort = try #require(ports.admin)

        func generation() async -> Int? {
            (try? await RawClient.get("/readyz", port: adminPort))?.json?["policy_generation"] as? Int
        }

        let ready = await TestSupport.eventually(timeout: .seconds(10)) { await generation() == 1 }
        try #require(ready, "palisade run never became ready; stderr:\n\(child.stderr)")
        #expect(try await RawClient.get("/api/hello", port: proxyPort).status == 200)
        #expect(try await RawClient.get("/new/hello", port: proxyPort).status == 404)
        #expect(upstream.requests.map(\.path) == ["/api/hello"])

        try #require(await child.trapsSIGHUP(), "SIGHUP never trapped; stderr:\n\(child.stderr)")

        // SIGHUP reloads even an unchanged file (the file watcher alone would not).
        child.signal(SIGHUP)
        let reloaded = await TestSupport.eventually(timeout: .seconds(3)) { await generation() == 2 }
        #expect(reloaded, "SIGHUP did not reload; stderr:\n\(child.stderr)")
        #expect(child.process.isRunning, "SIGHUP must not end the process")

        // A rewritten file plus SIGHUP changes what is served.
        try Self.runPolicy(
            proxyPort: 0, adminPort: 0, upstreamPort: upstream.port,
            extraRoute: "  - name: new\n    match: { prefix: /new/ }"
        ).write(toFile: path, atomically: true, encoding: .utf8)
        child.signal(SIGHUP)
        let newRoute = await TestSupport.eventually(timeout: .seconds(3)) {
            (try? await RawClient.get("/new/hello", port: proxyPort))?.status == 200
        }
        #expect(newRoute, "the rewritten policy did not apply")
        #expect((await generation() ?? 0) >= 3)

        // SIGTERM while a request is with the app: it completes, then the process exits 0.
        let clock = ContinuousClock()
        async let slow = RawClient.get("/slow?ms=800", port: proxyPort)
        let inFlight = await TestSupport.eventually(timeout: .seconds(2)) { upstream.requests.contains { $0.path == "/slow" } }
        #expect(inFlight)
        let signalled = clock.now
        child.signal(SIGTERM)
        let response = try await slow
        #expect(response.status == 200, "the in-flight request was not allowed to finish")
        #expect(response.bodyText == #"{"slow":true}"#)
        // drain_timeout is far above what the drain needs, so a loaded machine (the suites run side
        // by side) cannot turn a drain that ended on its own into one that waited the timeout out.
        let finished = await child.finished(within: .seconds(14))
        let exited = try #require(finished, "still running 14 s after SIGTERM (drain_timeout 12s); stderr:\n\(child.stderr)")
        #expect(exited.reason == .exit)
        #expect(exited.status == 0, "stderr:\n\(exited.stderr)")
        #expect(clock.now - signalled < .seconds(8), "the drain waited for drain_timeout instead of the request")
        #expect(!exited.stderr.contains("Cannot schedule tasks on an EventLoop"), "shutdown order: \(exited.stderr)")
        // Access lines went to stdout, one JSON object per request.
        let accessLines = exited.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(accessLines.contains { $0.contains(#""path":"/slow""#) && $0.contains(#""status":200"#) })
        // Nothing listens any more.
        #expect((try? await RawClient.get("/api/after", port: proxyPort)) == nil)

        await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test("sign reproduces GitHub's documented example signature", .enabled(if: binaryExists, skipMessage))
    func signGitHubExample() async throws {
        let directory = try TemporaryFiles.directory("palisade-sign")
        let body = directory.appendingPathComponent("body").path
        let secret = directory.appendingPathComponent("secret").path
        try "Hello, World!".write(toFile: body, atomically: true, encoding: .utf8)
        try "It's a Secret to Everybody\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let finished = try await Self.run(["sign", "--preset", "github", "--secret-file", secret, "--body-file", body])
        #expect(finished.status == 0)
        let lines = finished.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        // Every header GitHub sends, so the output passes for a delivery: event, delivery id (a UUID).
        #expect(lines.contains("X-GitHub-Event: ping"), "\(lines)")
        let delivery = try #require(lines.first { $0.hasPrefix("X-GitHub-Delivery: ") })
        #expect(UUID(uuidString: String(delivery.dropFirst("X-GitHub-Delivery: ".count))) != nil, "\(delivery)")
        let chosen = try await Self.run([
            "sign", "--preset", "shopify", "--secret-file", secret, "--body-file", body, "--id", "evt-7", "--event", "orders/paid",
        ])
        #expect(chosen.stdout.contains("X-Shopify-Event-Id: evt-7\n"), "\(chosen.stdout)")
        #expect(chosen.stdout.contains("X-Shopify-Topic: orders/paid\n"), "\(chosen.stdout)")
    }

    @Test("sign's Stripe headers verify with the stripe library itself", .enabled(if: binaryExists, skipMessage))
    func signStripeVerifiedByStripe() async throws {
        let directory = try TemporaryFiles.directory("palisade-sign")
        let body = directory.appendingPathComponent("body").path
        let secret = directory.appendingPathComponent("secret").path
        let payload = #"{"id":"evt_1","object":"event"}"#
        try payload.write(toFile: body, atomically: true, encoding: .utf8)
        try "whsec_cli_test".write(toFile: secret, atomically: true, encoding: .utf8)
        let finished = try await Self.run(["sign", "--preset", "stripe", "--secret-file", secret, "--body-file", body])
        #expect(finished.status == 0)
        let header = try #require(finished.stdout.split(separator: "\n").first?.split(separator: ": ", maxSplits: 1).last)
        // The stripe library raises unless the header verifies.
        let verdict = try Python.run(
            "import stripe,sys; stripe.WebhookSignature.verify_header(sys.argv[1], sys.argv[2], 'whsec_cli_test', tolerance=300); print('ok')",
            arguments: [payload, String(header)]
        )
        #expect(verdict == "ok")
    }

    @Test("sign needs a secret from the environment or a file, and a known preset", .enabled(if: binaryExists, skipMessage))
    func signUsage() async throws {
        let missing = try await Self.run(["sign", "--preset", "github", "--body-file", "/dev/null"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("--secret-env"))
        // The usage shown is sign's own, not the top-level list of subcommands.
        #expect(missing.stderr.contains("Usage: palisade sign --preset"), "\(missing.stderr)")
        let unknown = try await Self.run(["sign", "--preset", "nope", "--secret-env", "HOME", "--body-file", "/dev/null"])
        #expect(unknown.status != 0)
    }
}
