import NIOEmbedded
import NIOHTTP1
import Testing

@testable import PalisadeCore

/// The idempotency guard's `check` and `afterResponse` called directly, over a real memory store.
@Suite("Idempotency guard")
struct IdempotencyGuardTests {
    let loop = EmbeddedEventLoop()

    static func idempotencyGuard(required: Bool = true, store: MemoryStore = MemoryStore()) -> IdempotencyGuard {
        var spec = IdempotencyGuardSpec()
        spec.required = required
        spec.ttl = .seconds(600)
        return IdempotencyGuard(spec: spec, routeName: "orders", store: store, lease: 30)
    }

    func order(
        _ key: String?, body: String = #"{"sku": 1}"#, method: HTTPMethod = .POST, uri: String = "/orders",
        authorization: String = "Bearer alice", now: Int64 = 1_700_000_000
    ) -> GuardRequest {
        var headers = [("authorization", authorization)]
        if let key { headers.append(("Idempotency-Key", key)) }
        return GuardTestRequests.make(method, uri, headers: headers, body: body, now: now, on: loop)
    }

    /// What the app answered, as the proxy would have kept it while forwarding the answer.
    static func answer(_ request: GuardRequest, _ status: Int, _ body: String) {
        request.capturedResponse = StoredResponse(status: status, headers: [("content-type", "application/json")], body: Array(body.utf8))
    }

    /// Checks the request and, when it is forwarded, has the app answer `status` with `body`.
    func send(_ guardItem: IdempotencyGuard, _ request: GuardRequest, answer status: Int = 201, _ body: String = "order 1") throws -> String
    {
        let verdict = try GuardTestRequests.verdict(guardItem.check(request))
        if verdict == "allow" {
            Self.answer(request, status, body)
            guardItem.afterResponse(request, status: HTTPResponseStatus(statusCode: status))
        }
        return verdict
    }

    @Test("the first answer is kept and replayed for the same key and request; a different request is refused")
    func replaysTheFirstAnswer() throws {
        let guardItem = Self.idempotencyGuard()
        #expect(try send(guardItem, order("k-1")) == "allow")
        #expect(try send(guardItem, order("k-1", now: 1_700_000_100)) == "respond 201 order 1")
        #expect(try send(guardItem, order("k-1", body: #"{"sku": 2}"#)) == "idempotency_key_reused")
        #expect(try send(guardItem, order("k-1", uri: "/orders?express=1")) == "idempotency_key_reused")
        #expect(try send(guardItem, order("k-2", body: #"{"sku": 2}"#), "order 2") == "allow")
        #expect(try send(guardItem, order("k-2", body: #"{"sku": 2}"#)) == "respond 201 order 2")
        // Kept for the TTL only.
        #expect(try send(guardItem, order("k-1", now: 1_700_000_600), "order 3") == "allow")
    }

    @Test("while the first is in flight the same request gets 409, a different one 422")
    func inFlight() throws {
        let guardItem = Self.idempotencyGuard()
        let first = order("k-1")
        #expect(try GuardTestRequests.verdict(guardItem.check(first)) == "allow")
        #expect(try GuardTestRequests.refusal(guardItem.check(order("k-1")))?.status == .conflict)
        #expect(try GuardTestRequests.verdict(guardItem.check(order("k-1"))) == "idempotency_in_flight")
        #expect(try GuardTestRequests.verdict(guardItem.check(order("k-1", body: "{}"))) == "idempotency_key_reused")
        Self.answer(first, 201, "order 1")
        guardItem.afterResponse(first, status: .created)
        #expect(try send(guardItem, order("k-1")) == "respond 201 order 1")
    }

    @Test(
        "answers that are not kept (5xx, too large to keep, a broken answer) free the key for a retry",
        arguments: [
            (status: 500, kept: true), (status: 503, kept: true), (status: 201, kept: false),
        ]
    )
    func notKept(status: Int, kept: Bool) throws {
        let guardItem = Self.idempotencyGuard()
        let first = order("k-1")
        #expect(try GuardTestRequests.verdict(guardItem.check(first)) == "allow")
        if kept { Self.answer(first, status, "failed") }
        guardItem.afterResponse(first, status: HTTPResponseStatus(statusCode: status))
        #expect(try send(guardItem, order("k-1"), "order 1") == "allow")
        #expect(try send(guardItem, order("k-1")) == "respond 201 order 1")
    }

    @Test("4xx answers are kept and replayed like any other")
    func clientErrorsKept() throws {
        let guardItem = Self.idempotencyGuard()
        #expect(try send(guardItem, order("k-1"), answer: 402, "payment required") == "allow")
        #expect(try send(guardItem, order("k-1")) == "respond 402 payment required")
    }

    @Test("keys are scoped to the caller's credentials: another caller's same key is a new request")
    func scopedToCredentials() throws {
        let guardItem = Self.idempotencyGuard()
        #expect(try send(guardItem, order("k-1"), "alice's order") == "allow")
        #expect(try send(guardItem, order("k-1", authorization: "Bearer mallory")) == "allow")
        #expect(try send(guardItem, order("k-1")) == "respond 201 alice's order")
    }

    @Test(
        "a key is 1 to 255 visible ASCII characters",
        arguments: [
            ("", "idempotency_key_invalid"), ("has space", "idempotency_key_invalid"),
            ("ключ", "idempotency_key_invalid"), (String(repeating: "k", count: 256), "idempotency_key_invalid"),
            (String(repeating: "k", count: 255), "allow"), ("a", "allow"), ("!~", "allow"),
        ]
    )
    func keyShape(key: String, expected: String) throws {
        #expect(try send(Self.idempotencyGuard(), order(key)) == expected)
    }

    @Test("a missing key is refused when required, forwarded otherwise; methods not listed need none")
    func missingKey() throws {
        #expect(try send(Self.idempotencyGuard(), order(nil)) == "idempotency_key_missing")
        #expect(try send(Self.idempotencyGuard(required: false), order(nil)) == "allow")
        let guardItem = Self.idempotencyGuard()
        #expect(try send(guardItem, order(nil, method: .GET)) == "allow")
        #expect(try send(guardItem, order("k-1", method: .GET)) == "allow")
        #expect(try send(guardItem, order("k-1", method: .GET)) == "allow")
    }

    @Test("a store that cannot hold the key refuses the request rather than forward it unguarded")
    func storeRefusal() throws {
        var limits = StoreLimitsSpec()
        // Less than one reservation's answer allowance: nothing fits.
        limits.maxBytes = ByteCount(bytes: 4096)
        let guardItem = Self.idempotencyGuard(store: MemoryStore(limits: limits))
        let refusal = try GuardTestRequests.refusal(guardItem.check(order("k-1")))
        #expect(refusal == StoreRefusal.storeFull)
        #expect(refusal?.status == .serviceUnavailable)
    }
}
