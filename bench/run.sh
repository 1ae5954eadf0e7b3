#!/usr/bin/env bash
# Palisade reverse-proxy benchmark: direct vs nginx proxy_pass vs HAProxy vs
# Palisade, interleaved in one run. See bench/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash bench/run.sh [--help]

Benchmarks, in one run and interleaved, the same fast upstream (nginx serving a
fixed JSON body on 127.0.0.1:18080) reached:
  direct    wrk -> upstream                                  (127.0.0.1:18080)
  nginx     wrk -> nginx proxy_pass (keepalive 64) -> upstream (127.0.0.1:18081)
  haproxy   wrk -> HAProxy (nbthread 2, http-reuse always)   (127.0.0.1:18082)
  palisade  wrk -> Palisade (bench/palisade-bench.yaml)      (127.0.0.1:18083)

Scenarios:
  get       GET /small          (30-byte JSON response)
  post1k    POST /post, 1 KiB JSON request body (bench/post1k.lua)

Each measurement: wrk -t1 -c64 -d${DURATION}s --latency after a ${WARMUP}s
warm-up against the same target. Every round runs every target once per
scenario; the target order rotates each round. Reports the median req/s
(min-max), median p50/p99 latency, and each target's median req/s relative to
nginx proxy_pass and to HAProxy. The report is printed to stdout and saved to
bench/results/<UTC timestamp>.md (raw wrk output next to it, *.raw.txt).

Build Palisade first:  swift build -c release --product palisade

Environment (defaults in brackets):
  PALISADE_BIN      Palisade binary [.build/release/palisade]; started as
                    "$PALISADE_BIN run --config $PALISADE_CONFIG"
  PALISADE_CONFIG   [bench/palisade-bench.yaml]
  PALISADE_THREADS  event loops of Palisade (--threads) [1, like the nginx proxy's
                    worker_processes 1; 0 = Palisade's default, one per core]
  DURATION          seconds per measured wrk run [8]
  WARMUP            seconds of warm-up wrk run before each measurement [2]
  ROUNDS            rounds [3]
  THREADS           wrk threads [1]
  CONNECTIONS       wrk connections [64]
  COOLDOWN          seconds of idle between runs [1]
  TARGETS           subset/order of "direct nginx haproxy palisade" [all]
  SCENARIOS         subset of "get post1k webhook1k jwt-es256 jwt-rs256 ratelimit ratelimit-shared
                    ratelimit-shared-keys logmask logmask-off logplain logplain-off logbody logbody-off"
                    [all but the two ratelimit-shared; webhook1k, jwt-* and ratelimit* run on
                    Palisade only, the log scenarios on Palisade and nginx (access_log)]
  REDIS_URL         when set (redis://127.0.0.1:PORT), Palisade's store is that Redis
  NGINX_WORKERS     worker_processes of the nginx proxy [1] (see README)
  UPSTREAM_WORKERS  worker_processes of the upstream nginx [1]
  HAPROXY_THREADS   nbthread of HAProxy [2]
  PIN=1             pin all servers to SERVER_CPUS [1] and wrk to WRK_CPUS [0]
                    with taskset (default: no pinning, the scheduler decides)
  RESULTS_DIR       [bench/results]
  KEEP_TMP=1        keep the temp dir with generated configs and server logs
  PALISADE_STDOUT   where Palisade's access lines go: file (the run's log), pipe (a FIFO read by cat)
                    or null [file]

Exit codes: 0 ok, 2 missing tools/binary, 3 port busy, 1 other failure.
Tools needed: apt-get install -y wrk nginx-light haproxy
EOF
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) printf 'unknown argument: %s\n\n' "$1" >&2; usage >&2; exit 64 ;;
esac

# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-64}"
COOLDOWN="${COOLDOWN:-1}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-1}"
HAPROXY_THREADS="${HAPROXY_THREADS:-2}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
read -r -a TARGET_LIST <<<"${TARGETS:-direct nginx haproxy palisade}"
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-get post1k webhook1k jwt-es256 jwt-rs256 ratelimit logmask logmask-off logplain logplain-off logbody logbody-off}"

for v in DURATION WARMUP ROUNDS THREADS CONNECTIONS COOLDOWN; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')" 64
done
((ROUNDS >= 1 && DURATION >= 1 && THREADS >= 1 && CONNECTIONS >= THREADS)) ||
  die "need ROUNDS>=1, DURATION>=1, THREADS>=1, CONNECTIONS>=THREADS" 64
for t in "${TARGET_LIST[@]}"; do
  case "$t" in direct|nginx|haproxy|palisade) ;; *) die "unknown target '$t'" 64 ;; esac
done
for s in "${SCENARIO_LIST[@]}"; do
  case "$s" in get|post1k|webhook1k|jwt-es256|jwt-rs256|ratelimit|ratelimit-shared|ratelimit-shared-keys|logmask|logmask-off|logplain|logplain-off|logbody|logbody-off) ;; *) die "unknown scenario '$s'" 64 ;; esac
done
has_target() { local x; for x in "${TARGET_LIST[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }
has_scenario() { local x; for x in "${SCENARIO_LIST[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }
# Scenarios only Palisade runs: the other targets verify nothing.
palisade_only() { [[ "$1" == webhook1k || "$1" == jwt-* || "$1" == ratelimit* ]]; }
# Whether scenario $1 runs on target $2: the log scenarios also on nginx (its buffered JSON
# access_log on /logged, the reference for what an access line costs a C proxy here).
runs_on() {
  case "$1" in
    log*) [[ "$2" == palisade || "$2" == nginx ]] ;;
    *) ! palisade_only "$1" || [[ "$2" == palisade ]] ;;
  esac
}

# The webhook1k route's secret, and the signature of the fixed body made with Python's hmac.
export BENCH_WEBHOOK_SECRET="bench-webhook-secret-0123456789"
WEBHOOK_SIGNATURE="sha256=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), ("{\"pad\":\"" + "x"*1014 + "\"}").encode(), hashlib.sha256).hexdigest())' "$BENCH_WEBHOOK_SECRET")"
export WEBHOOK_SIGNATURE

resolve_palisade_bin
check_tools
has_target palisade && check_palisade_bin
setup_pinning

ports=("$UPSTREAM_PORT")
has_target nginx && ports+=("$NGINX_PORT")
has_target haproxy && ports+=("$HAPROXY_PORT")
has_target palisade && ports+=("$PALISADE_PORT" "$PALISADE_ADMIN_PORT")
check_ports_free "${ports[@]}"

install_traps
trap 'log "FAILED (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
make_tmpdir
write_post_body

TS="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "sampling idle CPU for 1 s"
BUSY_AT_START="$(cpu_busy_sample 1)"
mkdir -p "$RESULTS_DIR"
REPORT="$RESULTS_DIR/$TS.md"
RAW="$RESULTS_DIR/$TS.raw.txt"

# ---- start servers -----------------------------------------------------------
start_upstream
has_target nginx && start_nginx_proxy
has_target haproxy && start_haproxy
has_target palisade && start_palisade

for t in "${TARGET_LIST[@]}"; do sanity_check "$t"; done

# ---- measurement -----------------------------------------------------------
run_wrk() { # run_wrk TARGET SCENARIO SECONDS OUTFILE
  local t="$1" s="$2" d="$3" out="$4"
  scenario_request "$s" "$(target_port "$t")"
  local url="$SCENARIO_URL"
  local -a script=(${SCENARIO_ARGS[@]+"${SCENARIO_ARGS[@]}"})
  # Background + wait so that INT/TERM traps fire at once (cleanup kills wrk).
  ${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t"$THREADS" -c"$CONNECTIONS" -d"${d}s" --latency \
    ${script[@]+"${script[@]}"} "$url" >"$out" 2>&1 </dev/null &
  WRK_PID=$!
  wait "$WRK_PID" || true
  WRK_PID=""
}

# parse_wrk FILE -> "rps p50_ms p99_ms non2xx socket_errors requests"
parse_wrk() {
  awk '
    function ms(v,   n, u) {
      n = v; u = v
      sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000
      if (u == "ms") return n + 0
      if (u == "s")  return n * 1000
      if (u == "m")  return n * 60000
      if (u == "h")  return n * 3600000
      return -1
    }
    /^Requests\/sec:/            { rps = $2 }
    /^[ \t]+50%[ \t]/            { p50 = ms($2) }
    /^[ \t]+99%[ \t]/            { p99 = ms($2) }
    /Non-2xx or 3xx responses:/  { non = $NF }
    /Socket errors:/             { se = $4 + $6 + $8 + $10 }
    / requests in /              { reqs = $1 }
    END {
      if (rps == "" || p50 == "" || p99 == "" || reqs == "") exit 1
      printf "%s %.4f %.4f %d %d %d\n", rps, p50, p99, non + 0, se + 0, reqs
    }' "$1"
}

CLK_TCK="$(getconf CLK_TCK)"
RESULTS_TSV="$TMPD/results.tsv"   # round scenario target rps p50 p99 non2xx sockerr bg_busy% cpu_user_us cpu_kernel_us
: >"$RESULTS_TSV"
n_t=${#TARGET_LIST[@]}
total=0
for s in "${SCENARIO_LIST[@]}"; do
  for t in "${TARGET_LIST[@]}"; do
    if runs_on "$s" "$t"; then total=$((total + ROUNDS)); fi
  done
done
est=$((total * (DURATION + WARMUP + COOLDOWN)))
log "running $total measurements (~${est}s): rounds=$ROUNDS targets=${TARGET_LIST[*]} scenarios=${SCENARIO_LIST[*]}"
i=0
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((k = 0; k < n_t; k++)); do order+=("${TARGET_LIST[$(((k + r - 1) % n_t))]}"); done
  for s in "${SCENARIO_LIST[@]}"; do
    for t in "${order[@]}"; do
      # Only Palisade verifies signatures; the other targets have nothing to compare here.
      runs_on "$s" "$t" || continue
      i=$((i + 1))
      if ((WARMUP > 0)); then run_wrk "$t" "$s" "$WARMUP" "$TMPD/raw/warmup.txt"; fi
      out="$TMPD/raw/r$r-$s-$t.txt"
      proc="$t"; [[ "$t" == direct ]] && proc=upstream
      pid="$(pid_of "$proc")"
      read -r u0 k0 <<<"$(cpu_ticks "$pid")"
      run_wrk "$t" "$s" "$DURATION" "$out"
      read -r u1 k1 <<<"$(cpu_ticks "$pid")"
      { printf '===== round %d scenario %s target %s =====\n' "$r" "$s" "$t"; cat "$out"; echo; } >>"$RAW"
      if ! parsed="$(parse_wrk "$out")"; then
        cat "$out" >&2
        die "could not parse wrk output for round $r $s $t (see above)"
      fi
      read -r rps p50 p99 non se reqs <<<"$parsed"
      # The target's own CPU (user, kernel) per request served in the measured run, in µs.
      read -r cu ck <<<"$(awk -v u="$((u1 - u0))" -v k="$((k1 - k0))" -v n="$reqs" -v hz="$CLK_TCK" \
        'BEGIN { if (n > 0) printf "%.2f %.2f", u * 1e6 / hz / n, k * 1e6 / hz / n; else print "nan nan" }')"
      log "[$i/$total] round $r $s $t: ${rps} req/s, CPU/req user ${cu} µs kernel ${ck} µs, p50 ${p50} ms, p99 ${p99} ms, non2xx $non, sock err $se"
      # A target that died mid-run invalidates the comparison.
      kill -0 "$pid" 2>/dev/null || { tail -n 30 "$TMPD/$proc.log" >&2 || true; die "$proc died during the run"; }
      # Cool-down doubles as a probe: with the bench idle, busy CPU is someone else.
      bg="n/a"
      if ((COOLDOWN > 0)); then bg="$(cpu_busy_sample "$COOLDOWN")"; fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$t" "$rps" "$p50" "$p99" "$non" "$se" "$bg" "$cu" "$ck" >>"$RESULTS_TSV"
    done
  done
done

# ---- aggregation -----------------------------------------------------------
col() { # col SCENARIO TARGET FIELD(4=rps 5=p50 6=p99 7=non2xx 8=sockerr 10=cpu user µs/req 11=cpu kernel µs/req 12=cpu total)
  awk -F'\t' -v s="$1" -v t="$2" -v f="$3" '$2 == s && $3 == t { print (f == 12 ? $10 + $11 : $f) }' "$RESULTS_TSV"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
  if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minv() { sort -g | awk 'NR == 1'; }
maxv() { sort -g | awk '{ x = $0 } END { print x }'; }
sumv() { awk '{ s += $1 } END { print s + 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f×", a / b; else printf "n/a" }'; }
# paired A B FIELD forward|inverse [TARGET]: per round, A/B (forward) or B/A (inverse) of the
# target's FIELD (Palisade's by default);
# the median over rounds, then the min–max.
paired() {
  awk -F'\t' -v a="$1" -v b="$2" -v f="$3" -v dir="$4" -v target="${5:-palisade}" '
    $3 == target && ($2 == a || $2 == b) { v = (f == 12 ? $10 + $11 : $f); if ($2 == a) x[$1] = v; else y[$1] = v }
    END { for (r in x) if ((r in y) && x[r] > 0 && y[r] > 0) print (dir == "forward" ? x[r] / y[r] : y[r] / x[r]) }' "$RESULTS_TSV" \
    | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { printf "n/a"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f× (%.2f–%.2f)", m, v[1], v[NR] }'
}
fmt_rps() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
fmt_ms() { awk -v x="$1" 'BEGIN { printf "%.3f", x }'; }
fmt_us() { awk -v x="$1" 'BEGIN { printf "%.1f", x }'; }

# (awk, not head: head closing the pipe early would SIGPIPE the writer under pipefail)
nginx_version="$(nginx -v 2>&1 | awk 'NR == 1')"
haproxy_version="$(haproxy -v 2>&1 | awk 'NR == 1')"
wrk_version="$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }')"
kernel="$(uname -srm)"
pal_info="n/a (not benchmarked)"
if has_target palisade; then
  pal_info="\`$PALISADE_BIN\`"
  if command -v sha256sum >/dev/null 2>&1; then
    pal_info+=" sha256:$(sha256sum "$PALISADE_BIN" | cut -c1-12)"
  fi
  pal_info+=", built $(date -u -r "$PALISADE_BIN" +%Y-%m-%dT%H:%M:%SZ)"
fi
git_rev="$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)"
if [[ -n "$(git -C "$REPO_DIR" status --porcelain 2>/dev/null | awk 'NR == 1')" ]]; then git_rev+=" (dirty)"; fi
pin_desc="none (scheduler decides)"
[[ "${PIN:-0}" == 1 ]] && pin_desc="servers on cpu ${SERVER_CPUS:-1}, wrk on cpu ${WRK_CPUS:-0} (taskset)"

{
  echo "# Palisade proxy benchmark — $TS"
  echo
  echo "- host: $kernel, $(nproc) CPUs, load average at start: $LOAD_AT_START, CPU busy at start (1 s idle sample): ${BUSY_AT_START}%"
  echo "- nginx: $nginx_version"
  echo "- haproxy: $haproxy_version"
  echo "- wrk: $wrk_version"
  echo "- kernel: $kernel"
  echo "- palisade: $pal_info; repo commit $git_rev"
  echo "- load: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency\`, ${WARMUP}s warm-up per target, $ROUNDS round(s), target order rotated per round"
  echo "- servers: upstream nginx worker_processes $UPSTREAM_WORKERS; nginx proxy worker_processes $NGINX_WORKERS, upstream keepalive 64; HAProxy nbthread $HAPROXY_THREADS, http-reuse always; Palisade --threads ${PALISADE_THREADS:-1} (0 = one per core); pinning: $pin_desc"
  bg_max="$(awk -F'\t' '$9 != "n/a" && $9 + 0 > m { m = $9 + 0 } END { print m + 0 }' "$RESULTS_TSV")"
  if ((BUSY_AT_START > 10 || bg_max > 10)); then
    echo "- **warning**: other processes were using CPU (${BUSY_AT_START}% busy at start, up to ${bg_max}% during the idle gaps between runs) — numbers are noisy; rerun on a quiet machine"
  fi
  echo
  echo "## CPU per request (headline)"
  echo
  echo "Each target's own CPU time (all its processes and threads, from /proc/PID/stat) over the measured run, divided by the requests wrk completed: the figure that moves least when the machine changes. Lower is better; ratios are against nginx proxy_pass / HAProxy (below 1 is cheaper)."
  echo
  echo "| scenario | target | user µs/req | kernel µs/req | total µs/req | total min–max | vs nginx | vs HAProxy | user vs nginx |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for s in "${SCENARIO_LIST[@]}"; do
    cref_nginx=0; cref_haproxy=0; uref_nginx=0
    has_target nginx && { cref_nginx="$(col "$s" nginx 12 | median)"; uref_nginx="$(col "$s" nginx 10 | median)"; }
    has_target haproxy && cref_haproxy="$(col "$s" haproxy 12 | median)"
    for t in "${TARGET_LIST[@]}"; do
      tot="$(col "$s" "$t" 12 | median)"
      [[ "$tot" == nan ]] && continue
      usr="$(col "$s" "$t" 10 | median)"; ker="$(col "$s" "$t" 11 | median)"
      printf '| %s | %s | %s | %s | %s | %s–%s | %s | %s | %s |\n' \
        "$s" "$(target_label "$t")" "$(fmt_us "$usr")" "$(fmt_us "$ker")" "$(fmt_us "$tot")" \
        "$(fmt_us "$(col "$s" "$t" 12 | minv)")" "$(fmt_us "$(col "$s" "$t" 12 | maxv)")" \
        "$(ratio "$tot" "$cref_nginx")" "$(ratio "$tot" "$cref_haproxy")" "$(ratio "$usr" "$uref_nginx")"
    done
  done
  echo
  echo "## Throughput and latency"
  echo
  echo "| scenario | target | req/s (median) | req/s min–max | p50 ms | p99 ms | vs nginx proxy_pass | vs HAProxy | p99 vs nginx | non-2xx | socket errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for s in "${SCENARIO_LIST[@]}"; do
    ref_nginx=0; ref_haproxy=0; p99_nginx=0
    has_target nginx && { ref_nginx="$(col "$s" nginx 4 | median)"; p99_nginx="$(col "$s" nginx 6 | median)"; }
    has_target haproxy && ref_haproxy="$(col "$s" haproxy 4 | median)"
    for t in "${TARGET_LIST[@]}"; do
      med="$(col "$s" "$t" 4 | median)"
      [[ "$med" == nan ]] && continue
      lo="$(col "$s" "$t" 4 | minv)"; hi="$(col "$s" "$t" 4 | maxv)"
      p50="$(col "$s" "$t" 5 | median)"; p99="$(col "$s" "$t" 6 | median)"
      non="$(col "$s" "$t" 7 | sumv)"; se="$(col "$s" "$t" 8 | sumv)"
      printf '| %s | %s | %s | %s–%s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$s" "$(target_label "$t")" "$(fmt_rps "$med")" "$(fmt_rps "$lo")" "$(fmt_rps "$hi")" \
        "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$(ratio "$med" "$ref_nginx")" "$(ratio "$med" "$ref_haproxy")" \
        "$(ratio "$p99" "$p99_nginx")" "$non" "$se"
    done
  done
  # Palisade against itself: each guard or log setting against the same request without it.
  # Besides the ratio of medians, the paired figures take the ratio within each round (the two
  # runs were minutes apart at most, so the machine's drift falls on both) and report the median
  # of those; the CPU figure is baseline CPU per request over this row's (1.00 = free).
  self_rows=(
    "webhook1k post1k Signed webhook route (HMAC-SHA256 over the 1 KiB body)"
    "ratelimit get Local rate limit (GCRA per client address, never refusing)"
    "ratelimit-shared get Shared rate limit (store: ${REDIS_URL:-memory}; one client, coalesced)"
    "ratelimit-shared-keys get Shared rate limit, 100,000 client keys (nothing coalesces)"
    "logmask logmask-off Access line, every mask class firing (path, query, two headers)"
    "logplain logplain-off Access line, every mask class on, nothing to mask"
    "logbody logbody-off Access line with the 1 KiB JSON body masked into it"
    "jwt-es256 get JWT route (ES256, JWKS file)"
    "jwt-rs256 get JWT route (RS256, JWKS file)"
  )
  self_header=0
  for row in "${self_rows[@]}"; do
    read -r a b label <<<"$row"
    if ! { has_target palisade && has_scenario "$a" && has_scenario "$b"; }; then continue; fi
    if ((self_header == 0)); then
      echo
      echo "## Palisade against its own baseline"
      echo
      echo "| route | against | req/s ratio of medians | paired req/s ratio, median (min–max) | paired CPU ratio, median (min–max) | nginx, same requests: paired req/s ratio | nginx: paired CPU ratio |"
      echo "|---|---|---:|---:|---:|---:|---:|"
      self_header=1
    fi
    # nginx logs the log scenarios' /logged requests with a buffered JSON access_log (no
    # masking): what an access line costs a C proxy on this machine. Its other rows have no guard.
    nginx_rps="—"; nginx_cpu="—"
    if has_target nginx && [[ "$a" == log* ]]; then
      nginx_rps="$(paired "$a" "$b" 4 forward nginx)"; nginx_cpu="$(paired "$a" "$b" 12 inverse nginx)"
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$b" \
      "$(ratio "$(col "$a" palisade 4 | median)" "$(col "$b" palisade 4 | median)")" \
      "$(paired "$a" "$b" 4 forward)" "$(paired "$a" "$b" 12 inverse)" "$nginx_rps" "$nginx_cpu"
  done
  if ((self_header == 1)); then
    echo
    echo "Paired ratios are taken round by round (this row's run against its baseline's run of the same round), then the median over rounds. The CPU ratio is the baseline's CPU per request over this row's: the share of the baseline's throughput the extra work leaves on a CPU-bound machine (1.00 = free)."
  fi
  echo
  echo "Ratios are the target's median req/s divided by the median req/s of nginx proxy_pass / HAProxy in the same scenario (higher is better; the direct row shows the upstream's own ceiling). p50/p99 are medians over rounds of wrk's per-run latency percentiles. non-2xx and socket errors are summed over all measured runs and should be 0."
  echo
  echo "<details><summary>per-run results</summary>"
  echo
  echo "| round | scenario | target | req/s | user µs/req | kernel µs/req | p50 ms | p99 ms | non-2xx | socket errors | CPU busy after run (bench idle) |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %s | %s | %.3f | %.3f | %s | %s | %s |\n", $1, $2, $3, $4, $10, $11, $5, $6, $7, $8, ($9 == "n/a" ? $9 : $9 "%") }' "$RESULTS_TSV"
  echo
  echo "</details>"
} >"$REPORT"

cat "$REPORT"
log "report saved to $REPORT (raw wrk output: $RAW)"
