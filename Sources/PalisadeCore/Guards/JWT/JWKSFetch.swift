import NIOCore
import NIOPosix
import NIOSSL

/// One `GET` of a JWKS document over SwiftNIO, TLS (with the system's trust roots, or a given CA
/// file) for https URLs. The answer is read with the same strict parser as the app's responses;
/// anything but a complete 200 of at most `maxBytes` is a failure naming what went wrong.
enum JWKSFetch {
    static let maxBytes = 1 << 20

    /// `tls` is nil for plain-http URLs.
    static func get(_ spec: RemoteJWKSSpec, tls: NIOSSLContext?, on loop: any EventLoop) -> EventLoopFuture<[UInt8]> {
        OneShotHTTPClient.send(
            requestBytes(spec), host: spec.host, port: spec.port, tls: tls, timeout: .nanoseconds(spec.timeout.nanoseconds),
            timeoutText: "\(spec.timeout)", maxBytes: maxBytes, accepts: { $0 == 200 }, on: loop
        ).map(\.body)
    }

    static func requestBytes(_ spec: RemoteJWKSSpec) -> ByteBuffer {
        let defaultPort = spec.isTLS ? 443 : 80
        let hostField = spec.host.contains(":") ? "[\(spec.host)]" : spec.host
        let authority = spec.port == defaultPort ? hostField : "\(hostField):\(spec.port)"
        return ByteBuffer(
            string: "GET \(spec.target) HTTP/1.1\r\nhost: \(authority)\r\naccept: application/jwk-set+json, application/json\r\n"
                + "user-agent: palisade/\(PalisadeVersion.current)\r\nconnection: close\r\n\r\n"
        )
    }
}
