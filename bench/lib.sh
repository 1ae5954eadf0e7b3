# shellcheck shell=bash
# Shared helpers for bench/run.sh and bench/profile.sh. Sourced, not executed.
# Everything listens on 127.0.0.1 only; configs live in a temp dir ($TMPD).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

# Fixed ports. The Palisade ones must match bench/palisade-bench.yaml.
UPSTREAM_PORT=18080      # fast upstream (nginx, fixed JSON)
NGINX_PORT=18081         # nginx proxy_pass -> upstream
HAPROXY_PORT=18082       # HAProxy -> upstream
PALISADE_PORT=18083      # Palisade -> upstream
PALISADE_ADMIN_PORT=19901

SMALL_BODY='{"ok":true,"service":"bench"}'
POST_BODY='{"ok":true,"service":"bench","post":true}'

APT_LINE="apt-get install -y wrk nginx-light haproxy"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { local rc="${2:-1}"; printf '[bench] ERROR: %s\n' "$1" >&2; exit "$rc"; }

# Resolve PALISADE_BIN relative to the caller's cwd (before any cd), default
# to the release build in the repo.
resolve_palisade_bin() {
  local bin="${PALISADE_BIN:-$REPO_DIR/.build/release/palisade}"
  case "$bin" in
    /*) ;;
    */*) bin="$PWD/$bin" ;;
    *) if command -v "$bin" >/dev/null 2>&1; then bin="$(command -v "$bin")"; fi ;;
  esac
  PALISADE_BIN="$bin"
}

check_tools() {
  local missing=() t
  for t in nginx haproxy wrk; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  local extra=""
  command -v curl >/dev/null 2>&1 || { missing+=(curl); extra=" curl"; }
  if ((${#missing[@]})); then
    printf 'bench: missing tools: %s\n' "${missing[*]}" >&2
    printf 'install them with:\n  %s%s\n' "$APT_LINE" "$extra" >&2
    exit 2
  fi
  for t in awk sort setsid; do
    command -v "$t" >/dev/null 2>&1 || die "missing basic tool: $t" 2
  done
  if [[ "${PIN:-0}" == 1 ]] && ! command -v taskset >/dev/null 2>&1; then
    die "PIN=1 needs taskset (apt-get install -y util-linux)" 2
  fi
}

check_palisade_bin() {
  if [[ ! -x "$PALISADE_BIN" ]]; then
    printf 'bench: Palisade binary not found or not executable: %s\n' "$PALISADE_BIN" >&2
    printf 'build it with:  swift build -c release --product palisade\n' >&2
    printf 'or point PALISADE_BIN at a binary (or leave palisade out of TARGETS).\n' >&2
    exit 2
  fi
}

setup_pinning() {
  SERVER_PIN=()
  WRK_PIN=()
  if [[ "${PIN:-0}" == 1 ]]; then
    SERVER_PIN=(taskset -c "${SERVER_CPUS:-1}")
    # shellcheck disable=SC2034  # used by run.sh / profile.sh
    WRK_PIN=(taskset -c "${WRK_CPUS:-0}")
  fi
}

# cpu_busy_sample SECONDS: sleeps SECONDS and prints the % of all CPUs that
# was busy meanwhile (from /proc/stat). Run while the bench is idle, it shows
# how much CPU something else is using.
cpu_busy_sample() {
  local a b
  a="$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6; exit }' /proc/stat)"
  sleep "$1"
  b="$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6; exit }' /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
    busy = y[1] - x[1]; idle = y[2] - x[2]
    if (busy + idle <= 0) print "0"; else printf "%.0f\n", 100 * busy / (busy + idle) }'
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports_free() {
  local p
  for p in "$@"; do
    if port_in_use "$p"; then
      die "port 127.0.0.1:$p is already in use (a previous run still alive? check: ss -ltnp | grep $p)" 3
    fi
  done
}

# cpu_ticks SID: prints "USER KERNEL" clock ticks used so far by every process
# (all threads) in session SID; start_server makes each server its own session,
# so nginx's master and workers are summed. Divide by getconf CLK_TCK.
cpu_ticks() {
  # Fields after "pid (comm) ": 4 = session, 12 = utime, 13 = stime (proc(5)).
  awk -v sid="$1" '{ sub(/^.*\) /, ""); if ($4 == sid) { u += $12; k += $13 } } END { print u + 0, k + 0 }' \
    /proc/[0-9]*/stat 2>/dev/null || true
}

# ---- process management ---------------------------------------------------
PIDS=()
PNAMES=()
TMPD=""

make_tmpdir() {
  TMPD="$(mktemp -d "${TMPDIR:-/tmp}/palisade-bench.XXXXXX")"
  mkdir -p "$TMPD/nginx-up" "$TMPD/nginx-proxy" "$TMPD/raw"
}

# start_server NAME CMD...: runs CMD in its own session (so its whole process
# group can be killed), optionally pinned, logs to $TMPD/NAME.log.
start_server() {
  local name="$1"; shift
  if [[ -n "${SERVER_STDOUT:-}" ]]; then
    setsid "${SERVER_PIN[@]}" "$@" >"$SERVER_STDOUT" 2>"$TMPD/$name.log" </dev/null &
  else
    setsid "${SERVER_PIN[@]}" "$@" >"$TMPD/$name.log" 2>&1 </dev/null &
  fi
  PIDS+=("$!")
  PNAMES+=("$name")
  log "started $name (pid $!): ${SERVER_PIN[*]+${SERVER_PIN[*]} }$*"
}

pid_of() {
  local i
  for i in "${!PNAMES[@]}"; do
    [[ "${PNAMES[$i]}" == "$1" ]] && { echo "${PIDS[$i]}"; return 0; }
  done
  return 1
}

stop_all() {
  local pid i alive
  ((${#PIDS[@]})) || return 0
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  PNAMES=()
}

WRK_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$WRK_PID" ]]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  stop_all
  if [[ -n "$TMPD" && -d "$TMPD" ]]; then
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
      log "kept temp dir $TMPD"
    else
      rm -rf "$TMPD"
    fi
  fi
  exit "$rc"
}

install_traps() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# wait_http NAME URL [TIMEOUT_S]: poll until the server answers anything.
wait_http() {
  local name="$1" url="$2" timeout="${3:-20}" pid start
  pid="$(pid_of "$name")" || die "wait_http: unknown server $name"
  start=$SECONDS
  until curl -s -o /dev/null --max-time 1 "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$TMPD/$name.log" >&2 || true
      die "$name exited before becoming ready ($url)"
    fi
    if ((SECONDS - start >= timeout)); then
      tail -n 30 "$TMPD/$name.log" >&2 || true
      die "$name not ready after ${timeout}s ($url)"
    fi
    sleep 0.1
  done
  log "$name ready at $url"
}

# ---- config generation -----------------------------------------------------
nginx_common_paths() {
  # Keep every nginx temp path inside its prefix (Debian compiles in
  # /var/lib/nginx/*). fastcgi/uwsgi/scgi only if the module is compiled in.
  local v; v="$(nginx -V 2>&1)"
  echo "    client_body_temp_path $1/client_body;"
  echo "    proxy_temp_path $1/proxy;"
  [[ "$v" == *--without-http_fastcgi_module* ]] || echo "    fastcgi_temp_path $1/fastcgi;"
  [[ "$v" == *--without-http_uwsgi_module* ]] || echo "    uwsgi_temp_path $1/uwsgi;"
  [[ "$v" == *--without-http_scgi_module* ]] || echo "    scgi_temp_path $1/scgi;"
}

# The fast upstream: fixed JSON for GET /small; POST /post answered with
# `return`, which reads and discards the request body (ngx_http_send_response
# -> ngx_http_discard_request_body), so the connection stays keep-alive.
write_nginx_upstream_conf() {
  local p="$TMPD/nginx-up"
  cat >"$p/nginx.conf" <<EOF
worker_processes ${UPSTREAM_WORKERS:-1};
daemon off;
pid $p/nginx.pid;
error_log $p/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    server_tokens off;
$(nginx_common_paths "$p")
    server {
        listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
        location = /small { return 200 '$SMALL_BODY'; }
        location = /post  { client_max_body_size 1m; return 200 '$POST_BODY'; }
        location /        { return 200 '$SMALL_BODY'; }
    }
}
EOF
}

write_nginx_proxy_conf() {
  local p="$TMPD/nginx-proxy"
  cat >"$p/nginx.conf" <<EOF
worker_processes ${NGINX_WORKERS:-1};
daemon off;
pid $p/nginx.pid;
error_log $p/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    server_tokens off;
$(nginx_common_paths "$p")
    upstream backend {
        server 127.0.0.1:$UPSTREAM_PORT;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 60s;
    }
    # The log scenarios' reference: /logged/ writes a JSON access line with the fields Palisade
    # logs (no masking: nginx has none), buffered as nginx is usually run; /plain/ logs nothing.
    log_format bench_json escape=json '{"ts":"\$time_iso8601","type":"access","request_id":"\$request_id",'
        '"client_ip":"\$remote_addr","method":"\$request_method","path":"\$uri","query":"\$args",'
        '"status":\$status,"upstream_status":"\$upstream_status","duration_ms":\$request_time,'
        '"upstream_ms":"\$upstream_response_time","bytes_in":\$request_length,"bytes_out":\$bytes_sent,'
        '"headers":{"user-agent":"\$http_user_agent","referer":"\$http_referer"}}';
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /logged {
            access_log $p/access.log bench_json buffer=64k flush=1s;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

write_haproxy_conf() {
  cat >"$TMPD/haproxy.cfg" <<EOF
global
    nbthread ${HAPROXY_THREADS:-2}
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 30s

frontend fe_bench
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be_upstream

backend be_upstream
    server up1 127.0.0.1:$UPSTREAM_PORT
EOF
}

start_upstream() {
  write_nginx_upstream_conf
  start_server upstream nginx -p "$TMPD/nginx-up" -c "$TMPD/nginx-up/nginx.conf" -e "$TMPD/nginx-up/error.log"
  wait_http upstream "http://127.0.0.1:$UPSTREAM_PORT/small"
}

start_nginx_proxy() {
  write_nginx_proxy_conf
  start_server nginx nginx -p "$TMPD/nginx-proxy" -c "$TMPD/nginx-proxy/nginx.conf" -e "$TMPD/nginx-proxy/error.log"
  wait_http nginx "http://127.0.0.1:$NGINX_PORT/small"
}

start_haproxy() {
  write_haproxy_conf
  start_server haproxy haproxy -db -f "$TMPD/haproxy.cfg"
  wait_http haproxy "http://127.0.0.1:$HAPROXY_PORT/small"
}

# Keys for the jwt-es256/jwt-rs256 routes: made by Python's cryptography, tokens signed by
# PyJWT (pip install 'pyjwt[crypto]'), the JWKS written where the bench policy expects it.
write_jwt_material() {
  mkdir -p "$TMPD/jwt"
  python3 - "$TMPD/jwt" <<'PY'
import json, sys, time, jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
out = sys.argv[1]
keys = {"es256": ("ES256", ec.generate_private_key(ec.SECP256R1())),
        "rs256": ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))}
jwks = []
for kid, (alg, key) in keys.items():
    j = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    j.update(kid=kid, alg=alg, use="sig")
    jwks.append(j)
    now = int(time.time())
    claims = {"iss": "https://issuer.bench/", "aud": "bench", "sub": "bench-user", "iat": now, "exp": now + 86400}
    with open(f"{out}/{kid}.token", "w") as f:
        f.write(jwt.encode(claims, key, algorithm=alg, headers={"kid": kid}))
with open(f"{out}/jwks.json", "w") as f:
    json.dump({"keys": jwks}, f)
PY
}

start_palisade() {
  local template="${PALISADE_CONFIG:-$BENCH_DIR/palisade-bench.yaml}" cfg="$TMPD/palisade.yaml"
  write_jwt_material
  # The policy names files by absolute path; the bench's live in this run's temp dir.
  sed "s|__BENCH_TMP__|$TMPD|g" "$template" >"$cfg"
  # REDIS_URL: the shared store is that Redis (the ratelimit-shared scenario then asks it per request).
  if [[ -n "${REDIS_URL:-}" ]]; then
    printf 'store:\n  kind: redis\n  redis: { url: "%s", timeout: 200ms }\n' "$REDIS_URL" >>"$cfg"
  fi
  # One event loop by default, like the nginx proxy's single worker; PALISADE_THREADS=0 leaves
  # the choice to Palisade (one loop per core).
  local threads=()
  [[ "${PALISADE_THREADS:-1}" != 0 ]] && threads=(--threads "${PALISADE_THREADS:-1}")
  # Where the access lines go (PALISADE_STDOUT): `file` (default) appends them to the run's log
  # file, so the kernel's page cache and writeback are part of the cost; `pipe` hands them to a
  # reader process through a FIFO, as a container runtime reads a sidecar's stdout (the reader's
  # own CPU is not Palisade's and is not counted); `null` is /dev/null, the encoding cost alone.
  local out=""
  case "${PALISADE_STDOUT:-file}" in
    file) ;;
    null) out=/dev/null ;;
    pipe)
      mkfifo "$TMPD/palisade.stdout"
      SERVER_STDOUT=/dev/null start_server log-reader cat "$TMPD/palisade.stdout"
      out="$TMPD/palisade.stdout"
      ;;
    *) die "PALISADE_STDOUT must be file, pipe or null (got '${PALISADE_STDOUT}')" 64 ;;
  esac
  SERVER_STDOUT="$out" start_server palisade "$PALISADE_BIN" run --config "$cfg" ${threads[@]+"${threads[@]}"}
  wait_http palisade "http://127.0.0.1:$PALISADE_PORT/small" "${PALISADE_START_TIMEOUT:-30}"
  wait_http palisade "http://127.0.0.1:$PALISADE_ADMIN_PORT/" 10
}

target_port() {
  case "$1" in
    direct) echo "$UPSTREAM_PORT" ;;
    nginx) echo "$NGINX_PORT" ;;
    haproxy) echo "$HAPROXY_PORT" ;;
    palisade) echo "$PALISADE_PORT" ;;
    *) die "unknown target $1" ;;
  esac
}

target_label() {
  case "$1" in
    direct) echo "direct (wrk → nginx upstream)" ;;
    nginx) echo "nginx proxy_pass" ;;
    haproxy) echo "HAProxy" ;;
    palisade) echo "Palisade" ;;
  esac
}

write_post_body() {
  printf '{"pad":"%s"}' "$(printf 'x%.0s' $(seq 1 1014))" >"$TMPD/post1k.body"
  local n; n="$(wc -c <"$TMPD/post1k.body")"
  [[ "$n" == 1024 ]] || die "post body is $n bytes, expected 1024"
}

# sanity_check TARGET: GET /small must be 200 with the JSON body, POST /post
# with 1 KiB must be 200, and two POSTs on one curl must reuse the connection.
sanity_check() {
  local t="$1" port body code reuse
  port="$(target_port "$t")"
  body="$(curl -s --max-time 5 "http://127.0.0.1:$port/small")" || die "$t: GET /small failed"
  [[ "$body" == "$SMALL_BODY" ]] || die "$t: GET /small returned unexpected body: ${body:0:200}"
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
          --data-binary "@$TMPD/post1k.body" "http://127.0.0.1:$port/post")" || die "$t: POST /post failed"
  [[ "$code" == 200 ]] || die "$t: POST /post returned HTTP $code (expected 200)"
  # Second transfer's num_connects is 0 when curl reused the connection.
  reuse="$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' --max-time 5 -H 'Content-Type: application/json' \
          --data-binary "@$TMPD/post1k.body" "http://127.0.0.1:$port/post" "http://127.0.0.1:$port/post")"
  if [[ "$reuse" == "1 0 " ]]; then
    log "$t: GET/POST OK, POST keeps the connection alive"
  else
    log "WARNING: $t: connection NOT reused after a 1 KiB POST (num_connects: $reuse)"
  fi
}

# scenario_request SCENARIO PORT: sets SCENARIO_URL and SCENARIO_ARGS (wrk's -s script or -H
# header) for one bench scenario against the proxy on PORT: run.sh's table of what each scenario sends.
# shellcheck disable=SC2034  # both are read by the scripts that source this file
scenario_request() {
  local port="$2"
  SCENARIO_URL=""
  SCENARIO_ARGS=()
  case "$1" in
    get) SCENARIO_URL="http://127.0.0.1:$port/small" ;;
    post1k) SCENARIO_URL="http://127.0.0.1:$port/post"; SCENARIO_ARGS=(-s "$BENCH_DIR/post1k.lua") ;;
    webhook1k) SCENARIO_URL="http://127.0.0.1:$port/hook"; SCENARIO_ARGS=(-s "$BENCH_DIR/webhook1k.lua") ;;
    # One token per connection, verified once and then served from the per-loop cache, as a
    # client that reuses its access token is.
    jwt-es256) SCENARIO_URL="http://127.0.0.1:$port/jwt/es256"; SCENARIO_ARGS=(-H "Authorization: Bearer $(cat "$TMPD/jwt/es256.token")") ;;
    jwt-rs256) SCENARIO_URL="http://127.0.0.1:$port/jwt/rs256"; SCENARIO_ARGS=(-H "Authorization: Bearer $(cat "$TMPD/jwt/rs256.token")") ;;
    # A local GCRA limit per client address, set high enough never to refuse: the guard's cost only.
    ratelimit) SCENARIO_URL="http://127.0.0.1:$port/limited/small" ;;
    # The same in the policy's store: with REDIS_URL set, one Redis round trip per request.
    ratelimit-shared) SCENARIO_URL="http://127.0.0.1:$port/limited-shared/small" ;;
    # The same with 100,000 client keys: one script call per request (no coalescing).
    ratelimit-shared-keys) SCENARIO_URL="http://127.0.0.1:$port/limited-keys/small"; SCENARIO_ARGS=(-s "$BENCH_DIR/manykeys.lua") ;;
    # An access line per request, every mask class over path, query and logged headers.
    logmask) SCENARIO_URL="http://127.0.0.1:$port/logged/small"; SCENARIO_ARGS=(-s "$BENCH_DIR/logmask.lua") ;;
    # The same logged route with an ordinary request: nothing personal, every class still scanned.
    logplain) SCENARIO_URL="http://127.0.0.1:$port/logged/small"; SCENARIO_ARGS=(-s "$BENCH_DIR/logplain.lua") ;;
    logplain-off) SCENARIO_URL="http://127.0.0.1:$port/plain/small"; SCENARIO_ARGS=(-s "$BENCH_DIR/logplain.lua") ;;
    # The same with the 1 KiB JSON request body masked into the line.
    logbody) SCENARIO_URL="http://127.0.0.1:$port/logged-body"; SCENARIO_ARGS=(-s "$BENCH_DIR/logbody.lua") ;;
    # Their baselines: the same requests to a route that logs nothing.
    logmask-off) SCENARIO_URL="http://127.0.0.1:$port/plain/small"; SCENARIO_ARGS=(-s "$BENCH_DIR/logmask.lua") ;;
    logbody-off) SCENARIO_URL="http://127.0.0.1:$port/plain-body"; SCENARIO_ARGS=(-s "$BENCH_DIR/logbody.lua") ;;
    *) die "unknown scenario '$1'" 64 ;;
  esac
}
