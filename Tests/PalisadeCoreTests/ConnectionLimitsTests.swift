import NIOCore
import Testing

@testable import PalisadeCore

/// The bounds behind the resource limits: `Connection` options, the derived `max_connections`,
/// and the `limits.max_connections` key.
@Suite("Connection limits")
struct ConnectionLimitsTests {
    @Test("options are counted across commas and spaces, empty list elements not at all")
    func optionCount() {
        #expect(NominatedFields.optionCount("") == 0)
        #expect(NominatedFields.optionCount("keep-alive") == 1)
        #expect(NominatedFields.optionCount(" , ,close ,") == 1)
        #expect(NominatedFields.optionCount("a,b, c ,\td") == 4)
        #expect(NominatedFields.optionCount((0..<1500).map { "x\($0)" }.joined(separator: ",")) == 1500)
    }

    @Test("nominated names match fields in any case, only whole names, and repeats are held once")
    func nominatedFields() {
        var fields = NominatedFields()
        #expect(fields.isEmpty)
        #expect(!fields.contains("x-a"))
        RequestWriter.collectConnectionOptions("keep-alive, X-Hop, close, x-hop, Upgrade, Host, content-length", into: &fields)
        #expect(fields.names == ["X-Hop"], "the fields framing and routing depend on cannot be nominated")
        #expect(fields.contains("x-hop") && fields.contains("X-HOP"))
        #expect(!fields.contains("x-ho") && !fields.contains("x-hops") && !fields.contains("y-hop"))
    }

    @Test("an app answer nominating more than 32 Connection options is refused as malformed")
    func upstreamAnswerCap() throws {
        func parse(_ options: Int) throws -> UpstreamResponseHead? {
            var parser = UpstreamResponseParser()
            parser.expectResponse(toHEAD: false)
            let listed = (0..<options).map { "x-o\($0)" }.joined(separator: ", ")
            var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nConnection: \(listed)\r\nContent-Length: 0\r\n\r\n")
            guard case .head(let head) = try parser.next(&buffer) else { return nil }
            return head
        }
        #expect(try parse(32)?.connectionListed.count == 32)
        #expect(throws: UpstreamResponseParser.ParseError.self) { try parse(33) }
    }

    @Test("without max_connections the limit is derived from the descriptor limit, with a floor and a ceiling")
    func derivedMaxConnections() {
        #expect(RuntimeLimits.defaultMaxConnections(descriptorLimit: 1024) == 480)
        #expect(RuntimeLimits.defaultMaxConnections(descriptorLimit: 64) == 16)
        #expect(RuntimeLimits.defaultMaxConnections(descriptorLimit: 1_048_576) == 524_256)
        #expect(RuntimeLimits.defaultMaxConnections(descriptorLimit: .max) == 1_000_000)
    }

    @Test("limits.max_connections decodes, and a value out of range is refused at the key")
    func maxConnectionsKey() throws {
        let base = "version: 1\nupstream:\n  url: http://127.0.0.1:3000\nlimits:\n  max_connections: "
        let decoded = PolicyDecoder.decode(yaml: base + "250\n", file: "p.yaml")
        #expect(try #require(decoded.policy).limits.maxConnections == 250)
        #expect(PolicyDecoder.decode(yaml: "version: 1\nupstream:\n  url: http://a\n", file: "p.yaml").policy?.limits.maxConnections == nil)
        let refused = PolicyDecoder.decode(yaml: base + "0\n", file: "p.yaml")
        #expect(refused.policy == nil)
        let error = try #require(refused.errors.first)
        #expect(error.position.keyPath == "limits.max_connections")
        #expect(error.position.line == 5)
    }
}
