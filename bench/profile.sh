#!/usr/bin/env bash
# CPU profile of Palisade under the `get` load of bench/run.sh. See bench/README.md.
set -euo pipefail
# bench/palisade-bench.yaml reads the webhook route's secret from the environment.
export BENCH_WEBHOOK_SECRET="${BENCH_WEBHOOK_SECRET:-bench-webhook-secret-0123456789}"

usage() {
  cat <<'EOF'
Usage: bash bench/profile.sh [--help]

Starts the bench upstream (nginx, 127.0.0.1:18080) and Palisade
("$PALISADE_BIN run --config bench/palisade-bench.yaml", 127.0.0.1:18083),
warms up for ${WARMUP}s, then attaches `perf record -g` to the Palisade process
while `wrk -t1 -c64 -d${PROFILE_SECONDS}s --latency` drives GET /small.
Writes the wrk result and the first 80 lines of
  perf report --no-children --percent-limit 1 --stdio
to bench/results/profile-<UTC timestamp>.txt and prints them.

Build Palisade first (a release build; symbols help):
  swift build -c release --product palisade

Environment (defaults in brackets):
  PALISADE_BIN      [.build/release/palisade]
  PALISADE_CONFIG   [bench/palisade-bench.yaml]
  SCENARIO          get (GET /small), post1k (POST /post, 1 KiB body), ratelimit, ratelimit-shared,
                    ratelimit-shared-keys, logmask-off, logplain, logplain-off, logbody-off,
                    logmask or logbody (see run.sh) [get]
  PROFILE_SECONDS   seconds of load while recording [5]
  WARMUP            seconds of unrecorded warm-up load [2]
  THREADS / CONNECTIONS  wrk settings [1 / 64]
  CALLGRAPH         fp (perf record -g, frame pointers) or dwarf
                    (--call-graph dwarf; bigger, works without frame pointers) [fp]
  PERF              path to perf [auto: perf in PATH, /usr/bin/perf,
                    /usr/lib/linux-tools*/perf, /usr/lib/linux-tools/*/perf]
  DEMANGLE=0        do not pipe the report through swift-demangle
  PIN=1             pin upstream+Palisade to SERVER_CPUS [1], wrk to WRK_CPUS [0]
  KEEP_PERF_DATA=1  also save perf.data as bench/results/profile-<ts>.perf.data
  RESULTS_DIR       [bench/results]
  KEEP_TMP=1        keep the temp dir with configs and logs

Needs: apt-get install -y wrk nginx-light linux-perf
EOF
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) printf 'unknown argument: %s\n\n' "$1" >&2; usage >&2; exit 64 ;;
esac

# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PROFILE_SECONDS="${PROFILE_SECONDS:-5}"
WARMUP="${WARMUP:-2}"
THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-64}"
CALLGRAPH="${CALLGRAPH:-fp}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-1}"

find_perf() {
  local c
  if [[ -n "${PERF:-}" ]]; then [[ -x "$PERF" ]] && { echo "$PERF"; return 0; }; return 1; fi
  if command -v perf >/dev/null 2>&1; then command -v perf; return 0; fi
  for c in /usr/bin/perf /usr/lib/linux-tools*/perf /usr/lib/linux-tools/*/perf; do
    [[ -x "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

resolve_palisade_bin
missing=()
for t in nginx wrk curl; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
PERF_BIN="$(find_perf)" || missing+=(perf)
if ((${#missing[@]})); then
  printf 'profile: missing tools: %s\ninstall them with:\n  apt-get install -y wrk nginx-light linux-perf curl\n' "${missing[*]}" >&2
  exit 2
fi
check_palisade_bin
setup_pinning
case "$CALLGRAPH" in
  fp) CG=(-g) ;;
  dwarf) CG=(--call-graph dwarf) ;;
  *) die "CALLGRAPH must be fp or dwarf" 64 ;;
esac
check_ports_free "$UPSTREAM_PORT" "$PALISADE_PORT" "$PALISADE_ADMIN_PORT"

install_traps
make_tmpdir
write_post_body
TS="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/profile-$TS.txt"

start_upstream
start_palisade
sanity_check palisade
PAL_PID="$(pid_of palisade)"

SCENARIO="${SCENARIO:-get}"
case "$SCENARIO" in
  get) LOAD=("http://127.0.0.1:$PALISADE_PORT/small"); LOAD_DESC="GET /small" ;;
  post1k) LOAD=(-s "$BENCH_DIR/post1k.lua" "http://127.0.0.1:$PALISADE_PORT/post"); LOAD_DESC="POST /post, 1 KiB body" ;;
  ratelimit) LOAD=("http://127.0.0.1:$PALISADE_PORT/limited/small"); LOAD_DESC="GET /limited/small (local rate limit)" ;;
  ratelimit-shared) LOAD=("http://127.0.0.1:$PALISADE_PORT/limited-shared/small"); LOAD_DESC="GET /limited-shared/small (shared rate limit; REDIS_URL)" ;;
  logmask) LOAD=(-s "$BENCH_DIR/logmask.lua" "http://127.0.0.1:$PALISADE_PORT/logged/small"); LOAD_DESC="GET /logged/... (access line, every mask class)" ;;
  ratelimit-shared-keys) LOAD=(-s "$BENCH_DIR/manykeys.lua" "http://127.0.0.1:$PALISADE_PORT/limited-keys/small"); LOAD_DESC="GET /limited-keys/small (shared rate limit, 100,000 client keys; REDIS_URL)" ;;
  logbody) LOAD=(-s "$BENCH_DIR/logbody.lua" "http://127.0.0.1:$PALISADE_PORT/logged-body"); LOAD_DESC="POST /logged-body (1 KiB JSON body masked into the line)" ;;
  logmask-off) LOAD=(-s "$BENCH_DIR/logmask.lua" "http://127.0.0.1:$PALISADE_PORT/plain/small"); LOAD_DESC="GET /plain/... (logmask's request, unlogged)" ;;
  logplain) LOAD=(-s "$BENCH_DIR/logplain.lua" "http://127.0.0.1:$PALISADE_PORT/logged/small"); LOAD_DESC="GET /logged/... (access line, every mask class, nothing to mask)" ;;
  logplain-off) LOAD=(-s "$BENCH_DIR/logplain.lua" "http://127.0.0.1:$PALISADE_PORT/plain/small"); LOAD_DESC="GET /plain/... (logplain's request, unlogged)" ;;
  logbody-off) LOAD=(-s "$BENCH_DIR/logbody.lua" "http://127.0.0.1:$PALISADE_PORT/plain-body"); LOAD_DESC="POST /plain-body (logbody's request, unlogged)" ;;
  *) die "SCENARIO must be get, post1k, ratelimit, ratelimit-shared, ratelimit-shared-keys, logmask, logmask-off, logplain, logplain-off, logbody or logbody-off (got '$SCENARIO')" 64 ;;
esac

wrk_get() { # wrk_get SECONDS OUTFILE
  ${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1s" --latency \
    "${LOAD[@]}" >"$2" 2>&1 </dev/null &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=""
}

if ((WARMUP > 0)); then log "warm-up ${WARMUP}s"; wrk_get "$WARMUP" "$TMPD/warmup.txt"; fi

log "recording pid $PAL_PID with $PERF_BIN record ${CG[*]} for ${PROFILE_SECONDS}s of load"
# perf stops when its `sleep` workload ends; started just before wrk, it
# covers the whole load window (plus ~0.3 s idle on either side).
"$PERF_BIN" record "${CG[@]}" -p "$PAL_PID" -o "$TMPD/perf.data" -- sleep "$((PROFILE_SECONDS + 1))" \
  >"$TMPD/perf-record.log" 2>&1 &
PERF_PID=$!
sleep 0.3
wrk_get "$PROFILE_SECONDS" "$TMPD/wrk.txt"
if ! wait "$PERF_PID"; then
  cat "$TMPD/perf-record.log" >&2
  die "perf record failed (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo ?); try as root or: sysctl kernel.perf_event_paranoid=1)"
fi

"$PERF_BIN" report -i "$TMPD/perf.data" --no-children --percent-limit 1 --stdio \
  >"$TMPD/report.txt" 2>"$TMPD/report.err" || { cat "$TMPD/report.err" >&2; die "perf report failed"; }
DEMANGLER=(cat)
if [[ "${DEMANGLE:-1}" == 1 ]]; then
  if command -v swift-demangle >/dev/null 2>&1; then DEMANGLER=(swift-demangle --simplified)
  elif command -v swift >/dev/null 2>&1; then DEMANGLER=(swift demangle --simplified)
  fi
fi

{
  echo "# Palisade CPU profile — $TS"
  echo "# binary: $PALISADE_BIN"
  echo "# load: wrk -t$THREADS -c$CONNECTIONS -d${PROFILE_SECONDS}s --latency $LOAD_DESC (after ${WARMUP}s warm-up)"
  echo "# perf: $("$PERF_BIN" --version 2>&1) record ${CG[*]} -p <palisade>; kernel $(uname -sr)"
  awk '/Requests\/sec|Latency|50%|99%|requests in|Non-2xx|Socket errors/ { print "# wrk: " $0 }' "$TMPD/wrk.txt"
  echo
  "${DEMANGLER[@]}" <"$TMPD/report.txt" | awk 'NR <= 80'
} >"$OUT"
if [[ "${KEEP_PERF_DATA:-0}" == 1 ]]; then cp "$TMPD/perf.data" "$RESULTS_DIR/profile-$TS.perf.data"; fi

cat "$OUT"
log "profile saved to $OUT"
