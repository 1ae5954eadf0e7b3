#!/usr/bin/env bash
# Syscalls per request of each proxy under the same wrk load: which calls, how many, against
# nginx's and HAProxy's. Counted by the kernel's syscall tracepoints (perf stat), so the count
# does not depend on how fast the machine is. See bench/README.md.
#
#   PALISADE_BIN=... bash bench/syscalls.sh            # get and post1k, all three proxies
#   SCENARIOS=post1k TARGETS="nginx palisade" bash bench/syscalls.sh
#
# Needs root (tracepoints), perf (apt: linux-perf), nginx, haproxy, wrk, curl.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
export BENCH_WEBHOOK_SECRET="${BENCH_WEBHOOK_SECRET:-bench-webhook-secret-0123456789}"

SECONDS_PER_RUN="${DURATION:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
read -r -a TARGET_LIST <<<"${TARGETS:-nginx haproxy palisade}"
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-get post1k}"
PERF="$(command -v perf || true)"
[[ -n "$PERF" ]] || die "perf missing: apt-get install -y linux-perf" 2

has_target() { local x; for x in "${TARGET_LIST[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }
resolve_palisade_bin
check_tools
if has_target palisade; then check_palisade_bin; fi
setup_pinning
install_traps
make_tmpdir
write_post_body
start_upstream
if has_target nginx; then start_nginx_proxy; fi
if has_target haproxy; then start_haproxy; fi
if has_target palisade; then start_palisade; fi
for t in "${TARGET_LIST[@]}"; do sanity_check "$t"; done

events="$("$PERF" list 2>/dev/null | awk '/syscalls:sys_enter_/ { print $1 }' | paste -sd, -)"
[[ -n "$events" ]] || die "no syscall tracepoints (needs root and tracefs)" 2

for s in "${SCENARIO_LIST[@]}"; do
  for t in "${TARGET_LIST[@]}"; do
    port="$(target_port "$t")"
    # The same requests as bench/run.sh sends (its scenario table, in lib.sh).
    scenario_request "$s" "$port"
    args=(${SCENARIO_ARGS[@]+"${SCENARIO_ARGS[@]}"} "$SCENARIO_URL")
    # Warm the connection pools first; then count exactly the measured run.
    wrk -t1 -c"$CONNECTIONS" -d1s "${args[@]}" >/dev/null 2>&1
    pids="$(awk -v sid="$(pid_of "$t")" '{ p = $1; sub(/^.*\) /, ""); if ($4 == sid) print p }' /proc/[0-9]*/stat 2>/dev/null | paste -sd, -)"
    "$PERF" stat -x, -e "$events" -p "$pids" -o "$TMPD/perf-$s-$t.csv" &
    perf_pid=$!
    sleep 0.3
    wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "${args[@]}" >"$TMPD/wrk-$s-$t.txt" 2>&1
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    reqs="$(awk '/ requests in / { print $1 }' "$TMPD/wrk-$s-$t.txt")"
    awk -F, -v r="$reqs" '$3 ~ /syscalls:sys_enter_/ && $1 + 0 > 0 {
        n = $3; sub(/^syscalls:sys_enter_/, "", n); printf "%s\t%.3f\n", n, $1 / r }' \
      "$TMPD/perf-$s-$t.csv" | sort -t$'\t' -k2,2gr >"$TMPD/per-$s-$t.tsv"
    log "$s $t: $reqs requests"
  done
  echo
  echo "## $s: syscalls per request"
  echo
  printf '| syscall |'; for t in "${TARGET_LIST[@]}"; do printf ' %s |' "$t"; done; echo
  printf '|---|'; for t in "${TARGET_LIST[@]}"; do printf -- '---:|'; done; echo
  cut -f1 "$TMPD"/per-"$s"-*.tsv | sort -u | while read -r name; do
    printf '| %s |' "$name"
    for t in "${TARGET_LIST[@]}"; do
      printf ' %s |' "$(awk -F'\t' -v n="$name" '$1 == n { v = $2 } END { print (v == "" ? "0" : v) }' "$TMPD/per-$s-$t.tsv")"
    done
    echo
  done
  printf '| **total** |'
  for t in "${TARGET_LIST[@]}"; do printf ' **%s** |' "$(awk -F'\t' '{ s += $2 } END { printf "%.2f", s }' "$TMPD/per-$s-$t.tsv")"; done
  echo
done
