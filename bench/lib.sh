# Shell pieces shared by the bench scripts; sourced (`. bench/lib.sh`), never run. Each function
# talks to 127.0.0.1 only and bounds every wait.

# Nothing from the caller's environment may change the server's configuration (the Argon2 cost
# above all): unset every LATCHKEY_* variable.
bench_unset_latchkey_env() {
  local var
  for var in $(compgen -e | grep '^LATCHKEY_' || true); do unset "$var"; done
}

# Installs Debian package $1 with apt-get unless its command ($2, default $1) is already there.
bench_apt_install() {
  local package="$1" command="${2:-$1}" sudo=""
  command -v "$command" >/dev/null && return 0
  echo "==> installing $package" >&2
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq "$package" >/dev/null 2>&1 || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "$package" >/dev/null; }
  command -v "$command" >/dev/null || { echo "$package could not be installed" >&2; return 1; }
}

bench_install_wrk() { bench_apt_install wrk; }

bench_machine() {
  echo "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory, $(uname -sr)"
}

# The machine's speed on the day, as one number to compare runs by: RSA-2048 signatures per second
# on one core (`openssl speed`, 2 s). The RS256 token rows are bound by this very operation, and a
# shared host can be twice as slow one day as another (seen here: 1,140 to 1,517/s within an hour).
bench_cpu_reference() {
  command -v openssl >/dev/null || { echo "not measured (no openssl)"; return; }
  openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {printf "%.0f RSA-2048 signatures/s on one core (openssl speed rsa2048)", $6; found = 1} END {if (!found) print "not measured (openssl speed failed)"}'
}

bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# A free TCP port on 127.0.0.1, so a leftover server can never answer for ours.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Resident memory of a process in MiB (one decimal), and the same with its anonymous (private:
# heap and stacks) part; the rest is code mapped from the page cache, shared and reclaimable.
bench_rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
bench_rss() { awk '/^VmRSS/ {t = $2} /^RssAnon/ {a = $2} END {printf "%.1f MiB (anonymous %.1f MiB)", t / 1024, a / 1024}' "/proc/$1/status"; }

# Waits up to $3 tenths of a second (default 600) for $1 to answer 200 while the process $2 lives.
bench_wait_ready() {
  local url="$1" pid="$2" tries="${3:-600}"
  for _ in $(seq 1 "$tries"); do
    curl -fs -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Stops a server we started: TERM, up to 10 s, then KILL.
bench_stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# bench/startup.sh's method: starts `$bin serve` on 127.0.0.1:$port in $dir and times exec to
# /readyz = 200 in 2 ms steps; sets BENCH_PID and BENCH_ELAPSED_MS. Not to be called in a command
# substitution (the server would hold its pipe open). Extra arguments go to `serve`.
bench_start_and_time() {
  local bin="$1" dir="$2" port="$3" log="$4" t0
  shift 4
  t0=$(date +%s%N)
  (cd "$dir" && exec "$bin" serve --listen "127.0.0.1:$port" "$@") >/dev/null 2>>"$log" &
  BENCH_PID=$!
  for _ in $(seq 1 5000); do
    kill -0 "$BENCH_PID" 2>/dev/null || { echo "server exited:" >&2; cat "$log" >&2; return 1; }
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      BENCH_ELAPSED_MS=$((($(date +%s%N) - t0) / 1000000))
      return 0
    fi
    sleep 0.002
  done
  echo "server did not become ready" >&2
  cat "$log" >&2
  return 1
}

bench_median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Creates $2 accounts <prefix>00000... with `latchkey users add` (the password on stdin, hashed
# with the configured Argon2id cost), $(nproc) at a time. Args: bin count prefix password-file log.
bench_seed_accounts() {
  local bin="$1" count="$2" prefix="$3" password_file="$4" log="$5"
  seq 0 $((count - 1)) | xargs -P "$(nproc)" -I{} sh -c '
    name=$(printf "%s%05d" "$3" {})
    "$1" users add "$name" --email "$name@example.com" < "$2" > /dev/null 2>> "$4" || { cat "$4" >&2; exit 255; }
  ' sh "$bin" "$password_file" "$prefix" "$log"
}

# wrk Lua scripts: a POST with a form body (and extra header lines), or a GET with extra lines.
bench_wrk_post_script() { # file body [extra Lua lines]
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
${3:-}
LUA
}
bench_wrk_get_script() { printf '%s\n' "${2:-}" >"$1"; }

# Runs wrk against a URL with a script; sets WRK_RPS, WRK_P50 and WRK_P99 (as wrk prints them,
# e.g. 580.00us) and WRK_ERRORS (non-2xx answers plus socket errors).
# Args: threads connections seconds script url.
bench_wrk() {
  local out
  out=$(wrk -t"$1" -c"$2" -d"${3}s" --latency -s "$4" "$5")
  WRK_RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  WRK_P50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  WRK_P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  WRK_ERRORS=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
}

# A wrk latency (580.00us, 2.57ms, 1.02s, 2.00m) in milliseconds, two decimals.
bench_to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u == "ns") n /= 1e6
    printf "%.2f", n
  }'
}

# Whether a URL names this machine's loopback interface (http only; no user part, which could
# hide another host: http://127.0.0.1:80@example.com/).
bench_is_loopback_url() {
  case "$1" in *@*) return 1 ;; esac
  case "$1" in
    http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/* | "http://[::1]:"* | "http://[::1]/"*) return 0 ;;
    *) return 1 ;;
  esac
}

# How much of crates/server/link-order.txt (the start-up code order, crates/server/build.rs) names
# functions of binary $1: a list made from an older build matches less and saves less memory.
bench_link_order_match() {
  local counts
  [ -f crates/server/link-order.txt ] || { echo "no crates/server/link-order.txt"; return; }
  command -v nm >/dev/null || { echo "not checked (no nm)"; return; }
  counts=$(bench_link_order_counts "$1")
  echo "${counts% *} of the ${counts#* } functions in crates/server/link-order.txt are in the binary (bench/link-order.sh regenerates it)"
}

# Prints "found listed": how many of the names in crates/server/link-order.txt binary $1 defines,
# and how many it lists. Needs nm. A build whose features differ from the list's (another cargo
# command, e.g. one that also builds the demo) renames most functions (deploy/Dockerfile says why).
bench_link_order_counts() {
  local list=crates/server/link-order.txt
  printf '%s %s\n' \
    "$(comm -12 <(nm --defined-only "$1" | awk '{print $NF}' | sort -u) <(grep -v '^#' "$list" | sort -u) | wc -l)" \
    "$(grep -vc '^#' "$list")"
}

# PostgreSQL answers at admin URL $1 within 10 s.
bench_pg_reachable() { timeout 10 psql -q "$1" -c 'SELECT 1' >/dev/null 2>&1; }

# Points the server's configuration at backend $1 (sqlite or postgres) with data directory $2 and
# issuer $3. For postgres it creates database $4 through admin URL $5 (query string $6, optional)
# and sets the caller's `pg_db` to it, for bench_backend_drop (called at the end of the backend's
# run and, in case it stops early, from the caller's exit trap).
bench_backend_env() {
  local backend="$1" dir="$2" issuer="$3" database="${4:-}" admin_url="${5:-}" params="${6:-}"
  mkdir -p "$dir/data"
  export LATCHKEY_DATA_DIR="$dir/data" LATCHKEY_ISSUER="$issuer" LATCHKEY_LOG__LEVEL=warn
  if [ "$backend" = postgres ]; then
    pg_db="$database"
    psql -q "$admin_url" -c "CREATE DATABASE $pg_db" >/dev/null
    export LATCHKEY_DATABASE__URL="${admin_url%/*}/$pg_db${params:+?$params}"
  else
    export LATCHKEY_DATABASE__URL="sqlite://$dir/data/latchkey.db?mode=rwc"
  fi
}

# Undoes bench_backend_env: drops the caller's `pg_db` (if any) through admin URL $1.
bench_backend_drop() {
  if [ -n "${pg_db:-}" ]; then
    psql -q "$1" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
    pg_db=""
  fi
  unset LATCHKEY_DATABASE__URL LATCHKEY_DATA_DIR LATCHKEY_ISSUER
}

# Registers the benchmark clients with `latchkey clients add` (binary $1): bench-svc
# (client_credentials, scope api:read) and bench-web (authorization code; not first-party, so the
# consent page is part of every flow). Their secrets go to files $2 and $3; CLI errors to log $4.
bench_register_clients() {
  local bin="$1" svc_secret="$2" web_secret="$3" log="$4"
  "$bin" clients add bench-svc --redirect-uri https://bench.example/cb --grant client_credentials --scope api:read \
    </dev/null 2>>"$log" | sed -n 's/.*store it now): //p' >"$svc_secret"
  "$bin" clients add bench-web --name "Bench web" --redirect-uri https://bench.example/cb </dev/null 2>>"$log" |
    sed -n 's/.*store it now): //p' >"$web_secret"
  [ -s "$svc_secret" ] && [ -s "$web_secret" ] || { echo "client registration failed" >&2; cat "$log" >&2; return 1; }
}
