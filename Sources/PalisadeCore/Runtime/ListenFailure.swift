import Foundation
import NIOCore

/// A listener that could not be opened, said the way an operator reads it: which policy key,
/// which address, and the system's reason (`listen 127.0.0.1:8080: address already in use`),
/// instead of NIO's `bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)`.
public struct ListenFailure: Error, CustomStringConvertible {
    public let key: String
    public let address: String
    public let reason: String

    public var description: String { "cannot open \(key) \(address): \(reason)" }

    static func naming<T>(_ key: String, _ listen: HostPort, _ bind: () async throws -> T) async throws -> T {
        do {
            return try await bind()
        } catch let error as IOError {
            throw ListenFailure(key: key, address: display(listen), reason: reason(errno: error.errnoCode))
        }
    }

    /// `host:port`, with IPv6 in brackets, as it is written in a policy.
    static func display(_ listen: HostPort) -> String {
        listen.host.contains(":") ? "[\(listen.host)]:\(listen.port)" : "\(listen.host):\(listen.port)"
    }

    /// A bound address as `127.0.0.1:8080` (NIO's own description is `[IPv4]127.0.0.1/127.0.0.1:8080`).
    static func display(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    private static func reason(errno code: Int32) -> String {
        switch code {
        case EADDRINUSE: return "address already in use (another process listens there)"
        case EADDRNOTAVAIL: return "address not available on this host"
        case EACCES: return "permission denied (ports below 1024 need privileges)"
        default: return String(cString: strerror(code)).lowercased() + " (errno \(code))"
        }
    }
}
