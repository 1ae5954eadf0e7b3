#!/usr/bin/env bash
# Where the time goes: nginx proxy_pass, the NIO floor (bench/nio-floor: a SwiftNIO byte relay
# with no HTTP parsing, the cheapest proxy NIO allows) and Palisade, interleaved, with CPU time
# per request split into user and kernel time from /proc/PID/stat, and the whole machine's CPU
# per request from /proc/stat. See docs/benchmarks.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bash bench/floor.sh [--help]

Builds bench/nio-floor (release), starts the bench upstream (nginx, 127.0.0.1:18080), the
nginx proxy (18081), the NIO floor relay (18084, one event loop) and Palisade (18083, one
event loop), then runs `wrk -t1 -c64 -d${DURATION}s` GET /small against each, ROUNDS times,
in rotating order. Prints per run: req/s, p99, user/kernel CPU microseconds per request of
the proxy process, and for the whole machine (wrk, the upstream and the proxy together) how
busy it was and its CPU microseconds per request. With one proxy process, wrk and the
upstream on two cores, the machine is close to saturated, so throughput follows the
machine's CPU per request, of which the proxy's is one part.

Environment: PALISADE_BIN [.build/release/palisade], ROUNDS [3], DURATION [5]
Needs: apt-get install -y wrk nginx-light; a Swift toolchain for the relay.
USAGE
}
case "${1:-}" in -h|--help) usage; exit 0 ;; "") ;; *) usage >&2; exit 64 ;; esac

# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
FLOOR_PORT=18084
export BENCH_WEBHOOK_SECRET="${BENCH_WEBHOOK_SECRET:-bench-webhook-secret-0123456789}"

resolve_palisade_bin
check_tools
check_palisade_bin
log "building bench/nio-floor (release)"
(cd "$BENCH_DIR/nio-floor" && swift build -c release >/dev/null)
FLOOR_BIN="$BENCH_DIR/nio-floor/.build/release/nio-floor"

check_ports_free "$UPSTREAM_PORT" "$NGINX_PORT" "$PALISADE_PORT" "$PALISADE_ADMIN_PORT" "$FLOOR_PORT"
install_traps
make_tmpdir
start_upstream
start_nginx_proxy
start_palisade
start_server floor "$FLOOR_BIN" "$FLOOR_PORT" "$UPSTREAM_PORT" 1
wait_http floor "http://127.0.0.1:$FLOOR_PORT/small"

# The process doing the proxying: nginx's worker, the relay, Palisade.
proxy_pid() {
  case "$1" in
    nginx) pgrep -P "$(pid_of nginx)" | awk 'NR == 1' ;;
    *) pid_of "$1" ;;
  esac
}
port_of() { case "$1" in nginx) echo "$NGINX_PORT" ;; floor) echo "$FLOOR_PORT" ;; palisade) echo "$PALISADE_PORT" ;; esac; }

ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# Busy and idle ticks of the whole machine (every process: wrk, the upstream and the proxy).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat; }
tck="$(getconf CLK_TCK)"
printf '| round | target | req/s | p99 | user µs/req | kernel µs/req | machine busy | machine µs/req |\n|---:|---|---:|---:|---:|---:|---:|---:|\n'
targets=(nginx floor palisade)
for ((r = 1; r <= ROUNDS; r++)); do
  for ((k = 0; k < 3; k++)); do
    t="${targets[$(((k + r - 1) % 3))]}"
    pid="$(proxy_pid "$t")"
    wrk -t1 -c64 -d1s "http://127.0.0.1:$(port_of "$t")/small" >/dev/null 2>&1
    read -r u0 s0 < <(ticks "$pid")
    read -r b0 i0 < <(machine_ticks)
    out="$(wrk -t1 -c64 -d"${DURATION}s" --latency "http://127.0.0.1:$(port_of "$t")/small")"
    read -r u1 s1 < <(ticks "$pid")
    read -r b1 i1 < <(machine_ticks)
    n="$(awk '/requests in/ { print $1 }' <<<"$out")"
    rps="$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")"
    p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")"
    awk -v r="$r" -v t="$t" -v rps="$rps" -v p99="$p99" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$n" -v hz="$tck" \
      -v busy=$((b1 - b0)) -v idle=$((i1 - i0)) \
      'BEGIN { printf "| %d | %s | %s | %s | %.1f | %.1f | %.0f%% | %.1f |\n", r, t, rps, p99, u / hz / n * 1e6, s / hz / n * 1e6,
               100 * busy / (busy + idle), busy / hz / n * 1e6 }'
  done
done
