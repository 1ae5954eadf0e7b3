#!/usr/bin/env bash
# Counts malloc calls per proxied request: a uprobe on libc's malloc, counted by `perf stat`
# while a fixed number of keep-alive GETs go through Palisade to the bench upstream (nginx).
# Deterministic enough to compare commits, unlike req/s on a shared 2-core machine.
#
#   swift build -c release --product palisade && bash bench/mallocs.sh
#
# Needs root (uprobes), perf (apt: linux-perf), nginx, python3.
set -euo pipefail
# bench/palisade-bench.yaml reads the webhook route's secret from the environment.
export BENCH_WEBHOOK_SECRET="${BENCH_WEBHOOK_SECRET:-bench-webhook-secret-0123456789}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PALISADE_BIN="${PALISADE_BIN:-.build/release/palisade}"
REQUESTS="${REQUESTS:-4000}"
# Which route of bench/palisade-bench.yaml: /small (pass-through), /limited/small (local rate
# limit), /logged/small (access line), ...
REQUEST_PATH="${REQUEST_PATH:-/small}"
PERF="$(command -v perf || find /usr/lib/linux-tools* -name perf -type f 2>/dev/null | head -n1 || true)"
[[ -x "$PALISADE_BIN" ]] || { echo "build first: swift build -c release --product palisade" >&2; exit 2; }
[[ -n "$PERF" ]] || { echo "perf missing: apt-get install -y linux-perf" >&2; exit 2; }
LIBC="$(ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}')"
"$PERF" probe -q -x "$LIBC" malloc 2>/dev/null || true

tmp="$(mktemp -d)"
cleanup() { kill "${pal:-}" "${ngx:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $tmp/nginx.pid; error_log $tmp/error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:18080; location / { default_type application/json; return 200 '{"ok":true,"service":"bench"}'; } } }
CONF
nginx -p "$tmp" -c "$tmp/nginx.conf" & ngx=$!
# The bench policy's jwt routes name a JWKS in the run's temp dir; an empty set serves here.
mkdir -p "$tmp/jwt" && echo '{"keys":[]}' >"$tmp/jwt/jwks.json"
sed "s|__BENCH_TMP__|$tmp|g" bench/palisade-bench.yaml >"$tmp/palisade.yaml"
"$PALISADE_BIN" run --config "$tmp/palisade.yaml" --threads 1 >/dev/null 2>"$tmp/palisade.err" & pal=$!
for _ in $(seq 1 50); do curl -fs -o /dev/null http://127.0.0.1:18083/small && break; sleep 0.1; done

drive() {
  python3 - "$1" "$REQUEST_PATH" <<'PY'
import socket, sys
n = int(sys.argv[1]); path = sys.argv[2].encode(); s = socket.create_connection(("127.0.0.1", 18083)); buf = b""
req = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
for _ in range(n):
    s.sendall(req)
    while True:
        buf += s.recv(65536)
        end = buf.find(b"\r\n\r\n")
        if end < 0: continue
        length = next((int(l.split(b":")[1]) for l in buf[:end].split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
        if len(buf) >= end + 4 + length:
            buf = buf[end + 4 + length:]; break
PY
}
drive 500   # warm up: pools filled, caches built
"$PERF" stat -e probe_libc:malloc -p "$pal" -o "$tmp/stat.txt" -- bash -c "$(declare -f drive); REQUEST_PATH='$REQUEST_PATH'; drive $REQUESTS"
count="$(awk '/probe_libc:malloc/ {gsub(",","",$1); print $1}' "$tmp/stat.txt")"
python3 -c "print(f'mallocs per proxied GET $REQUEST_PATH: {$count / $REQUESTS:.1f}  ({$count} over $REQUESTS requests, one keep-alive connection)')"
