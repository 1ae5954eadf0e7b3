/// What a Redis store does when Redis does not answer (`store.redis.on_error`).
public enum StoreErrorMode: String, Sendable, Equatable {
    /// Every operation answers as if the store had allowed it (a replay id is new, no client is
    /// banned or limited): traffic flows unprotected. `palisade check` warns about it.
    case failOpen = "fail_open"
    /// Every guard that needs the store answers 503 `store_unavailable` (the default).
    case failClosed = "fail_closed"
    /// This replica's embedded store answers while Redis is down: protection goes on per replica.
    case local
}

/// One Redis server address.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `redis://[user:pass@]host:port/db` or `rediss://` (TLS). The password is kept as a `Secret`, so
/// printing the URL or the spec never shows it.
public struct RedisURL: Sendable, Equatable {
    public var endpoint: RedisEndpoint
    public var tls: Bool
    public var username: String?
    public var password: Secret?
    public var database: Int

    public static func == (a: RedisURL, b: RedisURL) -> Bool {
        a.endpoint == b.endpoint && a.tls == b.tls && a.username == b.username && a.database == b.database
            && a.password?.bytes == b.password?.bytes
    }

    /// Nil with a message that never repeats the URL (it may hold a password).
    public static func parse(_ text: String) -> Result<RedisURL, URLError> {
        let tls: Bool
        var rest: Substring
        if text.hasPrefix("redis://") {
            tls = false
            rest = text.dropFirst("redis://".count)
        } else if text.hasPrefix("rediss://") {
            tls = true
            rest = text.dropFirst("rediss://".count)
        } else {
            return .failure(URLError("the URL must start with redis:// or rediss://"))
        }
        var username: String?
        var password: Secret?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = String(credentials[..<colon])
                username = user.isEmpty ? nil : percentDecoded(user)
                password = Secret(Array(percentDecoded(String(credentials[credentials.index(after: colon)...])).utf8))
            } else {
                // `redis://secret@host` is the password-only form some clients accept.
                password = Secret(Array(percentDecoded(String(credentials)).utf8))
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let value = Int(path), (0...1_000_000).contains(value) else {
                    return .failure(URLError("the database after '/' must be a number"))
                }
                database = value
            }
        }
        guard let endpoint = parseEndpoint(String(rest), defaultPort: 6379) else {
            return .failure(URLError("expected host:port after the scheme"))
        }
        return .success(RedisURL(endpoint: endpoint, tls: tls, username: username, password: password, database: database))
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    public static func parseEndpoint(_ text: String, defaultPort: Int?) -> RedisEndpoint? {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]) else { return nil }
            port = value
            host = host[..<colon]
        }
        guard let port, (1...65535).contains(port), !host.isEmpty,
            host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x2f && $0 != 0x40 })
        else { return nil }
        return RedisEndpoint(host: String(host), port: port)
    }

    private static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == 0x25, utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public struct URLError: Error, Sendable {
        public var message: String
        init(_ message: String) { self.message = message }
    }
}

/// `store.redis`: where the shared store lives and how it behaves when it does not answer.
public struct RedisStoreSpec: Sendable {
    /// The one server (or, with `cluster`, the TLS, credentials and database for every node).
    public var url: RedisURL?
    /// Seed nodes of a Redis Cluster; the slot map is read from them.
    public var cluster: [RedisEndpoint] = []
    /// A secret that overrides the URL's password (so the password need not be in the file).
    public var password: SecretSpec?
    public var timeout = PolicyDuration.milliseconds(50)
    public var onError = StoreErrorMode.failClosed
    /// Connections per event loop and node.
    public var poolSize = 2
    /// PEM file of the CA that signed the server's certificate (else the system's roots).
    public var tlsCAFile: String?
    /// False only for tests against self-signed servers: the certificate is then not checked.
    public var tlsVerify = true
    public var position: SourcePosition

    public init(position: SourcePosition) { self.position = position }
}
