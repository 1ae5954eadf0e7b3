import Foundation

/// A client written in Python (its own clock, its own HTTP client) that sends requests at a fixed
/// rate and counts the answers: the independent side of the rate-limit accuracy tests.
public enum PacedClient {
    public struct Counts: Sendable {
        /// 200 answers.
        public var allowed: Int
        /// 429 answers.
        public var refused: Int
        /// Any other answer.
        public var other: Int
        /// Seconds from the first send to the last.
        public var span: Double
    }

    /// Sends `rate` requests per second for `seconds` to `path`, alternating between `ports` on one
    /// keep-alive connection each, with `X-Forwarded-For: forwardedFor` when given.
    public static func run(ports: [Int], path: String, rate: Int, seconds: Int, forwardedFor: String? = nil) async throws -> Counts {
        let output = try await Python.runAsync(
            script,
            arguments: [ports.map(String.init).joined(separator: ","), path, String(rate), String(seconds), forwardedFor ?? ""]
        )
        guard let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let allowed = json["allowed"] as? Int, let refused = json["refused"] as? Int, let other = json["other"] as? Int,
            let span = json["span"] as? Double
        else { throw Python.Failure(message: "unexpected output: \(output)") }
        return Counts(allowed: allowed, refused: refused, other: other, span: span)
    }

    static let script = #"""
        import http.client, json, sys, time
        ports = [int(p) for p in sys.argv[1].split(",")]
        path, rate, seconds, client = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        headers = {"X-Forwarded-For": client} if client else {}
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in ports]
        counts = {"allowed": 0, "refused": 0, "other": 0}
        start = time.monotonic()
        last = start
        for i in range(rate * seconds):
            due = start + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            last = time.monotonic()
            conn = conns[i % len(conns)]
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            key = "allowed" if response.status == 200 else "refused" if response.status == 429 else "other"
            counts[key] += 1
        counts["span"] = last - start
        print(json.dumps(counts))
        """#
}
