import Testing

@testable import PalisadeCore

/// The exchange's rules without sockets: what happens to a read, a body part and the end of a
/// request in each state, when the connection closes, when the next pipelined request may start,
/// and that completion happens once.
@Suite("Exchange state machine")
struct ExchangeStateMachineTests {
    typealias Machine = ExchangeStateMachine

    /// A machine brought to `state` for a keep-alive request with a body still to come.
    static func machine(in state: Machine.State, keepAlive: Bool = true, bodyless: Bool = false) -> Machine {
        var machine = Machine()
        guard state != .idle else { return machine }
        machine.requestStarted(keepAlive: keepAlive, bodyless: bodyless)
        switch state {
        case .idle: break
        case .bufferingBody: machine.bufferBody()
        case .awaitingGuard: _ = machine.guardPending()
        case .connecting: machine.connectStarted()
        case .forwarding:
            machine.connectStarted()
            machine.appAttached()
        case .replied: _ = machine.localAnswer(forceClose: false, draining: false)
        case .tunnelling: machine.tunnelStarted()
        }
        return machine
    }

    static let allStates: [Machine.State] = [
        .idle, .bufferingBody, .awaitingGuard, .connecting, .forwarding, .replied, .tunnelling,
    ]

    @Test(
        "reads are held while connecting or waiting on a guard with a body to come, the app is not writable, or input backs up",
        arguments: [
            (Machine.State.idle, false, true, Machine.ReadAction.read),
            (.idle, true, true, .hold),
            (.bufferingBody, false, true, .read),
            (.awaitingGuard, false, true, .hold),
            (.connecting, false, true, .hold),
            (.forwarding, false, true, .read),
            (.forwarding, false, false, .hold),
            (.replied, false, true, .read),
            (.tunnelling, false, true, .read),
        ]
    )
    func readGating(state: Machine.State, backlog: Bool, appWritable: Bool, expected: Machine.ReadAction) {
        var machine = Self.machine(in: state)
        let result1 = machine.readRequested(inputBacklogFull: backlog, appWritable: appWritable)
        #expect(result1 == expected)
        // A held read is remembered exactly once.
        let result2 = machine.takePendingRead()
        #expect(result2 == (expected == .hold))
        let result3 = machine.takePendingRead()
        #expect(result3 == false)
    }

    @Test(
        "a request read in full is not held while its guard or app connection is awaited (unless input backs up)",
        arguments: [(Machine.State.awaitingGuard, false), (.connecting, false), (.awaitingGuard, true), (.connecting, true)]
    )
    func completeRequestKeepsReading(state: Machine.State, backlog: Bool) {
        var machine = Self.machine(in: state, bodyless: true)
        #expect(machine.requestEnded() == .hold)
        let result = machine.readRequested(inputBacklogFull: backlog, appWritable: true)
        #expect(result == (backlog ? .hold : .read))
    }

    @Test(
        "a body part goes on, waits in order, feeds a guard, or is dropped, by state",
        arguments: [
            (Machine.State.idle, Machine.BodyAction.discard),
            (.bufferingBody, .buffer),
            (.awaitingGuard, .hold),
            (.connecting, .hold),
            (.forwarding, .forward),
            (.replied, .discard),
            (.tunnelling, .discard),
        ]
    )
    func bodyParts(state: Machine.State, expected: Machine.BodyAction) {
        #expect(Self.machine(in: state).bodyArrived() == expected)
    }

    @Test(
        "the end of a request is forwarded, held, starts the guards, or completes an early answer",
        arguments: [
            (Machine.State.forwarding, Machine.EndAction.forwardEnd),
            (.connecting, .hold),
            (.awaitingGuard, .hold),
            (.bufferingBody, .runGuards),
            (.replied, .completeAnswered),
            (.tunnelling, .ignore),
        ]
    )
    func requestEnd(state: Machine.State, expected: Machine.EndAction) {
        var machine = Self.machine(in: state)
        let result4 = machine.requestEnded()
        #expect(result4 == expected)
        #expect(machine.requestComplete)
    }

    struct CloseCase: Sendable, CustomTestStringConvertible {
        var name: String
        var keepAlive = true
        var bodyless = true
        var requestRead = true
        var forceClose = false
        var draining = false
        var quiescing = false
        var closes: Bool
        var testDescription: String { name }
    }

    @Test(
        "a local answer keeps the connection only for a fully read keep-alive request outside a drain",
        arguments: [
            CloseCase(name: "keep-alive, read", closes: false),
            CloseCase(name: "forced", forceClose: true, closes: true),
            CloseCase(name: "client asked to close", keepAlive: false, closes: true),
            CloseCase(name: "body unread", bodyless: false, requestRead: false, closes: true),
            CloseCase(name: "bodyless, end not parsed yet", bodyless: true, requestRead: false, closes: false),
            CloseCase(name: "body read in full", bodyless: false, requestRead: true, closes: false),
            CloseCase(name: "process draining", draining: true, closes: true),
            CloseCase(name: "connection quiescing", quiescing: true, closes: true),
        ]
    )
    func localAnswerClose(_ c: CloseCase) {
        var machine = Machine()
        machine.requestStarted(keepAlive: c.keepAlive, bodyless: c.bodyless)
        if c.quiescing { _ = machine.quiesce(partialInput: true) }
        if c.requestRead {
            machine.connectStarted()
            _ = machine.requestEnded()
        }
        let result5 = machine.localAnswer(forceClose: c.forceClose, draining: c.draining)
        #expect(result5 == c.closes)
        #expect(machine.state == .replied)
        #expect(machine.discardsInput == c.closes)
    }

    @Test("the next pipelined request waits until the exchange completes, then the connection is idle again")
    func pipelining() {
        var machine = Self.machine(in: .forwarding)
        #expect(!machine.nextRequestWaits)
        let result6 = machine.requestEnded()
        #expect(result6 == .forwardEnd)
        #expect(machine.nextRequestWaits)
        machine.appAnswerStarted(close: false)
        machine.appAnswerEnded()
        let result7 = machine.complete()
        #expect(result7 == .nextRequest(resumeRead: false))
        #expect(machine.state == .idle)
        #expect(!machine.nextRequestWaits)
    }

    @Test("completion runs once, whatever ends the exchange")
    func completionOnce() {
        var machine = Self.machine(in: .forwarding)
        machine.stalled()
        let result8 = machine.complete()
        #expect(result8 == .closing)
        let result9 = machine.complete()
        #expect(result9 == .alreadyComplete)
        #expect(machine.state == .replied)
        // No exchange has started on a fresh connection: nothing to complete.
        var fresh = Machine()
        let result10 = fresh.complete()
        #expect(result10 == .alreadyComplete)
    }

    @Test("a read held while connecting resumes when the exchange ends, a 502 included")
    func heldReadResumesOnCompletion() {
        var machine = Self.machine(in: .connecting, bodyless: true)
        let result11 = machine.readRequested(inputBacklogFull: false, appWritable: true)
        #expect(result11 == .hold)
        let result12 = machine.localAnswer(forceClose: false, draining: false)
        #expect(result12 == false)
        let result13 = machine.complete()
        #expect(result13 == .nextRequest(resumeRead: true))
    }

    @Test("a drain closes an idle connection at once and a busy one after its answer")
    func quiesce() {
        var idle = Machine()
        let result14 = idle.quiesce(partialInput: false)
        #expect(result14 == .closeNow)
        var halfRead = Machine()
        let result15 = halfRead.quiesce(partialInput: true)
        #expect(result15 == .closeAfterCurrent)
        var busy = Self.machine(in: .forwarding)
        let result16 = busy.quiesce(partialInput: false)
        #expect(result16 == .closeAfterCurrent)
        _ = busy.requestEnded()
        #expect(busy.closesAfterAppAnswer(draining: false, parserStopsAfterRequest: false))
        busy.appAnswerStarted(close: false)
        busy.appAnswerEnded()
        let result17 = busy.complete()
        #expect(result17 == .closeNow)
    }

    @Test("the app's answer closes the connection for HTTP/1.0-style, unread, draining or stopped requests")
    func appAnswerClose() {
        var machine = Self.machine(in: .forwarding)
        #expect(machine.closesAfterAppAnswer(draining: false, parserStopsAfterRequest: false))  // body unread
        _ = machine.requestEnded()
        #expect(!machine.closesAfterAppAnswer(draining: false, parserStopsAfterRequest: false))
        #expect(machine.closesAfterAppAnswer(draining: true, parserStopsAfterRequest: false))
        #expect(machine.closesAfterAppAnswer(draining: false, parserStopsAfterRequest: true))
        let noKeepAlive = Self.machine(in: .forwarding, keepAlive: false)
        #expect(noKeepAlive.closesAfterAppAnswer(draining: false, parserStopsAfterRequest: false))
    }

    @Test(
        "a client that leaves mid-exchange abandons it; an idle, answered or tunnelled one does not",
        arguments: allStates
    )
    func clientGone(state: Machine.State) {
        let busy: Set<Machine.State> = [.bufferingBody, .awaitingGuard, .connecting, .forwarding]
        let expected: Machine.ClientGoneAction = busy.contains(state) ? .abandonExchange : .nothing
        #expect(Self.machine(in: state).clientClosed() == expected)
    }

    @Test("a guard's late answer is ignored once the exchange moved on")
    func lateGuardAnswer() {
        var machine = Self.machine(in: .bufferingBody)
        let previous = machine.guardPending()
        let result18 = machine.guardAnswered(resumingIn: previous)
        #expect(result18)
        #expect(machine.state == .bufferingBody)
        let again = machine.guardPending()
        _ = machine.localAnswer(forceClose: true, draining: false)  // a timeout answered meanwhile
        let result19 = machine.guardAnswered(resumingIn: again)
        #expect(!result19)
        #expect(machine.state == .replied)
    }

    @Test("a parse error is answered between requests, fails the request under way, or is ignored after a closing answer")
    func parseErrors() {
        #expect(Machine().parseFailed() == .answerAndClose)
        #expect(Self.machine(in: .forwarding).parseFailed() == .failCurrent)
        #expect(Self.machine(in: .bufferingBody).parseFailed() == .failCurrent)
        var closing = Self.machine(in: .connecting)
        _ = closing.localAnswer(forceClose: true, draining: false)
        #expect(closing.parseFailed() == .ignore)
        var kept = Self.machine(in: .connecting, bodyless: true)
        _ = kept.localAnswer(forceClose: false, draining: false)
        #expect(kept.parseFailed() == .answerAndClose)
    }

    @Test("an unparsed exchange (parse error, header timeout) cannot keep the connection")
    func unparsed() {
        var machine = Machine()
        machine.unparsedStarted()
        let result20 = machine.localAnswer(forceClose: false, draining: false)
        #expect(result20)
        let result21 = machine.complete()
        #expect(result21 == .closing)
    }

    @Test("deadline phases follow the state", arguments: allStates)
    func deadlinePhase(state: Machine.State) {
        let expected: ConnectionClocks.Phase
        switch state {
        case .idle: expected = .idle
        case .forwarding: expected = .forwarding
        case .bufferingBody, .awaitingGuard, .connecting: expected = .waiting
        case .replied, .tunnelling: expected = .settled
        }
        #expect(Self.machine(in: state).deadlinePhase == expected)
    }
}
