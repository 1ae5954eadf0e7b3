import Foundation
import PalisadeDemo
import Testing

@testable import PalisadeCore

/// The shipped policies: the demo's embedded copy matches the file users read, and every policy
/// in `policies/` loads.
@Suite("Shipped policies")
struct DemoPolicyTests {
    /// The repository root, three levels above this file (Tests/PalisadeCoreTests/<file>).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the embedded demo policy is byte-identical to policies/demo.yaml")
    func demoMatchesFile() throws {
        let url = Self.repoRoot.appendingPathComponent(DemoPolicy.fileName)
        let onDisk = try String(contentsOf: url, encoding: .utf8)
        #expect(DemoPolicy.fileName == "policies/demo.yaml")
        if DemoPolicy.yaml != onDisk {
            let embedded = DemoPolicy.yaml.split(separator: "\n", omittingEmptySubsequences: false)
            let file = onDisk.split(separator: "\n", omittingEmptySubsequences: false)
            let firstDifference = zip(embedded, file).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record(
                """
                DemoPolicy.yaml differs from \(DemoPolicy.fileName): \(embedded.count) vs \(file.count) lines; \
                first difference at line \(firstDifference.map { String($0.offset + 1) } ?? "end")
                """
            )
        }
    }

    @Test("the embedded demo policy loads without errors or warnings")
    func demoLoads() throws {
        let result = PolicyDecoder.decode(yaml: DemoPolicy.yaml, file: DemoPolicy.fileName)
        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        let policy = try #require(result.policy)
        #expect(policy.routes.map(\.name) == ["health", "public-api", "internal-api"])
        #expect(policy.defaultAction == .deny)
    }

    @Test("every file in policies/ decodes without errors")
    func everyPolicyLoads() throws {
        let directory = Self.repoRoot.appendingPathComponent("policies")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
        #expect(names.contains("demo.yaml"))
        for name in names {
            let path = directory.appendingPathComponent(name).path
            let result = PolicyDecoder.decode(contentsOf: path)
            #expect(result.errors.isEmpty, "\(name): \(result.errors.map(\.description).joined(separator: "\n"))")
            #expect(result.policy != nil, "\(name) does not load")
            if let policy = result.policy {
                // Example secrets come from the environment or mounted files: give the variables
                // a value (base64 after whsec_, which every preset accepts); files cannot be faked.
                var fileBacked = false
                for secret in policy.secrets.values {
                    switch secret.source {
                    case .env(let names): for name in names { setenv(name, "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=", 1) }
                    case .file: fileBacked = true
                    case .inline: break
                    }
                }
                if fileBacked { continue }
                #expect(throws: Never.self) { try PlanCompiler.load(path: path, generation: 1) }
            }
        }
    }

    @Test("oidc-api.yaml: two jwt guards with the same jwks settings share one key set, and check fetches nothing")
    func sharedKeySet() throws {
        let path = Self.repoRoot.appendingPathComponent("policies/oidc-api.yaml").path
        let (plan, _) = try PlanCompiler.load(path: path, generation: 1)
        #expect(plan.usedRemoteKeys.count == 1)
        #expect(plan.usedRemoteKeys.first?.url == "https://login.example.com/.well-known/jwks.json")
        // Compiling (what `palisade check` does) starts no fetch: no attempt is recorded.
        #expect(plan.remoteKeys.statuses.map(\.fetches) == [0])
    }
}
