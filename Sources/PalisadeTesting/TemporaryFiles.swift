import Foundation

/// Files a test writes for the code under test to read (policies, key sets, PEM keys).
public enum TemporaryFiles {
    /// A new, empty directory of its own under the system's temporary directory.
    public static func directory(_ prefix: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// `text` written to a file called `name` in a new directory of its own; returns its path.
    public static func file(_ text: String, named name: String, prefix: String = "palisade") throws -> String {
        let path = try directory(prefix).appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
