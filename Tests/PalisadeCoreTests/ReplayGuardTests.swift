import NIOEmbedded
import NIOHTTP1
import Testing

@testable import PalisadeCore

/// The replay guard's `check` and `afterResponse` called directly, over a real memory store.
@Suite("Replay guard")
struct ReplayGuardTests {
    let loop = EmbeddedEventLoop()
    static let now: Int64 = 1_700_000_000

    static func replayGuard(
        _ id: ReplayGuardSpec.IDSource = .header("webhook-id"), onDuplicate: ReplayGuardSpec.OnDuplicate = .reject,
        route: String = "hooks", store: MemoryStore, signatureHeaders: [String] = []
    ) -> ReplayGuard {
        ReplayGuard(
            spec: ReplayGuardSpec(id: id, ttl: .seconds(60), onDuplicate: onDuplicate), routeName: route, store: store,
            signatureHeaders: signatureHeaders, lease: 30
        )
    }

    func delivery(_ id: String?, now: Int64 = now, client: String = "192.0.2.1") -> GuardRequest {
        GuardTestRequests.make(headers: id.map { [("Webhook-Id", $0)] } ?? [], client: client, now: now, on: loop)
    }

    /// Checks a delivery and, when it passes, answers it with `status`; returns the verdict.
    func deliver(_ guardItem: ReplayGuard, _ request: GuardRequest, answer status: HTTPResponseStatus = .ok) throws -> String {
        let verdict = try GuardTestRequests.verdict(guardItem.check(request))
        guardItem.afterResponse(request, status: status)
        return verdict
    }

    @Test(
        "a delivery answered 2xx is refused or acknowledged on a repeat, as the policy says",
        arguments: [
            (ReplayGuardSpec.OnDuplicate.reject, "replay_detected"), (ReplayGuardSpec.OnDuplicate.acknowledge, "duplicate_acknowledged"),
        ]
    )
    func committedDuplicate(onDuplicate: ReplayGuardSpec.OnDuplicate, expected: String) throws {
        let guardItem = Self.replayGuard(onDuplicate: onDuplicate, store: MemoryStore())
        #expect(try deliver(guardItem, delivery("evt_1")) == "allow")
        #expect(try deliver(guardItem, delivery("evt_1", now: Self.now + 5)) == expected)
        #expect(try deliver(guardItem, delivery("evt_2", now: Self.now + 5)) == "allow")
    }

    @Test("a duplicate while the first is in flight gets 409; the duplicate's own end does not free the first's hold")
    func inFlight() throws {
        let guardItem = Self.replayGuard(store: MemoryStore())
        let first = delivery("evt_1")
        #expect(try GuardTestRequests.verdict(guardItem.check(first)) == "allow")
        let second = delivery("evt_1")
        let refusal = try GuardTestRequests.refusal(guardItem.check(second))
        #expect(refusal == ReplayGuard.inFlight)
        #expect(refusal?.status == .conflict)
        guardItem.afterResponse(second, status: .conflict)
        #expect(try GuardTestRequests.verdict(guardItem.check(delivery("evt_1"))) == "replay_in_flight")
        // The first fails at the app: its id is released, so the sender's retry goes through.
        guardItem.afterResponse(first, status: .serviceUnavailable)
        #expect(try deliver(guardItem, delivery("evt_1")) == "allow")
        #expect(try deliver(guardItem, delivery("evt_1")) == "replay_detected")
    }

    @Test("an id is remembered for its TTL, then accepted again")
    func ttl() throws {
        let guardItem = Self.replayGuard(store: MemoryStore())
        #expect(try deliver(guardItem, delivery("evt_1")) == "allow")
        #expect(try deliver(guardItem, delivery("evt_1", now: Self.now + 59)) == "replay_detected")
        #expect(try deliver(guardItem, delivery("evt_1", now: Self.now + 60)) == "allow")
    }

    @Test("ids are compared exactly and per route")
    func idsExactAndPerRoute() throws {
        let store = MemoryStore()
        let hooks = Self.replayGuard(store: store)
        #expect(try deliver(hooks, delivery("evt_A")) == "allow")
        #expect(try deliver(hooks, delivery("evt_a")) == "allow")
        let other = Self.replayGuard(route: "billing", store: store)
        #expect(try deliver(other, delivery("evt_A")) == "allow")
        #expect(try deliver(other, delivery("evt_A")) == "replay_detected")
    }

    @Test("a missing or empty id is refused naming its header; an id sent twice is refused")
    func missingOrRepeated() throws {
        let guardItem = Self.replayGuard(store: MemoryStore())
        for request in [delivery(nil), delivery("")] {
            let refusal = try GuardTestRequests.refusal(guardItem.check(request))
            #expect(refusal == ReplayGuard.idMissing)
            #expect(refusal?.headerName == "webhook-id")
        }
        let twice = GuardTestRequests.make(headers: [("webhook-id", "evt_1"), ("WEBHOOK-ID", "evt_2")], on: loop)
        let refusal = try GuardTestRequests.refusal(guardItem.check(twice))
        #expect(refusal?.code == "duplicate_credential_header")
        #expect(refusal?.headerName == "webhook-id")
    }

    @Test(
        "an id read from the JSON body",
        arguments: [
            (#"{"data": {"id": "evt_9"}}"#, #"{"data": {"id": "evt_9", "n": 2}}"#, "replay_detected"),
            (#"{"data": {"id": 42}}"#, #"{"data": {"id": 42}}"#, "replay_detected"),
            (#"{"data": {"id": "evt_9"}}"#, #"{"data": {"id": "evt_10"}}"#, "allow"),
            (#"{"data": {"id": true}}"#, "", "replay_id_missing"),
            (#"{"data": {}}"#, "", "replay_id_missing"),
            ("not json", "", "replay_id_missing"),
        ]
    )
    func jsonID(first: String, second: String, expected: String) throws {
        let guardItem = Self.replayGuard(.json(["data", "id"]), store: MemoryStore())
        let firstVerdict = try deliver(guardItem, GuardTestRequests.make(body: first, on: loop))
        if expected == "replay_id_missing" {
            #expect(firstVerdict == expected)
            return
        }
        #expect(firstVerdict == "allow")
        #expect(try deliver(guardItem, GuardTestRequests.make(body: second, on: loop)) == expected)
    }

    @Test("a store that cannot hold another id refuses the delivery (fail closed) with the store's reason")
    func storeRefusalFailsClosed() throws {
        var limits = StoreLimitsSpec()
        limits.maxEntriesPerClient = 1
        let guardItem = Self.replayGuard(store: MemoryStore(limits: limits))
        #expect(try GuardTestRequests.verdict(guardItem.check(delivery("evt_1"))) == "allow")
        let refusal = try GuardTestRequests.refusal(guardItem.check(delivery("evt_2")))
        #expect(refusal == StoreRefusal.clientLimitReached)
        #expect(refusal?.status == .tooManyRequests)
        #expect(try GuardTestRequests.verdict(guardItem.check(delivery("evt_3", client: "192.0.2.2"))) == "allow")
    }

    @Test("ids behind a signature are charged to the store's budget only, never to the sender's per-client cap")
    func signedIDsChargeNoClient() throws {
        var limits = StoreLimitsSpec()
        limits.maxEntriesPerClient = 1
        let guardItem = Self.replayGuard(.signature, store: MemoryStore(limits: limits), signatureHeaders: ["x-signature"])
        for signature in ["sha256=aa", "sha256=bb", "sha256=cc"] {
            let request = GuardTestRequests.make(headers: [("x-signature", signature)], on: loop)
            #expect(try deliver(guardItem, request) == "allow")
        }
        let repeated = GuardTestRequests.make(headers: [("x-signature", "sha256=bb")], on: loop)
        #expect(try deliver(guardItem, repeated) == "replay_detected")
    }
}
