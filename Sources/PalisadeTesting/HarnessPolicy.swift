extension ProxyHarness {
    /// A policy for the harness: both listeners on port 0, the test app (`{{UPSTREAM}}`) as the
    /// upstream, then `rest` (limits, log, routes, default) as written. The suites share this
    /// head so each spells out only what it checks.
    public static func policy(
        upstream: String = "{{UPSTREAM}}",
        connectTimeout: String = "1s",
        responseTimeout: String = "2s",
        drainTimeout: String = "2s",
        _ rest: String
    ) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: \(upstream)
          connect_timeout: \(connectTimeout)
          response_timeout: \(responseTimeout)
        admin:
          listen: 127.0.0.1:0
        drain_timeout: \(drainTimeout)
        \(rest)
        """
    }
}
