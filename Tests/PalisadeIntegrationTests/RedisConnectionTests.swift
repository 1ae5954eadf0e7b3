import Foundation
import NIOCore
import NIOPosix
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// How the store reaches a real redis-server: AUTH with an ACL user or a password alone (from the
/// URL or a secret), SELECT of the URL's database, and TLS (`rediss://`) verified against a CA
/// file, all configured through the policy as an operator would.
@Suite("Redis store connections", .serialized)
struct RedisConnectionTests {
    static func store(_ yaml: String) throws -> ResilientStore {
        let policy = "version: 1\nupstream: { url: \"http://app\" }\nstore:\n  kind: redis\n  redis: \(yaml)\n"
        let (plan, _) = try PlanCompiler.load(yaml: policy, file: "p.yaml", generation: 1)
        return try #require(plan.store as? ResilientStore)
    }

    static func reserve(_ store: ResilientStore, _ key: String, on loop: any EventLoop) async -> Result<ReservationOutcome, any Error> {
        do {
            return .success(
                try await store.reserve(key, fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: 0, on: loop).get())
        } catch {
            return .failure(error)
        }
    }

    static func count(_ server: RedisServer, database: Int) throws -> Int {
        Int(try server.cli(["-n", String(database), "DBSIZE"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test("AUTH with an ACL user from the URL and SELECT its database; a password alone from a secret; a wrong one fails unnamed")
    func credentials() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer(
            options: .init(
                arguments: ["--requirepass", "default-pw", "--user", "palisade", "on", ">user-pw", "~palisade:*", "+@all"],
                cliArguments: ["--pass", "default-pw", "--no-auth-warning"]))
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()

        let user = try Self.store("{ url: \"redis://palisade:user-pw@127.0.0.1:\(server.port)/3\", timeout: 2s }")
        #expect(try await Self.reserve(user, "a", on: loop).get() == .reserved)
        #expect(try Self.count(server, database: 3) == 1)
        #expect(try Self.count(server, database: 0) == 0)

        setenv("PALISADE_TEST_REDIS_DEFAULT_PASSWORD", "default-pw", 1)
        let secret = try Self.store(
            "{ url: \"redis://127.0.0.1:\(server.port)\", password: { env: PALISADE_TEST_REDIS_DEFAULT_PASSWORD }, timeout: 2s }")
        #expect(try await Self.reserve(secret, "b", on: loop).get() == .reserved)
        #expect(try Self.count(server, database: 0) == 1)

        let wrong = try Self.store("{ url: \"redis://palisade:not-the-pw@127.0.0.1:\(server.port)\", timeout: 2s }")
        let refused = await Self.reserve(wrong, "c", on: loop)
        guard case .failure(let error) = refused else {
            Issue.record("a wrong password was accepted")
            return
        }
        #expect(error as? StoreUnavailable == StoreUnavailable(.connection))
        #expect(!"\(error)".contains("not-the-pw"))
        #expect(!"\(wrong.primary.configuration)".contains("not-the-pw"))
        for store in [user, secret, wrong] { await store.primary.shutdown() }
        try await group.shutdownGracefully()
    }

    /// A CA and a server certificate for 127.0.0.1, made with the openssl command line.
    static func certificates() throws -> (certificate: String, key: String, ca: String) {
        let directory = try TemporaryFiles.directory("palisade-redis-tls")
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: path("ext.cnf"), atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj",
                "/CN=Palisade Test CA",
            ],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost"],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out",
                path("server.pem"), "-days", "2", "-extfile", path("ext.cnf"),
            ],
        ]
        for step in steps { _ = try RedisServer.run("openssl", step) }
        return (path("server.pem"), path("server.key"), path("ca.pem"))
    }

    @Test("rediss:// verifies the server against tls.ca_file; without that CA the connection is refused")
    func tls() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let files = try Self.certificates()
        let server = try RedisServer(options: .init(tls: files))
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let trusted = try Self.store("{ url: \"rediss://127.0.0.1:\(server.port)\", timeout: 2s, tls: { ca_file: \(files.ca) } }")
        #expect(try await Self.reserve(trusted, "a", on: loop).get() == .reserved)
        #expect(try await Self.reserve(trusted, "a", on: loop).get() == .inFlight(fingerprint: [1]))
        let untrusted = try Self.store("{ url: \"rediss://127.0.0.1:\(server.port)\", timeout: 2s }")
        let refused = await Self.reserve(untrusted, "b", on: loop)
        guard case .failure(let error) = refused else {
            Issue.record("a certificate from an unknown CA was accepted")
            return
        }
        #expect(error is StoreUnavailable)
        for store in [trusted, untrusted] { await store.primary.shutdown() }
        try await group.shutdownGracefully()
    }
}
