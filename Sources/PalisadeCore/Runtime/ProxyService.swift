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

/// Reloads the policy on SIGHUP and when the file changes. The file is polled (read once a second
/// and compared by SHA-256) rather than watched with inotify, because Kubernetes updates a mounted
/// ConfigMap by swapping a symlink, which a watch on the file itself never sees.
public struct PolicyReloadService: Service {
    let pollInterval: Duration
    private let watcher: PolicyFileWatcher

    /// The files are fingerprinted here (right after the policy loaded), so a change made before
    /// `run` starts is not missed.
    public init(runtime: ProxyRuntime, path: String, pollInterval: Duration = .seconds(1)) {
        self.pollInterval = pollInterval
        self.watcher = PolicyFileWatcher(runtime: runtime, path: path)
    }

    public func run() async throws {
        let watcher = self.watcher
        let pollInterval = self.pollInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let signals = await UnixSignalsSequence(trapping: .sighup)
                for await _ in signals.cancelOnGracefulShutdown() {
                    watcher.reloadOnSignal()
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: pollInterval)
                    watcher.poll()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
