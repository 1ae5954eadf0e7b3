#!/usr/bin/env bash
# Memory under a flood of distinct client keys on a rate-limited route: Palisade's RSS before and
# after, the store's bytes against its budget, and whether it still serves. See bench/README.md.
#
#   PALISADE_BIN=... bash bench/flood.sh        # DURATION [30] s of wrk, MAX_BYTES [8MiB]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
DURATION="${DURATION:-30}"
MAX_BYTES="${MAX_BYTES:-8MiB}"
resolve_palisade_bin
check_tools
check_palisade_bin
check_ports_free "$UPSTREAM_PORT" "$PALISADE_PORT" "$PALISADE_ADMIN_PORT"
setup_pinning
install_traps
make_tmpdir
start_upstream
# Every key is a new client to the store: the per-client cap is lifted so the byte budget binds.
cat >"$TMPD/flood.yaml" <<CONF
version: 1
listen: 127.0.0.1:$PALISADE_PORT
upstream: { url: http://127.0.0.1:$UPSTREAM_PORT, max_idle_connections: 128 }
admin: { listen: 127.0.0.1:$PALISADE_ADMIN_PORT }
log: { access: off }
store: { kind: memory, max_bytes: $MAX_BYTES, max_entries_per_client: 100000000 }
routes:
  - name: flood
    match: { prefix: /flood/ }
    guards:
      - rate_limit: { key: header:x-client, limit: 10/min }
  - name: all
    match: { prefix: / }
CONF
start_server palisade "$PALISADE_BIN" run --config "$TMPD/flood.yaml" --threads 1
wait_http palisade "http://127.0.0.1:$PALISADE_PORT/small"
pid="$(pid_of palisade)"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
metric() { curl -s "http://127.0.0.1:$PALISADE_ADMIN_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
wrk -t1 -c64 -d2s "http://127.0.0.1:$PALISADE_PORT/small" >/dev/null
rss_before="$(rss)"
wrk -t1 -c64 -d"${DURATION}s" -s "$BENCH_DIR/flood.lua" "http://127.0.0.1:$PALISADE_PORT" >"$TMPD/wrk.txt"
rss_after="$(rss)"
status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PALISADE_PORT/small")"
requests="$(awk '/ requests in / { print $1 }' "$TMPD/wrk.txt")"
non2xx="$(awk '/Non-2xx/ { print $NF }' "$TMPD/wrk.txt")"
cat <<REPORT
flood: $requests requests with distinct X-Client keys in ${DURATION}s ($(awk '/^Requests\/sec/ { print $2 }' "$TMPD/wrk.txt") req/s), non-2xx: ${non2xx:-0}
store: $(metric palisade_store_bytes) bytes held of $(metric palisade_store_max_bytes) budget, $(metric palisade_store_entries) entries, $(metric palisade_store_expired_evictions_total) expired evicted, refused full: $(metric 'palisade_store_refusals_total{reason="store_full"}')
RSS: ${rss_before} KiB before, ${rss_after} KiB after (+$(( (rss_after - rss_before) / 1024 )) MiB); GET /small afterwards: $status
REPORT
