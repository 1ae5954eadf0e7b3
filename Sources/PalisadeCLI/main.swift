import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PalisadeCore
import PalisadeDemo
import ServiceLifecycle

@main
struct Palisade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "palisade",
        abstract: "A security sidecar: a reverse proxy that enforces a YAML policy before requests reach your app.",
        version: PalisadeVersion.current,
        subcommands: [Run.self, Check.self, Sign.self, Keygen.self, Demo.self, Version.self]
    )
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy with a policy file.")

    @Option(name: .shortAndLong, help: "Policy file (default: $PALISADE_CONFIG).")
    var config: String?

    @Option(help: "Event-loop threads, 1-1024 (default: one per core).")
    var threads: Int?

    // Usage problems are found here, not in run(): ArgumentParser prints this subcommand's usage
    // beside a ValidationError from validate(), and only the top-level one for an error from run().
    func validate() throws {
        if let threads, !(1...1024).contains(threads) {
            throw ValidationError("--threads must be 1-1024, not \(threads)")
        }
        if config == nil && ProcessInfo.processInfo.environment["PALISADE_CONFIG"] == nil {
            throw ValidationError("give --config FILE or set PALISADE_CONFIG")
        }
    }

    func run() async throws {
        guard let path = config ?? ProcessInfo.processInfo.environment["PALISADE_CONFIG"] else {
            throw ValidationError("give --config FILE or set PALISADE_CONFIG")
        }
        var logger = Diagnostics.logger()
        let plan: RuntimePlan
        do {
            let (loaded, warnings) = try PlanCompiler.load(path: path, generation: 1)
            for warning in warnings { Diagnostics.printToStderr(warning.description) }
            plan = loaded
            if let level = Logger.Level(rawValue: plan.policy.log.level) { logger.logLevel = level }
        } catch let error as PolicyLoadError {
            Diagnostics.printToStderr(error.description)
            throw ExitCode(1)
        }
        try await Launcher.run(plan: plan, policyPath: path, threads: threads ?? System.coreCount, logger: logger)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate policy files: every error with file:line:column and key path. Exit 0 when all load."
    )

    @Argument(help: "Policy files ('-' reads one from standard input).")
    var files: [String]

    @Flag(help: "Also read every secret and key file and build the guards, as run does (like nginx -t). JWKS URLs are not fetched.")
    var resolve = false

    func run() throws {
        var failed = false
        for file in files {
            var result: PolicyDecoder.Result
            let name = file == "-" ? "<stdin>" : file
            var text: String?
            if file == "-" {
                (result, text) = Self.decodeStandardInput()
            } else {
                result = PolicyDecoder.decode(contentsOf: file)
            }
            if resolve, result.policy != nil {
                // Secrets and key files are read only here; their errors join the file's own.
                do {
                    if let text {
                        _ = try PlanCompiler.load(yaml: text, file: name, generation: 1)
                    } else {
                        _ = try PlanCompiler.load(path: file, generation: 1)
                    }
                } catch let error as PolicyLoadError {
                    result.policy = nil
                    let known = Set(result.diagnostics)
                    result.diagnostics += error.diagnostics.filter { !known.contains($0) }
                }
            }
            for diagnostic in result.diagnostics { print(diagnostic) }
            if result.policy == nil {
                failed = true
                print("\(name): invalid (\(result.errors.count) error\(result.errors.count == 1 ? "" : "s"))")
            } else {
                print(
                    "\(name): ok\(result.warnings.isEmpty ? "" : " (\(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s"))")"
                )
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// A policy piped in (`generate-policy | palisade check -`), read with the same 1 MiB cap as
    /// a file so a runaway pipe cannot fill memory.
    static func decodeStandardInput() -> (PolicyDecoder.Result, String?) {
        let limit = 1 << 20
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        if bytes.count > limit {
            return (PolicyDecoder.refused(file: "<stdin>", "the policy on standard input is larger than 1MiB"), nil)
        }
        return (PolicyDecoder.decode(bytes: bytes, file: "<stdin>"), String(validating: bytes, as: UTF8.self))
    }
}

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the headers a webhook sender would add to a body (for curl examples and your own tests).",
        discussion: """
            Example:
              palisade sign --preset github --secret-env GITHUB_WEBHOOK_SECRET --body-file event.json
            prints every header GitHub sends (X-Hub-Signature-256, X-GitHub-Event, X-GitHub-Delivery,
            Content-Type), one per line, ready for curl -H @file.
            """
    )

    @Option(help: "stripe, github, standard-webhooks, shopify, slack or paddle.")
    var preset: String

    @Option(help: "Environment variable holding the secret (keeps it out of shell history).")
    var secretEnv: String?

    @Option(help: "File holding the secret (a trailing newline is ignored).")
    var secretFile: String?

    @Option(help: "File with the exact body bytes to sign ('-' for standard input).")
    var bodyFile: String

    @Option(help: "Unix time to sign with (default: now).")
    var timestamp: Int64?

    @Option(help: "Delivery or message id: webhook-id, X-GitHub-Delivery, X-Shopify-Event-Id (default: a new one).")
    var id: String?

    @Option(help: "Event name for github (X-GitHub-Event, default: ping) and shopify (X-Shopify-Topic, default: orders/create).")
    var event: String?

    func validate() throws {
        guard let preset = HMACGuardSpec.Preset(rawValue: preset), preset != .generic else {
            throw ValidationError("unknown preset '\(self.preset)'; use stripe, github, standard-webhooks, shopify, slack or paddle")
        }
        if secretEnv == nil && secretFile == nil {
            throw ValidationError("give --secret-env NAME or --secret-file PATH (a secret on the command line would land in shell history)")
        }
    }

    func run() throws {
        guard let preset = HMACGuardSpec.Preset(rawValue: preset), preset != .generic else {
            throw ValidationError("unknown preset '\(self.preset)'; use stripe, github, standard-webhooks, shopify, slack or paddle")
        }
        var secret: [UInt8]
        if let secretEnv {
            guard let value = ProcessInfo.processInfo.environment[secretEnv], !value.isEmpty else {
                throw ValidationError("environment variable \(secretEnv) is not set")
            }
            secret = Array(value.utf8)
        } else if let secretFile {
            guard let data = FileManager.default.contents(atPath: secretFile) else {
                throw ValidationError("cannot read \(secretFile)")
            }
            secret = Array(data)
            while let last = secret.last, last == 0x0a || last == 0x0d { secret.removeLast() }
        } else {
            throw ValidationError("give --secret-env NAME or --secret-file PATH (a secret on the command line would land in shell history)")
        }
        let body: [UInt8]
        if bodyFile == "-" {
            body = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let data = FileManager.default.contents(atPath: bodyFile) else { throw ValidationError("cannot read \(bodyFile)") }
            body = Array(data)
        }
        let now = timestamp ?? Int64(Date().timeIntervalSince1970)
        do {
            for (name, value) in try WebhookSigner.sign(preset: preset, secret: secret, body: body, timestamp: now, id: id, event: event) {
                print("\(name): \(value)")
            }
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new API key: prints the key (give it to the client) and the line for the keys file (only its hash)."
    )

    @Option(help: "The key's id: what the app receives in x-api-key-id and what the access log shows.")
    var id: String

    func run() throws {
        guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x22 }) else {
            throw ValidationError("the id is 1-64 visible ASCII characters without quotes")
        }
        let (key, hash) = APIKeyMaker.make()
        print("key: \(key)")
        print("")
        print("# add to the keys file:")
        print("  - id: \"\(id)\"")
        print("    sha256: \(hash)")
        print("    state: enabled")
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("palisade \(PalisadeVersion.current)") }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the demo policy in front of an embedded demo app, show an allowed and a refused request, keep serving."
    )

    @Flag(help: "Exit after showing the two requests instead of serving until Ctrl-C.")
    var once = false

    func run() async throws {
        let logger = Diagnostics.logger()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        var yaml = DemoPolicy.yaml
        let app: any Channel
        do {
            app = try await DemoApp.bind(group: group, host: "127.0.0.1", port: 3000)
        } catch {
            app = try await DemoApp.bind(group: group, host: "127.0.0.1", port: 0)
            yaml = yaml.replacingOccurrences(of: "http://127.0.0.1:3000", with: "http://127.0.0.1:\(app.localAddress?.port ?? 0)")
        }
        let (plan, _) = try PlanCompiler.load(yaml: yaml, file: "<embedded demo policy>", generation: 1)
        try await Launcher.run(plan: plan, policyPath: nil, threads: System.coreCount, logger: logger, group: group) { addresses in
            let port = addresses.proxyPort
            Diagnostics.printToStderr(
                """

                Palisade demo: proxy on http://127.0.0.1:\(port), admin on http://127.0.0.1:\(addresses.adminPort ?? 0), demo app behind it.
                Policy: policies/demo.yaml (embedded). Access lines follow on stdout.

                """)
            for line in DemoClient.tour(proxyPort: port) { Diagnostics.printToStderr(line) }
            if once {
                kill(getpid(), SIGTERM)
            } else {
                Diagnostics.printToStderr("\nTry: curl -i http://127.0.0.1:\(port)/api/public/hello   (Ctrl-C stops)\n")
            }
        }
        try? await app.close()
        try? await group.shutdownGracefully()
    }
}

enum Launcher {
    static func run(
        plan: RuntimePlan,
        policyPath: String?,
        threads: Int,
        logger: Logger,
        group: MultiThreadedEventLoopGroup? = nil,
        onStarted: @escaping @Sendable (ProxyRuntime.BoundAddresses) -> Void = { _ in }
    ) async throws {
        // A log reader that went away (a closed stdout pipe) is a failed write, counted by the
        // access-log sink, not a signal that ends the proxy.
        signal(SIGPIPE, SIG_IGN)
        let runtime = try await ProxyRuntime.make(
            plan: plan, threads: threads, group: group, logger: logger,
            accessLogSink: FileDescriptorSink(fileDescriptor: 1, maxQueuedBytes: plan.policy.log.buffer.bytes))
        var services: [any Service] = [
            ProxyService(
                runtime: runtime,
                onStarted: { addresses in
                    // The demo's requests block; keep them off the service's task.
                    Thread.detachNewThread { onStarted(addresses) }
                })
        ]
        if let policyPath { services.append(PolicyReloadService(runtime: runtime, path: policyPath)) }
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await serviceGroup.run()
    }
}

enum Diagnostics {
    static func logger() -> Logger {
        var logger = Logger(label: "palisade") { JSONLogHandler(label: $0) }
        logger.logLevel = .info
        return logger
    }

    static func printToStderr(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
