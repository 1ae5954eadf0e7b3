import Foundation
import Testing

/// Reproducible builds: every package SwiftPM resolved for this build, transitive ones included,
/// must be pinned with `exact:` in Package.swift at the version it resolved to. A dependency
/// update that pulls in a new package, or a pin left behind, fails here.
@Suite("Dependency pins")
struct DependencyPinTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `url -> version` from Package.swift's `.package(url: …, exact: "…")` lines.
    static func pins() throws -> [String: String] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var pins: [String: String] = [:]
        for match in manifest.matches(of: /\.package\(url: "([^"]+)", exact: "([^"]+)"\)/) {
            pins[String(match.1)] = String(match.2)
        }
        return pins
    }

    @Test("every resolved package is pinned exactly, at the version resolved")
    func everyPackagePinned() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(!manifest.contains("from: \""), "a dependency with a version range")
        let state = Self.root.appendingPathComponent(".build/workspace-state.json")
        let data = try Data(contentsOf: state)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let object = try #require(json["object"] as? [String: Any])
        let dependencies = try #require(object["dependencies"] as? [[String: Any]])
        let pins = try Self.pins()
        #expect(!dependencies.isEmpty)
        for dependency in dependencies {
            let reference = dependency["packageRef"] as? [String: Any]
            let location = try #require(reference?["location"] as? String)
            let version = (dependency["state"] as? [String: Any]).flatMap { $0["checkoutState"] as? [String: Any] }?["version"] as? String
            #expect(pins[location] != nil, "\(location) is resolved but not pinned in Package.swift")
            #expect(pins[location] == version, "\(location): pinned \(pins[location] ?? "-"), resolved \(version ?? "-")")
        }
    }
}
