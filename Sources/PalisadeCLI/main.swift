import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PalisadeCore
import ServiceLifecycle

@main
struct Palisade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "palisade",
        abstract: "A security sidecar: a reverse proxy that enforces a YAML policy before requests reach your app.",
        version: PalisadeVersion.current,
        subcommands: [Run.self, Check.self, Demo.self, Version.self]
    )
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy with a policy file.")

    @Option(name: .shortAndLong, help: "Policy file (default: $PALISADE_CONFIG).")
    var config: String?

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int = System.coreCount

    func run() async throws {
        guard let path = config ?? ProcessInfo.processInfo.environment["PALISADE_CONFIG"] else {
            throw ValidationError("give --config FILE or set PALISADE_CONFIG")
        }
        let logger = Diagnostics.logger()
        let plan: RuntimePlan
        do {
            let (loaded, warnings) = try PlanCompiler.load(path: path, generation: 1)
            for warning in warnings { Diagnostics.printToStderr(warning.description) }
            plan = loaded
        } catch let error as PolicyLoadError {
            Diagnostics.printToStderr(error.description)
            throw ExitCode(1)
        }
        try await Launcher.run(plan: plan, policyPath: path, threads: threads, logger: logger)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate policy files: every error with file:line:column and key path. Exit 0 when all load."
    )

    @Argument(help: "Policy files.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            let result = PolicyDecoder.decode(contentsOf: file)
            for diagnostic in result.diagnostics { print(diagnostic) }
            if result.policy == nil {
                failed = true
                print("\(file): invalid (\(result.errors.count) error\(result.errors.count == 1 ? "" : "s"))")
            } else {
                print("\(file): ok\(result.warnings.isEmpty ? "" : " (\(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s"))")")
            }
        }
        if failed { throw ExitCode(1) }
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
            Diagnostics.printToStderr("""

                Palisade demo: proxy on http://127.0.0.1:\(port), admin on http://127.0.0.1:\(addresses.adminPort ?? 0), demo app behind it.
                Policy: policies/demo.yaml (embedded). Access lines follow on stdout.

                """)
            for (label, path) in [("allowed", "/api/public/hello"), ("refused", "/api/internal/stats")] {
                let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: palisade-demo\r\nConnection: close\r\n\r\n".utf8)
                if let outcome = try? RawHTTPExchange.send(request, port: port) {
                    Diagnostics.printToStderr("\(label): GET \(path) -> \(outcome.status ?? 0) \(outcome.body)")
                }
            }
            Diagnostics.printToStderr("\nTry: curl -i http://127.0.0.1:\(port)/api/public/hello   (Ctrl-C stops)\n")
            if once { kill(getpid(), SIGTERM) }
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
        let runtime = try await ProxyRuntime.make(plan: plan, threads: threads, group: group, logger: logger)
        var services: [any Service] = [ProxyService(runtime: runtime, onStarted: { addresses in
            // The demo's requests block; keep them off the service's task.
            Thread.detachNewThread { onStarted(addresses) }
        })]
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
        var logger = Logger(label: "palisade") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .info
        return logger
    }

    static func printToStderr(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
