/// The life of one client connection's current exchange, as a value that takes events and answers
/// with what the handler must do. No I/O, no clock and no allocation: every rule about when to
/// read, what to do with a request part, when to close and when the next pipelined request may
/// start lives here and is tested without sockets (ExchangeStateMachineTests), the way swift-nio's
/// own HTTP handlers keep theirs.
///
/// The handler (`ExchangeHandler` and its phase files) owns the bytes, the guards and the app
/// connection; it asks this machine before acting and reports what happened.
struct ExchangeStateMachine {
    enum State: Equatable {
        /// Waiting for a request head.
        case idle
        /// Reading the body a guard needs before deciding.
        case bufferingBody
        /// Waiting for a guard that asked the store.
        case awaitingGuard
        /// Guards passed; waiting for a connection to the app.
        case connecting
        /// The request is with the app and its answer streams back.
        case forwarding
        /// Answered (by Palisade, or the app's answer ended and the connection closes): the rest of
        /// the request is discarded.
        case replied
        /// A WebSocket tunnel replaced the HTTP handlers.
        case tunnelling
    }

    private(set) var state: State = .idle
    /// The request's last byte has been read.
    private(set) var requestComplete = true
    /// No body follows the head (no Content-Length, or 0, and not chunked).
    private(set) var bodyless = true
    private(set) var keepAlive = true
    /// The first byte of the app's answer is on its way to the client.
    private(set) var responseStarted = false
    private(set) var responseComplete = false
    private(set) var closeAfterResponse = false
    /// The completion step ran (or no exchange has started on this connection yet).
    private(set) var finished = true
    /// A drain asked this connection to close once its current answer is complete.
    private(set) var quiescing = false
    /// A read the channel asked for and the machine held back.
    private(set) var readPending = false

    // MARK: starting an exchange

    /// A request head was parsed.
    mutating func requestStarted(keepAlive: Bool, bodyless: Bool) {
        state = .idle
        self.keepAlive = keepAlive
        self.bodyless = bodyless
        requestComplete = false
        responseStarted = false
        responseComplete = false
        closeAfterResponse = false
        finished = false
    }

    /// An answer with no parsed request behind it (a parse error, a head that never finished):
    /// nothing more can be read from this connection.
    mutating func unparsedStarted() {
        requestStarted(keepAlive: false, bodyless: true)
        requestComplete = true
    }

    // MARK: reading from the client

    enum ReadAction: Equatable {
        case read
        case hold
    }

    /// The channel wants to read. Reads are held while the request cannot move on (connecting,
    /// waiting on a guard, the app not writable) and while too much unparsed input waits.
    mutating func readRequested(inputBacklogFull: Bool, appWritable: Bool) -> ReadAction {
        let hold: Bool
        if inputBacklogFull {
            hold = true
        } else {
            switch state {
            // While a guard's store or the app connection is awaited, a request still sending
            // its body is held (its parts would wait in memory). Once it has all arrived, what
            // comes next is the next request (bounded by the backlog) or the client's close,
            // which a read notices at once; holding would cost two epoll changes per request.
            case .connecting, .awaitingGuard: hold = !requestComplete
            case .forwarding: hold = !appWritable
            case .idle, .bufferingBody, .replied, .tunnelling: hold = false
            }
        }
        if hold {
            readPending = true
            return .hold
        }
        return .read
    }

    /// Takes a held read back, to be asked for again now that things may have moved.
    mutating func takePendingRead() -> Bool {
        guard readPending else { return false }
        readPending = false
        return true
    }

    /// True once the current request has been read in full but its exchange is not finished: what
    /// arrives now belongs to the next request and waits its turn.
    var nextRequestWaits: Bool {
        switch state {
        case .idle, .tunnelling: return false
        default: return requestComplete
        }
    }

    /// The connection closes after this answer: nothing more from the client is parsed.
    var discardsInput: Bool { state == .replied && closeAfterResponse }

    // MARK: request parts

    enum BodyAction: Equatable {
        /// Straight on to the app.
        case forward
        /// Kept in order until the app connection is ready or the guard answers.
        case hold
        /// Added to the body a guard reads.
        case buffer
        /// Answered already, or no request: dropped.
        case discard
    }

    func bodyArrived() -> BodyAction {
        switch state {
        case .forwarding: return .forward
        case .connecting, .awaitingGuard: return .hold
        case .bufferingBody: return .buffer
        case .idle, .replied, .tunnelling: return .discard
        }
    }

    enum EndAction: Equatable {
        case forwardEnd
        case hold
        /// The body a guard needed is complete: the guards run now.
        case runGuards
        /// Palisade answered before the request ended; now the exchange can complete.
        case completeAnswered
        case ignore
    }

    mutating func requestEnded() -> EndAction {
        requestComplete = true
        switch state {
        case .forwarding: return .forwardEnd
        case .connecting, .awaitingGuard: return .hold
        case .bufferingBody: return .runGuards
        case .replied: return responseComplete ? .completeAnswered : .ignore
        case .idle, .tunnelling: return .ignore
        }
    }

    // MARK: moving through the phases

    mutating func bufferBody() { state = .bufferingBody }
    mutating func connectStarted() { state = .connecting }
    mutating func appAttached() { state = .forwarding }

    /// A guard answers later; returns the state to go back to when it does.
    mutating func guardPending() -> State {
        let previous = state
        state = .awaitingGuard
        return previous
    }

    /// A pending guard answered. False when the exchange moved on meanwhile (the client left, a
    /// timeout answered): the answer is then ignored.
    mutating func guardAnswered(resumingIn previous: State) -> Bool {
        guard state == .awaitingGuard else { return false }
        state = previous
        return true
    }

    // MARK: answers

    /// Palisade answers itself. Returns whether the connection closes after the answer: always when
    /// asked, when the client did not ask for keep-alive, when part of the request is still unread
    /// (it cannot be told apart from the next request), and while draining.
    mutating func localAnswer(forceClose: Bool, draining: Bool) -> Bool {
        let requestRead = requestComplete || bodyless
        let close = forceClose || !keepAlive || !requestRead || draining || quiescing
        closeAfterResponse = close
        responseComplete = true
        state = .replied
        return close
    }

    /// Whether the connection closes after the app's answer, decided from the request's side.
    func closesAfterAppAnswer(draining: Bool, parserStopsAfterRequest: Bool) -> Bool {
        !keepAlive || !requestComplete || draining || quiescing || parserStopsAfterRequest
    }

    /// The app's answer head went to the client; `close` as the writer decided it.
    mutating func appAnswerStarted(close: Bool) {
        responseStarted = true
        closeAfterResponse = close
    }

    mutating func appAnswerEnded() { responseComplete = true }

    /// Part of the answer is with the client and cannot be completed: the connection is cut.
    mutating func answerBrokenOff() { closeAfterResponse = true }

    mutating func tunnelStarted() {
        state = .tunnelling
        responseComplete = true
    }

    // MARK: completion

    enum CompletionAction: Equatable {
        /// The exchange had completed already: nothing to do.
        case alreadyComplete
        /// Ready for the next request; `resumeRead` when a read was held, `parseNext` when bytes wait.
        case nextRequest(resumeRead: Bool)
        /// The connection closes once the answer is written (the caller arranged that).
        case closing
        /// Draining and idle now: close at once.
        case closeNow
        case tunnel
    }

    /// The exchange reached its end. Every exchange comes here exactly once, whatever ended it.
    mutating func complete() -> CompletionAction {
        guard !finished else { return .alreadyComplete }
        finished = true
        if state == .tunnelling { return .tunnel }
        if closeAfterResponse {
            state = .replied
            return .closing
        }
        state = .idle
        if quiescing {
            state = .replied
            return .closeNow
        }
        // Reads withheld while connecting or waiting on a guard resume here, whatever ended the
        // exchange (a 502 after a failed connect among them); otherwise the connection wedges.
        return .nextRequest(resumeRead: takePendingRead())
    }

    /// True while an exchange is under way and not yet completed.
    var inExchange: Bool { !finished }

    // MARK: the connection's end

    enum ClientGoneAction: Equatable {
        /// The client left mid-exchange: the app's answer has nowhere to go (logged as 499).
        case abandonExchange
        case nothing
    }

    func clientClosed() -> ClientGoneAction {
        switch state {
        case .forwarding, .connecting, .bufferingBody, .awaitingGuard: return .abandonExchange
        case .tunnelling, .idle, .replied: return .nothing
        }
    }

    enum QuiesceAction: Equatable {
        case closeNow
        case closeAfterCurrent
    }

    /// A drain began. An idle connection with nothing half-read closes now; any other closes
    /// after its current answer.
    mutating func quiesce(partialInput: Bool) -> QuiesceAction {
        quiescing = true
        return state == .idle && !partialInput ? .closeNow : .closeAfterCurrent
    }

    /// A stall ended the exchange: no more on this connection.
    mutating func stalled() { closeAfterResponse = true }

    enum ParseErrorAction: Equatable {
        /// Already answered with a close: no second answer.
        case ignore
        /// The request under way is malformed (a bad chunk in its body): fail it.
        case failCurrent
        /// An answer is being written and cannot be followed by another: close.
        case closeNow
        /// Between requests: answer 400/431 and close.
        case answerAndClose
    }

    func parseFailed() -> ParseErrorAction {
        if discardsInput { return .ignore }
        switch state {
        case .idle: return .answerAndClose
        case .replied: return responseComplete ? .answerAndClose : .closeNow
        default: return .failCurrent
        }
    }

    /// Which clocks apply to the connection now (ConnectionClocks).
    var deadlinePhase: ConnectionClocks.Phase {
        switch state {
        case .idle: return .idle
        case .forwarding: return .forwarding
        case .bufferingBody, .awaitingGuard, .connecting: return .waiting
        case .replied, .tunnelling: return .settled
        }
    }
}
