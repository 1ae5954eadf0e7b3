import Crypto
import Foundation
import NIOConcurrencyHelpers

/// Decides when the policy must be loaded again: on SIGHUP always, and on a poll tick when a file
/// the plan in force was built from (the policy, API keys, JWKS and PEM files, secret files) now
/// holds different bytes.
///
/// Both triggers share one record of what was loaded and run one at a time, so a SIGHUP that
/// follows an edit reloads once: the signal's reload records the new contents and the next tick
/// finds nothing new (and a tick's reload likewise leaves nothing for a later tick).
final class PolicyFileWatcher: Sendable {
    private let runtime: ProxyRuntime
    private let path: String
    /// File path -> digest of the contents the plan in force was loaded from. The lock is held for
    /// a whole check-and-reload, which is what serialises the signal and the poll.
    private let loaded: NIOLockedValueBox<[String: FileFingerprint]>

    init(runtime: ProxyRuntime, path: String) {
        self.runtime = runtime
        self.path = path
        var initial: [String: FileFingerprint] = [:]
        for file in Self.files(policy: path, plan: runtime.currentPlan) {
            if let fingerprint = FileFingerprint(path: file) { initial[file] = fingerprint }
        }
        self.loaded = NIOLockedValueBox(initial)
    }

    private static func files(policy: String, plan: RuntimePlan) -> [String] {
        [policy] + plan.watchedFiles
    }

    /// SIGHUP: reload whatever the files hold, changed or not (an operator asked for it).
    func reloadOnSignal() {
        loaded.withLockedValue { loaded in
            runtime.logger.info("SIGHUP received; reloading policy")
            reload(&loaded)
        }
    }

    /// A poll tick: reload only when a file that could be read holds bytes other than those
    /// loaded. A file that cannot be read (out of descriptors, or gone for a moment while an
    /// editor or Kubernetes swaps it) is not a change: its last fingerprint stays and the next
    /// tick reads it again.
    func poll() {
        loaded.withLockedValue { loaded in
            let changed = Self.files(policy: path, plan: runtime.currentPlan).contains { file in
                guard let now = FileFingerprint(path: file) else { return false }
                return loaded[file] != now
            }
            guard changed else { return }
            runtime.logger.info("policy or keys file changed; reloading")
            reload(&loaded)
        }
    }

    private func reload(_ loaded: inout [String: FileFingerprint]) {
        // Read before loading: an edit landing during the load then shows as a change next tick,
        // so it is reloaded again rather than missed.
        var before: [String: FileFingerprint] = [:]
        var allRead = true
        for file in Self.files(policy: path, plan: runtime.currentPlan) {
            if let fingerprint = FileFingerprint(path: file) { before[file] = fingerprint } else { allRead = false }
        }
        switch runtime.reload(path: path) {
        case .success(let plan):
            loaded.merge(before) { _, new in new }
            // Files the new plan names for the first time.
            for file in Self.files(policy: path, plan: plan) where loaded[file] == nil {
                if let fingerprint = FileFingerprint(path: file) { loaded[file] = fingerprint }
            }
        case .failure:
            // A refused file is not retried until it changes again; but when the refusal may be
            // down to a file that could not be read (out of descriptors), the next tick retries.
            if allRead { loaded.merge(before) { _, new in new } }
        }
    }
}

/// A version of a file: the SHA-256 of all its bytes, so a touch without change does not reload,
/// and any edit does, wherever it is in the file. (Hashing `Data` with `Hasher` reads only its
/// length and first 80 bytes: a same-length edit further on, such as an API key's
/// `state: enabled` becoming `state: revoked`, went unseen.)
struct FileFingerprint: Equatable, Sendable {
    /// The 32 digest bytes (swift-crypto's digest type is not `Sendable`).
    private let digest: [UInt8]

    /// Nil when the file cannot be read now. A file over BoundedFile's cap is never read whole:
    /// its size stands for its contents, so it still counts as a change and the reload that
    /// follows reports it.
    init?(path: String) {
        do {
            digest = Array(SHA256.hash(data: try BoundedFile.contents(of: path)))
        } catch .tooLarge(let size, _) {
            digest = Array(SHA256.hash(data: Array("too large: \(size)".utf8)))
        } catch {
            return nil
        }
    }
}
