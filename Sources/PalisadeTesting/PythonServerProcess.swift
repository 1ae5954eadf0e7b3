import Foundation

/// A Python script run as a server beside a test: it prints one line (its ports) once it
/// listens, and runs until its standard input closes, so a crashed test cannot leave it behind.
final class PythonServerProcess: @unchecked Sendable {
    private let process: Process
    private let stdin: Pipe
    /// What the script printed first.
    let announcement: String

    init(script: String, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        process.environment = try PythonEnvironment.environment()
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try stdout.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != 0x0a {
            line.append(first)
        }
        self.process = process
        self.stdin = stdin
        self.announcement = String(decoding: line, as: UTF8.self)
    }

    /// The announced ports, or nil (and the process stopped) when the script did not start.
    func ports(_ count: Int) -> [Int]? {
        let ports = announcement.split(separator: " ").compactMap { Int($0) }
        guard ports.count == count else {
            process.terminate()
            return nil
        }
        return ports
    }

    func stop() {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
