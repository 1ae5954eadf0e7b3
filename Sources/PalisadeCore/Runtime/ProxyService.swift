import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs the proxy as a lifecycle `Service`: starts the listeners, then waits for graceful shutdown
/// (SIGTERM/SIGINT from the `ServiceGroup`) and drains.
public struct ProxyService: Service {
    public let runtime: ProxyRuntime
    private let onStarted: @Sendable (ProxyRuntime.BoundAddresses) -> Void

    public init(runtime: ProxyRuntime, onStarted: @escaping @Sendable (ProxyRuntime.BoundAddresses) -> Void = { _ in }) {
        self.runtime = runtime
        self.onStarted = onStarted
    }

    public func run() async throws {
        let addresses = try await runtime.start()
        onStarted(addresses)
        try? await gracefulShutdown()
        await runtime.drainAndStop()
    }
}

/// Reloads the policy on SIGHUP and when the file changes. The file is polled (stat once a second,
/// then a content comparison) rather than watched with inotify, because Kubernetes updates a
/// mounted ConfigMap by swapping a symlink, which a watch on the file itself never sees.
public struct PolicyReloadService: Service {
    let runtime: ProxyRuntime
    let path: String
    let pollInterval: Duration

    /// The files as they were when the service was made (right after the policy loaded), so a
    /// change made before `run` starts is not missed.
    private let initial: [FileFingerprint]

    public init(runtime: ProxyRuntime, path: String, pollInterval: Duration = .seconds(1)) {
        self.runtime = runtime
        self.path = path
        self.pollInterval = pollInterval
        self.initial = Self.fingerprints(path: path, runtime: runtime)
    }

    static func fingerprints(path: String, runtime: ProxyRuntime) -> [FileFingerprint] {
        // The policy file and the files it names (API keys files) are watched together.
        [FileFingerprint(path: path)] + runtime.currentPlan.watchedFiles.map { FileFingerprint(path: $0) }
    }

    public func run() async throws {
        let runtime = self.runtime
        let path = self.path
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let signals = await UnixSignalsSequence(trapping: .sighup)
                for await _ in signals.cancelOnGracefulShutdown() {
                    runtime.logger.info("SIGHUP received; reloading policy")
                    runtime.reload(path: path)
                }
            }
            let initial = self.initial
            group.addTask {
                func fingerprints() -> [FileFingerprint] { Self.fingerprints(path: path, runtime: runtime) }
                var last = initial
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: pollInterval)
                    let now = fingerprints()
                    if now != last {
                        if now[0].exists {
                            runtime.logger.info("policy or keys file changed; reloading")
                            runtime.reload(path: path)
                        }
                        last = fingerprints()
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// What identifies a version of the file: its bytes (hashed), so a touch without change does not
/// reload and a same-second rewrite still does.
struct FileFingerprint: Equatable {
    var exists: Bool
    var hash: Int

    init(path: String) {
        if let data = FileManager.default.contents(atPath: path) {
            exists = true
            var hasher = Hasher()
            hasher.combine(data)
            hash = hasher.finalize()
        } else {
            exists = false
            hash = 0
        }
    }
}
