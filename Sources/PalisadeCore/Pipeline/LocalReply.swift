import NIOCore
import NIOHTTP1

/// A response Palisade writes itself: `{"error": CODE, "request_id": ID}` and nothing else, so a
/// refusal never echoes request data, secrets or internal detail back to the client.
enum LocalReply {
    static func head(
        for code: RejectionCode,
        requestID: String,
        version: HTTPVersion,
        close: Bool,
        bodyLength: Int,
        extraHeaders: [(String, String)]
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(6 + extraHeaders.count + code.headers.count)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(bodyLength))
        headers.add(name: "cache-control", value: "no-store")
        for (name, value) in extraHeaders { headers.replaceOrAdd(name: name, value: value) }
        for (name, value) in code.headers { headers.replaceOrAdd(name: name, value: value) }
        if !requestID.isEmpty { headers.add(name: "x-request-id", value: requestID) }
        if close {
            headers.add(name: "connection", value: "close")
        } else if version == .http1_0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        let responseVersion: HTTPVersion = version == .http1_0 ? .http1_0 : .http1_1
        return HTTPResponseHead(version: responseVersion, status: code.status, headers: headers)
    }

    static func body(for code: RejectionCode, requestID: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 60 + code.code.utf8.count + (code.headerName?.utf8.count ?? 0) + requestID.utf8.count)
        // A local answer that is not a refusal (a duplicate acknowledged) says status, not error.
        if code.status.code < 400 { buffer.writeStaticString("{\"status\":") } else { buffer.writeStaticString("{\"error\":") }
        writeJSONString(code.code, into: &buffer)
        if let name = code.headerName {
            buffer.writeStaticString(",\"header\":")
            writeJSONString(name, into: &buffer)
        }
        buffer.writeStaticString(",\"request_id\":")
        if requestID.isEmpty { buffer.writeStaticString("null") } else { writeJSONString(requestID, into: &buffer) }
        buffer.writeStaticString("}")
        return buffer
    }
}
