import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Every case of the Http11Probe suite (../shared/vectors, copied with its licence) sent as raw
/// bytes through the real proxy to a real upstream, judged by the verdict the RFCs expect.
@Suite("Http11Probe conformance", .serialized)
struct HTTPConformanceTests {
    struct ProbeCase: Sendable, CustomStringConvertible {
        var id: String
        var verdict: String
        var steps: [[UInt8]]
        var description: String { id }
    }

    static func loadCases() throws -> [ProbeCase] {
        guard let url = TestVectors.url("http11probe-cases", withExtension: "json")
        else { throw CocoaError(.fileNoSuchFile) }
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        return cases.map { c in
            let steps = (c["steps"] as! [[String: Any]]).map { step -> [UInt8] in
                if let b64 = step["raw_b64"] as? String, let data = Data(base64Encoded: b64) { return Array(data) }
                let expanded = expandTemplate(step["raw_template"] as! String)
                precondition(expanded.count == step["length"] as! Int, "template expansion length")
                return expanded
            }
            return ProbeCase(
                id: c["id"] as! String,
                verdict: (c["expected"] as! [String: Any])["verdict"] as! String,
                steps: steps
            )
        }
    }

    /// Expands `{{repeat:unit:count}}` and `{{seq:template:start:count}}` and the escapes of `raw`.
    static func expandTemplate(_ template: String) -> [UInt8] {
        var out = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            let close = rest.range(of: "}}", range: open.upperBound..<rest.endIndex)!
            // `repeat:<unit>:<count>` / `seq:<template>:<start>:<count>`; the unit may itself hold ':'.
            let inner = rest[open.upperBound..<close.lowerBound]
            if inner.hasPrefix("repeat:") {
                let body = inner.dropFirst("repeat:".count)
                let lastColon = body.lastIndex(of: ":")!
                out += String(repeating: String(body[..<lastColon]), count: Int(body[body.index(after: lastColon)...])!)
            } else {
                let body = inner.dropFirst("seq:".count)
                let countColon = body.lastIndex(of: ":")!
                let startColon = body[..<countColon].lastIndex(of: ":")!
                let template = body[..<startColon]
                let start = Int(body[body.index(after: startColon)..<countColon])!
                let count = Int(body[body.index(after: countColon)...])!
                for i in start..<start + count { out += template.replacingOccurrences(of: "%d", with: String(i)) }
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        return unescape(out)
    }

    static func unescape(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var chars = Array(text.utf8)[...]
        while let c = chars.popFirst() {
            guard c == UInt8(ascii: "\\"), let next = chars.popFirst() else {
                bytes.append(c)
                continue
            }
            switch next {
            case UInt8(ascii: "r"): bytes.append(13)
            case UInt8(ascii: "n"): bytes.append(10)
            case UInt8(ascii: "t"): bytes.append(9)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "x"):
                let hex = String(decoding: [chars.popFirst()!, chars.popFirst()!], as: UTF8.self)
                bytes.append(UInt8(hex, radix: 16)!)
            default: bytes.append(next)
            }
        }
        return bytes
    }

    static let canary = Array("GET /__canary HTTP/1.1\r\nHost: localhost:8080\r\n\r\n".utf8)

    @Test("every Http11Probe case is handled as its verdict says")
    func allCases() async throws {
        let cases = try Self.loadCases()
        #expect(cases.count == 181)
        // Short timeouts so requests that never complete are cut off within the read window.
        let harness = try await ProxyHarness.start(
            yaml: """
                version: 1
                listen: 127.0.0.1:0
                upstream:
                  url: {{UPSTREAM}}
                  response_timeout: 2s
                limits:
                  idle_timeout: 1s
                  header_read_timeout: 1s
                routes:
                  - name: all
                    match: { prefix: / }
                default: deny
                """)
        var failures: [String] = []
        for probe in cases {
            harness.upstream.reset()
            // Steps go on one connection, then (if it is still open) the desync canary.
            let outcomes = try await RawClient.conversation(
                probe.steps + [Self.canary], port: harness.proxyPort, timeoutMilliseconds: 2500
            )
            let stepOutcomes = outcomes.prefix(probe.steps.count)
            let merged = WireOutcome(
                responses: stepOutcomes.flatMap(\.responses),
                peerClosed: stepOutcomes.contains { $0.peerClosed },
                raw: stepOutcomes.flatMap(\.raw),
                incompleteTail: stepOutcomes.contains { $0.incompleteTail }
            )
            let forwarded = harness.upstream.requests.filter { $0.path != "/__canary" }
            if let problem = Self.judge(probe, outcome: merged, forwarded: forwarded.count, statuses: merged.statuses) {
                failures.append(
                    "\(probe.id) [\(probe.verdict)]: \(problem); statuses=\(merged.statuses) closed=\(merged.peerClosed) forwarded=\(forwarded.map { String($0.head.uri.prefix(40)) })"
                )
            } else if outcomes.count > probe.steps.count {
                // Connection still open: the canary must get exactly one well-formed answer.
                let canary = outcomes[probe.steps.count]
                if canary.responses.count != 1 || canary.incompleteTail {
                    failures.append("\(probe.id): desync: canary got \(canary.statuses) incomplete=\(canary.incompleteTail)")
                }
            }
        }
        // The proxy is still serving after all of it.
        let after = try await RawClient.get("/after", port: harness.proxyPort)
        #expect(after.status == 200)
        await harness.stop()
        #expect(failures.isEmpty, "\(failures.count) case(s) off verdict:\n\(failures.joined(separator: "\n"))")
    }

    static func judge(_ probe: ProbeCase, outcome: WireOutcome, forwarded: Int, statuses: [Int]) -> String? {
        let first = statuses.first
        switch probe.verdict {
        case "reject":
            if forwarded > 0 { return "forwarded to the app" }
            if let first, first < 400 { return "answered \(first)" }
            if first == nil && !outcome.peerClosed { return "neither answered nor closed" }
            return nil
        case "accept":
            guard let first, (200..<300).contains(first) else { return "not answered 2xx" }
            return forwarded > 0 ? nil : "not forwarded"
        case "reject_or_normalize":
            if let first, first < 400 {
                // Normalised: allowed only with the connection closed afterwards.
                return outcome.peerClosed ? nil : "2xx without closing the connection"
            }
            return forwarded > 0 ? "rejected yet forwarded" : nil
        case "no_101":
            return statuses.contains(101) ? "switched protocols" : nil
        default:  // either: must answer or close, and must not desynchronise
            if first == nil && !outcome.peerClosed { return "neither answered nor closed" }
            if outcome.incompleteTail { return "garbled response bytes" }
            return nil
        }
    }
}
