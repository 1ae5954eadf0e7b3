import Foundation

/// The environment every Python process of the tests runs in. The tests sign and mint with
/// independent implementations (the webhook senders' SDKs, PyJWT, `cryptography`); when the
/// machine's `python3` already has them, nothing changes. Otherwise they are installed once from
/// PyPI into `.build/palisade-test-python` and put on `PYTHONPATH`, so that `swift test` alone
/// runs the whole suite on a fresh machine, as the README promises.
enum PythonEnvironment {
    /// Module to import, and the pip requirement that provides it.
    static let requirements: [(module: String, requirement: String)] = [
        ("standardwebhooks", "standardwebhooks>=1.0"),
        ("stripe", "stripe>=7"),
        ("twilio", "twilio>=8"),
        ("jwt", "pyjwt[crypto]>=2.8"),
        ("cryptography", "cryptography"),
        // Real app servers the proxy is tested in front of (RealAppServer).
        ("flask", "flask>=2.3"),
        ("gunicorn", "gunicorn>=21"),
        ("uvicorn", "uvicorn>=0.23"),
        ("requests", "requests>=2.28"),
    ]

    /// Decided on first use, once per test process; `static let` makes concurrent first uses
    /// wait for that one decision (and the one install) instead of racing.
    private static let resolved: Result<[String: String], Python.Failure> = resolve()

    /// The process environment for `python3`, or why the packages could not be provided.
    static func environment() throws -> [String: String] { try resolved.get() }

    private static func canImportAll(environment: [String: String]) -> Bool {
        let imports = "import " + requirements.map(\.module).joined(separator: ", ")
        return run(["python3", "-c", imports], environment: environment).status == 0
    }

    private static func resolve() -> Result<[String: String], Python.Failure> {
        let base = ProcessInfo.processInfo.environment
        if canImportAll(environment: base) { return .success(base) }

        let directory = packageRoot.appendingPathComponent(".build/palisade-test-python").path
        var withPackages = base
        withPackages["PYTHONPATH"] = [directory, base["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        if canImportAll(environment: withPackages) { return .success(withPackages) }

        // Installed beside the final place and moved in whole, so a concurrent `swift test` in the
        // same checkout never sees half an installation.
        let staging = directory + ".staging-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: staging)
        let install = run(
            ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", staging]
                + requirements.map(\.requirement),
            environment: base
        )
        if install.status == 0 {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.moveItem(atPath: staging, toPath: directory)
        }
        try? FileManager.default.removeItem(atPath: staging)
        if canImportAll(environment: withPackages) { return .success(withPackages) }
        return .failure(
            Python.Failure(
                message: """
                    the tests need these Python packages: \(requirements.map(\.requirement).joined(separator: " ")). \
                    Installing them into \(directory) failed (pip exit \(install.status)): \(install.stderr). \
                    Install them yourself with: python3 -m pip install \
                    \(requirements.map { "'\($0.requirement)'" }.joined(separator: " "))
                    """
            )
        )
    }

    /// The package's root directory, found from this file's place in `Sources/PalisadeTesting/`.
    private static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private static func run(_ arguments: [String], environment: [String: String]) -> (status: Int32, stderr: String) {
        do {
            let result = try Python.execute(arguments, environment: environment)
            return (result.status, String(decoding: result.stderr.suffix(2000), as: UTF8.self))
        } catch {
            return (-1, "\(error)")
        }
    }
}
