import Crypto
import Foundation
import NIOCore
import NIOPosix
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// A real three-node Redis Cluster: keys spread over the nodes by their hash tags, and a slot moved
/// by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) while operations run, so the
/// store meets ASK and then MOVED and loses nothing. And a Cluster with a replica per master whose
/// master is killed: the replica is promoted and the store finds it.
@Suite("Redis Cluster store", .serialized)
struct RedisClusterTests {
    static func nodeID(_ node: RedisServer) throws -> String {
        try node.cli(["CLUSTER", "MYID"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The node that serves `slot` now, from `CLUSTER NODES` (each line ends with its slot ranges).
    static func owner(of slot: Int, in cluster: RedisClusterServers, askingNot down: Int? = nil) throws -> RedisServer {
        // `CLUSTER NODES` lists each node's slot ranges: find the one holding `slot`.
        let asked = try #require(cluster.nodes.first { $0.port != down })
        let nodes = try asked.cli(["CLUSTER", "NODES"]).split(separator: "\n")
        for line in nodes {
            let fields = line.split(separator: " ")
            guard fields.count > 8 else { continue }
            for range in fields[8...] {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                let (low, high) = bounds.count == 2 ? (bounds[0], bounds[1]) : (bounds.first ?? -1, bounds.first ?? -1)
                if (low...high).contains(slot),
                    let port = fields[1].split(separator: ":").last?.split(separator: "@").first.flatMap({ Int($0) }),
                    let node = cluster.nodes.first(where: { $0.port == port })
                {
                    return node
                }
            }
        }
        throw RedisServer.StartFailure(message: "no node serves slot \(slot)")
    }

    /// Caller keys whose Redis key lands in `slot`. One candidate in 16,384 does, so the search
    /// hashes hundreds of thousands: it is written as one lean loop over reused buffers (SHA-256,
    /// hex, CRC16 as `RedisKey` computes them), because in a debug build the general code took
    /// ten seconds of CPU and starved the suites running beside it. Each key found is checked
    /// against `RedisKey` itself.
    /// Whether at least one replica of `master` acknowledges every write so far (`WAIT 1`),
    /// asking once a second until `within` has passed.
    static func replicaAcknowledges(_ master: RedisServer, within: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            let replicas = try master.cli(["WAIT", "1", "1000"]).trimmingCharacters(in: .whitespacesAndNewlines)
            if (Int(replicas) ?? 0) >= 1 { return true }
        }
        return false
    }

    static func keys(inSlot slot: Int, count: Int, prefix: String) -> [String] {
        let crcTable: [UInt16] = (0..<256).map { index in
            var crc = UInt16(index) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
            return crc
        }
        let hex = Array("0123456789abcdef".utf8)
        var candidate = Array("\(prefix):".utf8)
        let stem = candidate.count
        var found: [String] = []
        var index = 0
        while found.count < count {
            candidate.removeSubrange(stem...)
            candidate.append(contentsOf: String(index).utf8)
            let crc = candidate.withUnsafeBytes { bytes -> UInt16 in
                SHA256.hash(data: bytes).withUnsafeBytes { digest in
                    var crc: UInt16 = 0
                    var position = 0
                    while position < 16 {
                        let byte = digest[position]
                        crc = (crc << 8) ^ crcTable[Int((crc >> 8) ^ UInt16(hex[Int(byte >> 4)]))]
                        crc = (crc << 8) ^ crcTable[Int((crc >> 8) ^ UInt16(hex[Int(byte & 0x0f)]))]
                        position += 1
                    }
                    return crc
                }
            }
            if Int(crc & 0x3FFF) == slot {
                let key = String(decoding: candidate, as: UTF8.self)
                precondition(RedisKey(.record, key).slot == slot, "the search and RedisKey disagree on \(key)")
                found.append(key)
            }
            index += 1
        }
        return found
    }

    static func reserve(_ store: RedisStore, _ key: String, on loop: any EventLoop) async throws -> ReservationOutcome {
        try await store.reserve(key, fingerprint: Array(key.utf8), client: nil, answerBytes: 0, lease: 600, now: 0, on: loop).get()
    }

    @Test("keys spread over three nodes; a slot migrated while operations run is followed through ASK and MOVED")
    func slotMigration() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let cluster = try await RedisClusterServers.start()
        defer { cluster.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let seeds = cluster.nodes.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) }
        let store = try RedisStore(configuration: .init(cluster: [seeds[0]], timeout: .seconds(2)))

        // Many keys, so every node holds some; each reserved once, then seen held.
        let spread = (0..<60).map { "spread:\($0)" }
        for key in spread { #expect(try await Self.reserve(store, key, on: loop) == .reserved) }
        for key in spread { #expect(try await Self.reserve(store, key, on: loop) == .inFlight(fingerprint: Array(key.utf8))) }
        for node in cluster.nodes { #expect(Int(try node.cli(["DBSIZE"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0) }

        // Move the slot of one key from its owner to another node, step by step, with traffic.
        let slot = RedisKey(.record, "moving:0").slot
        let source = try Self.owner(of: slot, in: cluster)
        let target = try #require(cluster.nodes.first { $0.port != source.port })
        let early = Self.keys(inSlot: slot, count: 5, prefix: "moving")
        for key in early { #expect(try await Self.reserve(store, key, on: loop) == .reserved) }

        // Traffic on the moving slot all along: every new key must be reserved, whatever the step.
        let trafficKeys = Self.keys(inSlot: slot, count: 24, prefix: "traffic")
        let traffic = Task { () -> (reserved: Int, other: Int) in
            var (reserved, other) = (0, 0)
            for key in trafficKeys {
                if Task.isCancelled { break }
                let outcome = try? await Self.reserve(store, key, on: loop)
                if outcome == .reserved { reserved += 1 } else { other += 1 }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return (reserved, other)
        }
        try target.cli(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", try Self.nodeID(source)])
        try source.cli(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", try Self.nodeID(target)])
        // Half moved: keys still on the source answer there; a new key is sent on with ASK.
        let during = Self.keys(inSlot: slot, count: 3, prefix: "during")
        for key in during { #expect(try await Self.reserve(store, key, on: loop) == .reserved) }
        for key in early { #expect(try await Self.reserve(store, key, on: loop) == .inFlight(fingerprint: Array(key.utf8))) }
        // Move the keys; those left to ask for are now on the target only (ASK again).
        let keysThere = try source.cli(["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]).split(separator: "\n").map(String.init)
        #expect(!keysThere.isEmpty)
        let migrated = try source.cli(["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS"] + keysThere)
        #expect(migrated.contains("OK"))
        for key in early { #expect(try await Self.reserve(store, key, on: loop) == .inFlight(fingerprint: Array(key.utf8))) }
        #expect((store.statistics.backend?.redirects ?? 0) > 0)
        // Finish: every node learns the new owner; the store gets MOVED once and updates its map.
        for node in cluster.nodes { try node.cli(["CLUSTER", "SETSLOT", String(slot), "NODE", try Self.nodeID(target)]) }
        try await Task.sleep(for: .milliseconds(100))
        traffic.cancel()
        let carried = await traffic.value
        #expect(carried.other == 0)
        #expect(carried.reserved > 0)
        for key in early + during { #expect(try await Self.reserve(store, key, on: loop) == .inFlight(fingerprint: Array(key.utf8))) }
        let after = Self.keys(inSlot: slot, count: 2, prefix: "after")
        for key in after { #expect(try await Self.reserve(store, key, on: loop) == .reserved) }
        #expect(Int(try source.cli(["CLUSTER", "COUNTKEYSINSLOT", String(slot)]).trimmingCharacters(in: .whitespacesAndNewlines)) == 0)
        #expect(
            Int(try target.cli(["CLUSTER", "COUNTKEYSINSLOT", String(slot)]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 10)
        // Nothing was lost anywhere: every key reserved so far still answers held.
        for key in spread { #expect(try await Self.reserve(store, key, on: loop) == .inFlight(fingerprint: Array(key.utf8))) }

        // Bans are listed from every master.
        let now = WallClock.now().seconds
        for index in 0..<20 {
            _ = try await store.ban("ban:\(index)", reason: "admin", terms: BanTerms(first: 60, longest: 60, memory: 0), now: now, on: loop)
                .get()
        }
        #expect(try await store.activeBans(now: now, limit: 100, on: loop).get().count == 20)
        await store.shutdown()
        try await group.shutdownGracefully()
    }

    @Test(
        "a master killed: keys on other masters answer throughout, its replica is promoted, and the store finds it with what was written before"
    )
    func failover() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let cluster = try await RedisClusterServers.start(replicasPerMaster: 1, nodeTimeoutMilliseconds: 1000)
        defer { cluster.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let seeds = cluster.nodes.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) }
        let store = try RedisStore(configuration: .init(cluster: seeds, timeout: .milliseconds(500)))

        let slot = RedisKey(.record, "failing:0").slot
        let master = try Self.owner(of: slot, in: cluster)
        let doomed = Self.keys(inSlot: slot, count: 3, prefix: "failing")
        for key in doomed { #expect(try await Self.reserve(store, key, on: loop) == .reserved) }
        // A key another master serves.
        let elsewhere = try #require(
            (0..<200).map { "steady:\($0)" }.first { try Self.owner(of: RedisKey(.record, $0).slot, in: cluster).port != master.port })
        #expect(try await Self.reserve(store, elsewhere, on: loop) == .reserved)
        // The replica has the writes before its master goes. Replication is asynchronous, and a
        // replica that joined moments ago may still be in its first full sync, when one WAIT of a
        // fixed time can end with no acknowledgement (seen on a loaded machine): asked again until
        // one replica has them.
        #expect(try Self.replicaAcknowledges(master, within: .seconds(30)), "no replica took the writes within 30 s")

        master.stop()
        // The other masters go on answering at once.
        #expect(try await Self.reserve(store, elsewhere, on: loop) == .inFlight(fingerprint: Array(elsewhere.utf8)))
        // The failed master's slots answer again once the replica is promoted (about two node
        // timeouts); meanwhile the store fails fast and keeps asking for the map.
        let started = ContinuousClock.now
        var recovered: ReservationOutcome?
        var failures = 0
        while recovered == nil && ContinuousClock.now - started < .seconds(30) {
            do {
                recovered = try await Self.reserve(store, doomed[0], on: loop)
            } catch {
                failures += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(recovered == .inFlight(fingerprint: Array(doomed[0].utf8)), "after \(failures) failures: \(String(describing: recovered))")
        let promoted = try Self.owner(of: slot, in: cluster, askingNot: master.port)
        #expect(promoted.port != master.port)
        for key in doomed.dropFirst() { #expect(try await Self.reserve(store, key, on: loop) == .inFlight(fingerprint: Array(key.utf8))) }
        #expect(try await Self.reserve(store, "failing:new", on: loop) == .reserved)
        await store.shutdown()
        try await group.shutdownGracefully()
    }
}
