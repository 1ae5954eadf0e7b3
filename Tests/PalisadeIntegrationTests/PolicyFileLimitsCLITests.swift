import Foundation
import PalisadeTesting
import Testing

/// `palisade check` on hostile policy files, through the real binary: both fail fast with a
/// file:line:column diagnostic instead of running for minutes or reading 50 MB.
@Suite("palisade check: file limits", .serialized)
struct PolicyFileLimitsCLITests {
    @Test("an alias bomb fails fast, with the alias's position", .enabled(if: CLITests.binaryExists, CLITests.skipMessage))
    func aliasBomb() async throws {
        var text = "version: 1\nupstream: { url: \"http://127.0.0.1:3000\" }\nresponse_headers:\n"
        text += "  x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
        for (previous, name) in zip(names, names.dropFirst()) {
            text += "  x-\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        text += "routes:\n  - name: all\n    match: { prefix: / }\n    guards: [ { ip: { allow: *j } } ]\n"
        let path = try TemporaryFiles.file(text, named: "bomb.yaml")
        let start = ContinuousClock.now
        let result = try await CLITests.run(["check", path])
        // Without the cap this document never finishes (10^10 nodes); 20 s leaves room for a
        // ThreadSanitizer build on a loaded machine, where it took 8.5 s.
        #expect(ContinuousClock.now - start < .seconds(20))
        #expect(result.status == 1)
        let diagnostic = /.+bomb\.yaml:\d+:\d+: error: aliases expand this document by more than 100000 nodes.+/
        #expect(result.stdout.split(separator: "\n").contains { $0.wholeMatch(of: diagnostic) != nil }, "\(result.stdout)")
        #expect(result.stdout.contains("\(path): invalid (1 error)"))
    }

    @Test("a 50 MB policy is refused from its size", .enabled(if: CLITests.binaryExists, CLITests.skipMessage))
    func oversized() async throws {
        let path = try TemporaryFiles.file("version: 1\n", named: "huge.yaml")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 50_000_000)
        try handle.close()
        let result = try await CLITests.run(["check", path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("\(path):1:1: error: the file is larger than 1MiB (it has 50000000 bytes)"), "\(result.stdout)")
    }
}
