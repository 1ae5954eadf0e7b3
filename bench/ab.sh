#!/usr/bin/env bash
# A/B of two Palisade binaries on one route: both run side by side against the same upstream and
# are measured alternately, so the machine's drift falls on both. Reports req/s, p99 and the
# proxy's own user and kernel CPU per request (from /proc/PID/stat), which move less from run to
# run than req/s on a shared 2-core box. See bench/README.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bash bench/ab.sh BIN_A BIN_B [SCENARIO]

SCENARIO is one of get (default), post1k, webhook1k, jwt-es256, jwt-rs256, ratelimit (as in run.sh).
Starts the bench upstream (nginx, 127.0.0.1:18080), BIN_A on 18083 and BIN_B on 18093 (admin
19901 and 19911), each with bench/palisade-bench.yaml, then alternates
`wrk -t1 -c64 -d${DURATION}s` between them ROUNDS times, A first in odd rounds and B first in
even ones. Prints one line per run and the medians per binary.

Environment: ROUNDS [4], DURATION [5], THREADS_A and THREADS_B: event loops of each [1]
(the same binary twice with THREADS_B=2 compares one loop against two). ABUSE_B=1 gives B's
policy an `abuse:` section (ban check before routing on every request, strikes counted at
completion), so the same binary twice measures what the abuse section costs.
Needs: apt-get install -y wrk nginx-light; pip install 'pyjwt[crypto]' for the jwt scenarios.
USAGE
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
(($# >= 2 && $# <= 3)) || { usage >&2; exit 64; }

# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-5}"
SCENARIO="${3:-get}"
B_PORT=18093
B_ADMIN_PORT=19911
export BENCH_WEBHOOK_SECRET="bench-webhook-secret-0123456789"

bin_a="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
bin_b="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
[[ -x "$bin_a" && -x "$bin_b" ]] || die "both binaries must exist and be executable" 2
case "$SCENARIO" in get|post1k|webhook1k|jwt-es256|jwt-rs256|ratelimit) ;; *) die "unknown scenario '$SCENARIO'" 64 ;; esac

check_tools
check_ports_free "$UPSTREAM_PORT" "$PALISADE_PORT" "$PALISADE_ADMIN_PORT" "$B_PORT" "$B_ADMIN_PORT"
setup_pinning
install_traps
make_tmpdir
write_post_body
write_jwt_material
start_upstream
sed "s|__BENCH_TMP__|$TMPD|g" "$BENCH_DIR/palisade-bench.yaml" >"$TMPD/a.yaml"
sed "s/:$PALISADE_PORT\$/:$B_PORT/; s/:$PALISADE_ADMIN_PORT\$/:$B_ADMIN_PORT/" "$TMPD/a.yaml" >"$TMPD/b.yaml"
if [[ "${ABUSE_B:-0}" == 1 ]]; then
  # Strikes never reach ban_after here (every answer is a 200): only the per-request work is measured.
  printf 'abuse:\n  ban_after: 20\n  window: 1m\n  ban_for: 5m\n  ban_max: 24h\n' >>"$TMPD/b.yaml"
fi
start_server a "$bin_a" run --config "$TMPD/a.yaml" --threads "${THREADS_A:-1}"
start_server b "$bin_b" run --config "$TMPD/b.yaml" --threads "${THREADS_B:-1}"
wait_http a "http://127.0.0.1:$PALISADE_PORT/small"
wait_http b "http://127.0.0.1:$B_PORT/small"

WEBHOOK_SIGNATURE="sha256=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), ("{\"pad\":\"" + "x"*1014 + "\"}").encode(), hashlib.sha256).hexdigest())' "$BENCH_WEBHOOK_SECRET")"
export WEBHOOK_SIGNATURE
args=()
case "$SCENARIO" in
  get) path=/small ;;
  post1k) path=/post; args=(-s "$BENCH_DIR/post1k.lua") ;;
  webhook1k) path=/hook; args=(-s "$BENCH_DIR/webhook1k.lua") ;;
  jwt-es256) path=/jwt/es256; args=(-H "Authorization: Bearer $(cat "$TMPD/jwt/es256.token")") ;;
  jwt-rs256) path=/jwt/rs256; args=(-H "Authorization: Bearer $(cat "$TMPD/jwt/rs256.token")") ;;
  ratelimit) path=/limited/small ;;
esac

tck="$(getconf CLK_TCK)"
results="$TMPD/ab.tsv"
: >"$results"
measure() { # measure SIDE PORT PID ROUND
  local side="$1" port="$2" pid="$3" r="$4" out u0 s0 u1 s1 n
  wrk -t1 -c64 -d1s "${args[@]}" "http://127.0.0.1:$port$path" >/dev/null 2>&1
  read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
  out="$(wrk -t1 -c64 -d"${DURATION}s" --latency "${args[@]}" "http://127.0.0.1:$port$path")"
  read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
  grep -q "Non-2xx" <<<"$out" && die "$side answered non-2xx on $path: the comparison is void"
  n="$(awk '/requests in/ { print $1 }' <<<"$out")"
  awk -v r="$r" -v side="$side" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$n" -v hz="$tck" \
    -v rps="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")" -v p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")" \
    'BEGIN { printf "%d\t%s\t%.0f\t%s\t%.2f\t%.2f\n", r, side, rps, p99, u / hz / n * 1e6, s / hz / n * 1e6 }' | tee -a "$results"
}
printf 'round\tbinary\treq/s\tp99\tuser µs/req\tkernel µs/req\n'
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then order=(a b); else order=(b a); fi
  for side in "${order[@]}"; do
    if [[ "$side" == a ]]; then measure A "$PALISADE_PORT" "$(pid_of a)" "$r"; else measure B "$B_PORT" "$(pid_of b)" "$r"; fi
  done
done
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for side in A B; do
  printf '%s median: %s req/s, user %s µs/req, kernel %s µs/req\n' "$side" \
    "$(awk -F'\t' -v s="$side" '$2 == s { print $3 }' "$results" | median)" \
    "$(awk -F'\t' -v s="$side" '$2 == s { print $5 }' "$results" | median)" \
    "$(awk -F'\t' -v s="$side" '$2 == s { print $6 }' "$results" | median)"
done
