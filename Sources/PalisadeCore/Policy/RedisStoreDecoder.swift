/// Decodes `store.redis` with the same positions and messages as the rest of the policy.
extension RedisStoreSpec {
    static let keys = ["url", "cluster", "password", "timeout", "on_error", "pool_size", "tls"]

    static func decode(_ node: PolicyNode) -> RedisStoreSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        var spec = RedisStoreSpec(position: node.position)
        if let urlNode = map["url"], let text = urlNode.string() {
            switch RedisURL.parse(text) {
            case .success(let url): spec.url = url
            // The message never repeats the URL: it may carry a password.
            case .failure(let error): urlNode.error("not a Redis URL: \(error.message)")
            }
        }
        if let clusterNode = map["cluster"], let items = clusterNode.stringList() {
            for (text, itemNode) in items {
                if let endpoint = RedisURL.parseEndpoint(text, defaultPort: nil) {
                    spec.cluster.append(endpoint)
                } else {
                    itemNode.error("'\(text)' is not host:port")
                }
            }
            if items.isEmpty { clusterNode.error("name at least one node of the cluster") }
        }
        if spec.url == nil, spec.cluster.isEmpty, map["url"] == nil, map["cluster"] == nil {
            node.error("give url (one server) or cluster (seed nodes of a Redis Cluster)")
        }
        if let url = spec.url, url.database != 0, !spec.cluster.isEmpty {
            map["url"]?.error("a Redis Cluster has only database 0")
        }
        if let passwordNode = map["password"] {
            spec.password = SecretSpec.decode(passwordNode, name: "store.redis.password")
        }
        if let value = map["timeout"]?.duration() { spec.timeout = value }
        if let value = map["on_error"]?.oneOf(
            ["fail_closed": StoreErrorMode.failClosed, "fail_open": .failOpen, "local": .local]
        ) {
            spec.onError = value
            if value == .failOpen, let onErrorNode = map["on_error"] {
                node.diagnostics.warning(
                    "on_error: fail_open lets every request through while Redis is down: replay, idempotency, "
                        + "rate limits and bans stop protecting the app until it answers again",
                    at: onErrorNode.position
                )
            }
        }
        if let value = map["pool_size"]?.int(in: 1...64) { spec.poolSize = value }
        if let tlsNode = map["tls"], let tlsMap = tlsNode.mapping(allowedKeys: ["ca_file", "verify"]) {
            if let caNode = tlsMap["ca_file"], let path = caNode.string() {
                if path.hasPrefix("/") { spec.tlsCAFile = path } else { caNode.error("give the CA file by absolute path") }
            }
            if let value = tlsMap["verify"]?.bool() {
                spec.tlsVerify = value
                if !value, let verifyNode = tlsMap["verify"] {
                    node.diagnostics.warning(
                        "tls.verify: false accepts any certificate: anyone on the path can read and change the store",
                        at: verifyNode.position)
                }
            }
            if spec.url?.tls != true { tlsNode.error("tls settings need a rediss:// url") }
        }
        return spec
    }
}
