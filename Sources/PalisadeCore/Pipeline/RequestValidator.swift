import Foundation
import NIOHTTP1

/// Framing and target checks the HTTP parser leaves to the server. Each failure is a request
/// Palisade must refuse rather than forward, because the app (or a proxy behind it) could read
/// the same bytes differently: the root of request smuggling.
enum RequestValidator {
    enum Problem: Error, Equatable {
        case invalid(String)
        case unsupportedTransferCoding
        case expectationFailed
        case methodNotAllowed
        case unsupportedWebSocketVersion

        var rejection: RejectionCode {
            switch self {
            case .invalid(let code): return RejectionCode(code, status: .badRequest)
            case .unsupportedTransferCoding: return RejectionCode("unsupported_transfer_coding", status: .notImplemented)
            case .expectationFailed: return .expectationFailed
            case .methodNotAllowed: return RejectionCode("method_not_allowed", status: .methodNotAllowed)
            case .unsupportedWebSocketVersion:
                return RejectionCode(
                    "unsupported_websocket_version", status: .upgradeRequired, headers: [("sec-websocket-version", "13")]
                )
            }
        }
    }

    struct Facts {
        var isChunked = false
        var contentLength: Int?
        var expectsContinue = false
        var isWebSocketUpgrade = false
        /// `Connection: upgrade` with an `Upgrade` field: the HTTP parser stops after this request,
        /// so unless the upgrade happens the connection cannot carry another request.
        var parserStopsAfterRequest = false
        /// For an absolute-form target (`GET http://host/path`): the origin-form to forward and
        /// the authority, which must agree with Host (RFC 9112 3.2.2).
        var originForm: String?
        var authority: String?
    }

    /// `head` comes from ClientRequestParser, which has already refused malformed field names,
    /// values and request lines; this checks what needs the head as a whole.
    static func validate(_ head: HTTPRequestHead) -> Result<Facts, Problem> {
        var facts = Facts()
        var hostCount = 0
        var hostValue: String?
        var transferEncoding: [String] = []
        // Content-Length is read as it is met, without collecting the values: it is on every
        // request with a body, and a list of strings split on commas cost more than the rest
        // of the validation (bench/profile.sh, post1k against get).
        var sawContentLength = false
        var contentLength: Int?
        var contentLengthProblem: String?
        var expect: String?
        var upgrade: String?
        var connectionOptions = 0
        for (name, value) in head.headers {
            // Dispatch on length first: most names fail one integer comparison.
            switch name.utf8.count {
            case 4 where ASCII.equalsLowercased(name, "host"):
                hostCount += 1
                hostValue = value
            case 6 where ASCII.equalsLowercased(name, "expect"):
                expect = value
            case 7 where ASCII.equalsLowercased(name, "upgrade"):
                upgrade = value
            case 10 where ASCII.equalsLowercased(name, "connection"):
                connectionOptions += NominatedFields.optionCount(value)
            case 14 where ASCII.equalsLowercased(name, "content-length"):
                sawContentLength = true
                if contentLengthProblem == nil {
                    switch ContentLengthValue.parse(value, agreeingWith: contentLength) {
                    case .success(let length): contentLength = length
                    case .failure(let problem): contentLengthProblem = problem.code
                    }
                }
            case 17 where ASCII.equalsLowercased(name, "transfer-encoding"):
                transferEncoding.append(value)
            default:
                break
            }
            // Field names and values were checked byte by byte by ClientRequestParser.
        }

        // Each nominated option is checked against every field on the way to the app: bounding
        // the options keeps that linear in the number of fields.
        if connectionOptions > NominatedFields.maxOptions { return .failure(.invalid("too_many_connection_options")) }
        if head.version == .http1_1 {
            guard hostCount == 1 else { return .failure(.invalid(hostCount == 0 ? "missing_host" : "duplicate_host")) }
        } else if hostCount > 1 {
            return .failure(.invalid("duplicate_host"))
        }
        if let hostValue, hostValue.isEmpty || !isValidHost(hostValue) { return .failure(.invalid("invalid_host")) }

        if head.method == .CONNECT { return .failure(.methodNotAllowed) }
        guard isValidTarget(head.uri, method: head.method) else { return .failure(.invalid("invalid_request_target")) }
        if let first = head.uri.utf8.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") {
            let (authority, origin) = splitAbsoluteForm(head.uri)
            guard !authority.isEmpty else { return .failure(.invalid("invalid_request_target")) }
            if let hostValue, !HeaderNames.equalsIgnoringCase(hostValue, authority) {
                // Routing reads Host, the app may read the target: they must name the same host.
                return .failure(.invalid("host_mismatch"))
            }
            facts.authority = authority
            facts.originForm = origin
        }

        if !transferEncoding.isEmpty {
            guard !sawContentLength else { return .failure(.invalid("content_length_with_transfer_encoding")) }
            guard head.version == .http1_1 else { return .failure(.invalid("transfer_encoding_in_http10")) }
            let codings = transferEncoding.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { $0.trimmingASCIISpaces() }
            guard codings.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(HTTPToken.isTokenByte) }) else {
                return .failure(.invalid("invalid_transfer_encoding"))
            }
            // RFC 9112 6.3: chunked must be the final coding, or the length is unknowable -> 400.
            guard let last = codings.last, ASCII.equalsLowercased(last, "chunked") else {
                return .failure(.invalid("invalid_transfer_encoding"))
            }
            // RFC 9112 6.1: a coding Palisade does not implement before it -> 501.
            guard codings.count == 1 else { return .failure(.unsupportedTransferCoding) }
            facts.isChunked = true
        } else if sawContentLength {
            if let contentLengthProblem { return .failure(.invalid(contentLengthProblem)) }
            facts.contentLength = contentLength
        }

        if let expect {
            guard expect.lowercased() == "100-continue" else { return .failure(.expectationFailed) }
            facts.expectsContinue = head.version == .http1_1
        }
        if let upgrade {
            let connection = head.headers[canonicalForm: "connection"].map { $0.lowercased() }
            facts.parserStopsAfterRequest = connection.contains("upgrade")
            facts.isWebSocketUpgrade = isWebSocketHandshake(head, upgrade: upgrade)
            if facts.isWebSocketUpgrade, head.headers.first(name: "sec-websocket-version")?.trimmingCharacters(in: .whitespaces) != "13" {
                return .failure(.unsupportedWebSocketVersion)
            }
        }
        return .success(facts)
    }

    /// Only a WebSocket handshake (RFC 6455 4.1) is tunnelled; any other Upgrade is dropped as a
    /// hop-by-hop header and the request goes on as plain HTTP.
    private static func isWebSocketHandshake(_ head: HTTPRequestHead, upgrade: String) -> Bool {
        let tokens = upgrade.split(separator: ",").map { $0.trimmingASCIISpaces().lowercased() }
        guard tokens.contains("websocket"), head.method == .GET, head.version == .http1_1 else { return false }
        let connection = head.headers[canonicalForm: "connection"].map { $0.lowercased() }
        return connection.contains("upgrade") && head.headers.first(name: "sec-websocket-key") != nil
    }

    /// reg-name, IPv4 or [IPv6], with an optional port; no userinfo, path or spaces.
    static func isValidHost(_ host: String) -> Bool {
        let utf8 = host.utf8
        guard !utf8.isEmpty else { return true }  // RFC 9112 3.2: empty Host is allowed when the target has no authority
        if utf8.first == UInt8(ascii: "[") {
            guard let close = utf8.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inside = host[host.index(after: host.startIndex)..<close]
            guard IPAddressBytes.parseIPv6(inside) != nil else { return false }
            let rest = host[host.index(after: close)...]
            return rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy { $0.isASCII && $0.isNumber })
        }
        var sawColon = false
        var portDigits = 0
        for b in utf8 {
            if sawColon {
                guard b >= 0x30 && b <= 0x39 else { return false }
                portDigits += 1
                continue
            }
            switch b {
            case UInt8(ascii: ":"): sawColon = true
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"),
                UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
                continue
            default: return false
            }
        }
        return !sawColon || (portDigits > 0 && portDigits <= 5)
    }

    // Dot segments, encoded separators and other path readings are PathNormalizer's job.

    /// `http://authority/path?q` -> (`authority`, `/path?q`).
    static func splitAbsoluteForm(_ uri: String) -> (authority: String, origin: String) {
        guard let schemeEnd = uri.range(of: "://") else { return ("", "/") }
        let rest = uri[schemeEnd.upperBound...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = String(rest[..<end])
        var origin = String(rest[end...])
        if origin.isEmpty { origin = "/" } else if origin.hasPrefix("?") { origin = "/" + origin }
        return (authority, origin)
    }

    /// origin-form (`/path?query`), `*` for OPTIONS, or absolute-form `http://authority/path`.
    static func isValidTarget(_ uri: String, method: HTTPMethod) -> Bool {
        let utf8 = uri.utf8
        guard let first = utf8.first else { return false }
        if first == UInt8(ascii: "*") { return utf8.count == 1 && method == .OPTIONS }
        if first != UInt8(ascii: "/") {
            let lower = uri.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return false }
        }
        // A fragment never travels in a request target (RFC 9112 3.2); '\' is a path separator on some apps.
        for b in utf8 where b == UInt8(ascii: "#") || b == UInt8(ascii: "\\") || b <= 0x20 || b >= 0x7f {
            return false
        }
        return true
    }
}

/// One Content-Length field value: a decimal length, or a list of equal ones (`42, 42`, which
/// RFC 9110 8.6 lets a recipient take as one). Read byte by byte, with no intermediate strings.
enum ContentLengthValue {
    enum Problem: Error, Equatable {
        /// Not a list of 1–18 digit decimals separated by commas and optional whitespace.
        case invalid
        /// Two lengths that differ, in this value or against an earlier field's.
        case conflicting

        var code: String { self == .invalid ? "invalid_content_length" : "conflicting_content_length" }
    }

    static func parse(_ value: String, agreeingWith earlier: Int?) -> Result<Int, Problem> {
        var length = earlier
        var current = 0
        var digits = 0
        var afterDigits = false
        // The same check for each element of the list; a problem stops the reading.
        func endElement() -> Problem? {
            guard digits > 0 else { return .invalid }
            if let length, length != current { return .conflicting }
            length = current
            current = 0
            digits = 0
            afterDigits = false
            return nil
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !afterDigits, digits < 18 else { return .failure(.invalid) }
                current = current * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { afterDigits = true }
            case UInt8(ascii: ","):
                if let problem = endElement() { return .failure(problem) }
            default:
                return .failure(.invalid)
            }
        }
        if let problem = endElement() { return .failure(problem) }
        return .success(length!)
    }
}
