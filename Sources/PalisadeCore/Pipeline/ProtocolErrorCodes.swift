import NIOHTTP1

/// Maps the HTTP parser's errors to the codes a client sees. Nothing of a request the parser could
/// not read is ever forwarded; the connection answers (400, or 431 for oversized heads) and closes.
enum ProtocolErrorCodes {
    /// Names the problem without echoing the bytes that caused it.
    static func code(for error: HTTPParserError) -> RejectionCode {
        if error == .headerOverflow { return .headersTooLarge }
        let name: String
        switch error {
        case .invalidContentLength, .unexpectedContentLength: name = "invalid_content_length"
        case .invalidChunkSize, .invalidEOFState: name = "invalid_chunked_body"
        case .invalidHeaderToken: name = "invalid_header"
        case .invalidVersion: name = "unsupported_http_version"
        case .invalidMethod: name = "invalid_method"
        case .invalidURL: name = "invalid_request_target"
        case .lfExpected: name = "invalid_line_ending"
        default: name = "malformed_request"
        }
        return RejectionCode(name, status: error == .invalidVersion ? .httpVersionNotSupported : .badRequest)
    }

}
