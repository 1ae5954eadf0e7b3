import Foundation
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// Policy and keys files are read with a size cap checked before reading, and YAML aliases may
/// not expand a document past a bound: a tiny alias bomb or a huge file fails fast, with a position.
@Suite("Policy file limits")
struct PolicyFileLimitsTests {
    /// Nine levels of ten aliases each: 10^9 nodes once expanded, 1 KiB as written.
    static let aliasBomb: String = {
        var lines = [
            "version: 1",
            "upstream: { url: \"http://127.0.0.1:3000\" }",
            "response_headers:",
            "  x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        ]
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        for (previous, name) in zip(names, names.dropFirst()) {
            lines.append("  x-\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]")
        }
        lines.append("routes:")
        lines.append("  - name: all")
        lines.append("    match: { prefix: / }")
        lines.append("    guards: [ { ip: { allow: *i } } ]")
        return lines.joined(separator: "\n") + "\n"
    }()

    @Test("an alias bomb is refused fast, at the anchor whose repeats cross the bound")
    func aliasBomb() throws {
        let clock = ContinuousClock()
        var result: PolicyDecoder.Result?
        let elapsed = clock.measure { result = PolicyDecoder.decode(yaml: Self.aliasBomb, file: "bomb.yaml") }
        let errors = try #require(result).errors
        #expect(elapsed < .seconds(2))
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.message.contains("aliases expand this document by more than 100000 nodes"))
        // Each *a in &b adds 10 nodes, each *b in &c 110, each *c in &d 1110: 12300 in all; the
        // eighth *d in &e (11110 each) takes the total past 100000. Its line and column are given.
        #expect(error.message.contains("(alias '*d' here took it past that)"), "\(error)")
        #expect(error.description.hasPrefix("bomb.yaml:8:40: error: "), "\(error)")
    }

    @Test("an alias used as a mapping key is refused before Yams hashes it (that took 16 s for 1 KiB)")
    func aliasKeyBomb() throws {
        var text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g"]
        for (previous, name) in zip(names, names.dropFirst()) {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        text += "z: { ? *g : 1 }\n"
        let clock = ContinuousClock()
        var result: PolicyDecoder.Result?
        let elapsed = clock.measure { result = PolicyDecoder.decode(yaml: text, file: "keys.yaml") }
        #expect(elapsed < .seconds(2))
        let errors = try #require(result).errors
        #expect(errors.count == 1)
        #expect(errors.first?.message.contains("aliases expand this document") == true, "\(errors)")
    }

    @Test("moderate reuse of anchors is fine: a jwks block shared by routes, a list repeated")
    func moderateAliases() {
        let yaml = """
            version: 1
            upstream: { url: "http://127.0.0.1:3000" }
            routes:
              - name: a
                match: { prefix: /a/ }
                guards:
                  - ip: { allow: &nets [10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12] }
              - name: b
                match: { prefix: /b/ }
                guards:
                  - ip: { allow: *nets }
              - name: c
                match: { prefix: /c/ }
                guards:
                  - ip: { allow: *nets }
            default: deny
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: "ok.yaml")
        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.policy?.routes.count == 3)
    }

    @Test("the counter measures expansion exactly, without expanding")
    func counterIsExact() throws {
        // &a is 4 nodes; each *a in &b adds 3 (9), and &b is then 13 nodes; each *b in c adds 12 (24).
        let yaml = "a: &a [x, y, z]\nb: &b [*a, *a, *a]\nc: [*b, *b]\n"
        #expect(YAMLComposer.nodesAddedByAliases(yaml) == 33)
        #expect(YAMLComposer.nodesAddedByAliases(yaml, limit: 33) == 33)
        #expect(YAMLComposer.nodesAddedByAliases(yaml, limit: 32) == nil)
        #expect(YAMLComposer.nodesAddedByAliases("a: [x, y]\nb: {c: d}\n") == 0)
        // An anchor redefined later names a new node: *x repeats [3] (adding 1), not [1, 2].
        #expect(YAMLComposer.nodesAddedByAliases("a: &x [1, 2]\nb: &x [3]\nc: *x\n") == 1)
    }

    @Test("a file over the cap is refused from its size, before it is read")
    func oversizedPolicy() throws {
        let directory = try TemporaryFiles.directory("palisade-limits")
        let path = directory.appendingPathComponent("huge.yaml").path
        // Sparse: 50 MB by its size, nothing on disk; the message's byte count comes from fstat.
        #expect(FileManager.default.createFile(atPath: path, contents: Data("version: 1\n".utf8)))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 50_000_000)
        try handle.close()
        let result = PolicyDecoder.decode(contentsOf: path)
        #expect(
            result.errors.map(\.message) == [
                "the file is larger than 1MiB (it has 50000000 bytes); such files are refused unread"
            ])
    }

    @Test("a source with no size (a device) is read only up to the cap")
    func endlessSource() throws {
        let clock = ContinuousClock()
        var outcome: Result<[UInt8], BoundedFile.Failure>?
        let elapsed = clock.measure {
            outcome = Result { () throws(BoundedFile.Failure) in try BoundedFile.contents(of: "/dev/zero", limit: 4096) }
        }
        #expect(elapsed < .seconds(1))
        guard case .failure(let failure) = try #require(outcome) else {
            Issue.record("/dev/zero was read as if it ended")
            return
        }
        #expect(failure == .tooLarge(size: 4097, limit: 4096))
        #expect(failure.message("x").contains("it has more"))
        #expect(try BoundedFile.contents(of: "/dev/null") == [])
    }

    @Test("keys files are capped too: JWKS, PEM, API keys and secret files")
    func keysFilesCapped() throws {
        let directory = try TemporaryFiles.directory("palisade-limits")
        let path = directory.appendingPathComponent("big.json").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 2 << 20)
        try handle.close()
        let expected = "is larger than 1MiB (it has \(2 << 20) bytes); such files are refused unread"
        do throws(JWKSet.LoadError) {
            _ = try JWKSet.load(path: path)
            Issue.record("an oversized JWKS file loaded")
        } catch .message(let message) {
            #expect(message.contains(expected))
        }
        do throws(JWKSet.LoadError) {
            _ = try JWKSet.loadPEM(path: path)
            Issue.record("an oversized PEM file loaded")
        } catch .message(let message) {
            #expect(message.contains(expected))
        }
        let keys = APIKeyFile.decode(path: path)
        #expect(keys.errors.map(\.message) == ["the keys file \(expected)"])
    }

    @Test("an API keys file with an alias bomb is refused the same way")
    func keysFileAliasBomb() throws {
        let directory = try TemporaryFiles.directory("palisade-limits")
        let path = directory.appendingPathComponent("keys.yaml").path
        var text = "x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for (previous, name) in zip(["a", "b", "c", "d", "e", "f", "g"], ["b", "c", "d", "e", "f", "g", "h"]) {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        text += "keys: *h\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let keys = APIKeyFile.decode(path: path)
        #expect(keys.entries.isEmpty)
        #expect(keys.errors.first?.message.contains("aliases expand this document") == true)
    }

    @Test("store limits decode with defaults and ranges; an idempotency cap larger than the budget is an error")
    func storeLimitsDecode() throws {
        func decode(_ store: String, maxResponse: String = "64KiB") -> PolicyDecoder.Result {
            PolicyDecoder.decode(
                yaml: """
                    version: 1
                    upstream: { url: "http://127.0.0.1:3000" }
                    store: \(store)
                    routes:
                      - name: pay
                        match: { prefix: / }
                        guards:
                          - idempotency: { methods: [POST], max_response_bytes: \(maxResponse) }
                    """, file: "store.yaml")
        }
        let defaults = try #require(decode("{ kind: memory }").policy)
        #expect(defaults.storeLimits.maxBytes.bytes == 64 << 20)
        #expect(defaults.storeLimits.maxEntriesPerClient == 10_000)
        let set = try #require(decode("{ max_bytes: 1MiB, max_entries_per_client: 50 }").policy)
        #expect(
            set.storeLimits
                == {
                    var limits = StoreLimitsSpec()
                    limits.maxBytes = ByteCount(bytes: 1 << 20)
                    limits.maxEntriesPerClient = 50
                    return limits
                }())
        #expect(
            decode("{ max_bytes: 1KiB }").errors.map(\.description) == [
                "store.yaml:3:21: error: store.max_bytes: must be between 64KiB and 1024GiB, found 1KiB"
            ])
        #expect(decode("{ max_entries_per_client: 0 }").errors.first?.message == "must be between 1 and 100000000, found 0")
        let tooBig = decode("{ max_bytes: 1MiB }", maxResponse: "2MiB").errors
        #expect(
            tooBig.map(\.message) == [
                "max_response_bytes 2MiB does not fit in store.max_bytes 1MiB with its overhead: every request would get 503 store_full"
            ])
        #expect(tooBig.first?.position.keyPath == "routes[0].guards[0].idempotency")
    }
}
