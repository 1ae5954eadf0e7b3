/// The policy `palisade demo` runs; the same text as policies/demo.yaml (a test keeps them equal).
public enum DemoPolicy {
    public static let fileName = "policies/demo.yaml"
    public static let yaml = #"""
        # Palisade demo policy: the one `palisade demo` runs, in front of its embedded demo app.
        # Copy it as a starting point: every key is documented in docs/policy.md.
        version: 1

        # Where clients connect. In a Kubernetes pod use 0.0.0.0 so the Service can reach it.
        listen: 127.0.0.1:8080

        upstream:
          url: http://127.0.0.1:3000      # the unchanged app
          connect_timeout: 2s
          response_timeout: 30s           # no response head by then -> 504 upstream_timeout
          max_idle_connections: 64        # keep-alive pool to the app, per event loop

        admin:
          listen: 127.0.0.1:9901          # /healthz /readyz /metrics

        client_ip:
          from: peer                      # or x-forwarded-for (then only trusted_proxies are believed)
          trusted_proxies: []

        limits:
          max_header_bytes: 32KiB         # larger heads get 431
          max_body_bytes: 1MiB            # only enforced on routes whose guards read the body
          idle_timeout: 60s
          header_read_timeout: 10s        # slow clients (slowloris) get 408 and are cut off

        drain_timeout: 20s                # SIGTERM: in-flight requests get this long to finish

        log:
          access: stdout                  # one JSON line per request
          headers: [user-agent]

        response_headers:                 # added to every response, including Palisade's own refusals
          x-content-type-options: nosniff
          referrer-policy: no-referrer

        routes:                           # first match wins
          - name: health
            match: { path: /health, methods: [GET, HEAD] }

          - name: public-api
            match: { prefix: /api/public/ }

          - name: internal-api            # only the cluster network may call it
            match: { prefix: /api/internal/ }
            guards:
              - ip: { allow: [10.0.0.0/8] }

        default: deny                     # anything else: 404 no_route, never forwarded

        """#
}
