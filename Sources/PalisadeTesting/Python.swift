import Foundation

/// Runs a Python snippet (`python3 -c`) with arguments and optional standard input and returns
/// its standard output, trimmed. Tests use it for independent implementations: hashlib, hmac,
/// PyJWT and the webhook senders' SDKs.
public enum Python {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { "python failed: \(message)" }
    }

    public static func run(_ script: String, arguments: [String] = [], input: Data? = nil) throws -> String {
        let result = try execute(["python3", "-c", script] + arguments, environment: try PythonEnvironment.environment(), input: input)
        guard result.status == 0 else { throw Failure(message: String(decoding: result.stderr, as: UTF8.self)) }
        return String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `run` on a thread of its own: for scripts that take seconds (a paced load), which must not
    /// hold one of the few threads the async test runtime has.
    public static func runAsync(_ script: String, arguments: [String] = [], input: Data? = nil) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try run(script, arguments: arguments, input: input) })
            }
        }
    }

    /// Runs `arguments` through `/usr/bin/env` and waits for it: the one way the tests start a
    /// short-lived Python process (`run`, and the package check and install of PythonEnvironment).
    static func execute(
        _ arguments: [String], environment: [String: String], input: Data? = nil
    ) throws -> (status: Int32, stdout: Data, stderr: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, out, err)
    }

    /// Hex SHA-256 of a string's UTF-8 bytes, by hashlib.
    public static func sha256Hex(_ text: String) throws -> String {
        try run("import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())", arguments: [text])
    }
}
