#!/usr/bin/env bash
# The benchmark of issue #7 in one run: release build, then for SQLite and PostgreSQL in turn a
# fresh `latchkey` on 127.0.0.1, loaded from a second process on the same machine:
#   wrk                      discovery, JWKS, client_credentials (RS256), userinfo, introspection
#   bench/flow_load.rs       refresh-token rotation, complete authorization-code flows, sign-ins
# One table per database (req/s, p50, p99, errors, target, met?), the server's RSS idle and after
# the run, its warm start-up time (bench/startup.sh's method), the machine, the load average before
# and after, and the commit; all of it also goes to bench/results/run-<date>.md.
#
# Usage: bench/run.sh          (override with the environment)
#   DURATION=10 CONNECTIONS=64 THREADS=2 DB=both|sqlite|postgres SKIP_BUILD=1 bench/run.sh
#   FLOW_WORKERS=8 REFRESH_WORKERS=32 LOGIN_WORKERS=8 ACCOUNTS=200 STARTUP_RUNS=3 PORT=18090
#   PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres   (needs CREATEDB; skipped if unreachable)
#   CC_RATE=4500   (the open-loop client_credentials row: requests per second offered)
#   PG_URL_PARAMS=sslmode=disable   (query string of the server's database URL; empty: sqlx's default,
#                                    TLS if the server offers it. The database is on loopback, where
#                                    TLS protects nothing; see docs/scaling.md for its cost)
#   OUT=bench/results/run-<date>.md
# Side by side with another provider on loopback that has the same benchmark client registered:
#   OTHER_ISSUER=http://127.0.0.1:PORT OTHER_CLIENT_ID=... OTHER_CLIENT_SECRET=... \
#   [OTHER_USER_TOKEN=...] [OTHER_SCOPE=...] [OTHER_NAME=...] [OTHER_PID=...] bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. bench/lib.sh

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
DB="${DB:-both}"
FLOW_WORKERS="${FLOW_WORKERS:-8}"
REFRESH_WORKERS="${REFRESH_WORKERS:-32}"
LOGIN_WORKERS="${LOGIN_WORKERS:-8}"
ACCOUNTS="${ACCOUNTS:-200}"
STARTUP_RUNS="${STARTUP_RUNS:-3}"
PORT="${PORT:-18090}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_URL_PARAMS="${PG_URL_PARAMS-sslmode=disable}"
CC_RATE="${CC_RATE:-4500}"
OTHER_ISSUER="${OTHER_ISSUER:-}"
OTHER_NAME="${OTHER_NAME:-other}"
PASSWORD="violet-tractor-sunrise-917"
date=$(date -u +%F)
OUT="${OUT:-bench/results/run-$date.md}"
case "$OUT" in /*) ;; *) OUT="$root/$OUT" ;; esac

for n in DURATION CONNECTIONS THREADS FLOW_WORKERS REFRESH_WORKERS LOGIN_WORKERS ACCOUNTS STARTUP_RUNS PORT; do
  case "${!n}" in '' | *[!0-9]*) echo "$n must be a whole number, not '${!n}'" >&2; exit 2 ;; esac
  [ "${!n}" -gt 0 ] || { echo "$n must be at least 1" >&2; exit 2; }
done
[ "$DURATION" -le 600 ] || { echo "DURATION is at most 600 (seconds per row)" >&2; exit 2; }
case "$DB" in sqlite) backends=(sqlite) ;; postgres) backends=(postgres) ;; both) backends=(sqlite postgres) ;;
  *) echo "DB is sqlite, postgres or both, not '$DB'" >&2; exit 2 ;; esac
if [ -n "$OTHER_ISSUER" ]; then
  bench_is_loopback_url "$OTHER_ISSUER" || { echo "OTHER_ISSUER must be on loopback (http://127.0.0.1:PORT): $OTHER_ISSUER" >&2; exit 2; }
  [ -n "${OTHER_CLIENT_ID:-}" ] && [ -n "${OTHER_CLIENT_SECRET:-}" ] || { echo "OTHER_ISSUER needs OTHER_CLIENT_ID and OTHER_CLIENT_SECRET" >&2; exit 2; }
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "==> release build" >&2
  cargo build --release --locked -p latchkey-server >&2
  cargo build --release --locked -p latchkey-tests --example flow_load --example rate_load --example mint_user_token >&2
fi
bin="$CARGO_TARGET_DIR/release/latchkey"
load="$CARGO_TARGET_DIR/release/examples/flow_load"
mint="$CARGO_TARGET_DIR/release/examples/mint_user_token"
rate_load="$CARGO_TARGET_DIR/release/examples/rate_load"
for f in "$bin" "$load" "$mint" "$rate_load"; do [ -x "$f" ] || { echo "$f is not built (run without SKIP_BUILD)" >&2; exit 1; }; done
bench_install_wrk
cpu_reference=$(bench_cpu_reference)

# The other provider's PID, for its RSS, is the caller's; everything else LATCHKEY_* is dropped.
bench_unset_latchkey_env

work=$(mktemp -d)
server_pid=""
pg_db=""
cleanup() {
  bench_stop "$server_pid"
  bench_backend_drop "$PG_ADMIN_URL" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
printf '%s\n' "$PASSWORD" >"$work/password"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- crates migrations templates 2>/dev/null || echo ' (with uncommitted changes)')"
cd "$work" # no config/latchkey.toml here: the CLI and the server use built-in defaults only

issuer="http://127.0.0.1:$PORT"
rows=(discovery jwks client_credentials client_credentials_rate userinfo introspection refresh code_flow login)
declare -A label=([discovery]="discovery" [jwks]="JWKS" [client_credentials]="client_credentials (RS256)"
  [client_credentials_rate]="client_credentials at $CC_RATE/s offered (open loop)"
  [userinfo]="userinfo" [introspection]="introspection" [refresh]="refresh rotation"
  [code_flow]="code flow (complete)" [login]="login POSTs")
declare -A rps p50 p99 errs info row_rss # keyed "<backend>:<row>"; p50/p99 in ms; row_rss: server RSS after the row
declare -A other_why=([refresh]="needs a provider-specific login form" [code_flow]="needs a provider-specific login form"
  [login]="needs a provider-specific login form" [client_credentials_rate]="not run against other providers")

# The server's RSS (MiB) at the end of the row just run, for key $1: where memory grows, row by row.
record_rss() { row_rss[$1]=$(bench_rss_mib "$server_pid" 2>/dev/null || echo "?"); }

# Records wrk's figures for key $1.
record_wrk() {
  rps[$1]=$(printf '%.0f' "$WRK_RPS")
  p50[$1]=$(bench_to_ms "$WRK_P50")
  p99[$1]=$(bench_to_ms "$WRK_P99")
  errs[$1]=$WRK_ERRORS
}

# Runs a load generator (the command after $4) that prints one JSON report on stdout, and records
# it under key $1: req/s (printf format $3), p50, p99, errors, and the detail line that the Python
# expression $4 makes of the report `r` and its error kinds `kinds`. $2 names it in messages.
record_report() {
  local key="$1" name="$2" rps_format="$3" detail="$4" json status
  shift 4
  json=$(RUST_BACKTRACE=0 "$@" 2>"$work/${name// /-}.err") || {
    status=$?
    info[$key]="failed: $(grep -m1 '^Error' "$work/${name// /-}.err" || echo "exit status $status")"
    echo "$name ${info[$key]}" >&2
    return 1
  }
  read -r "rps[$key]" "p50[$key]" "p99[$key]" "errs[$key]" "info[$key]" < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
kinds = "; ".join("%d x %s" % (n, k) for k, n in r["error_kinds"].items()) or "none"
print(sys.argv[2] % r["per_second"], "%.2f %.2f %d" % (r["p50_ms"], r["p99_ms"], r["errors"]), eval(sys.argv[3]))
' "$json" "$rps_format" "$detail")
}

# Runs rate_load (open loop, $CC_RATE requests/s) against URL $2 with form body $3 and header $4;
# records it under key $1. req/s is what was answered with 2xx; latency counts from when each
# request was due, so a server that falls behind shows it.
record_rate() {
  record_report "$1" rate_load %.0f \
    '"%d sent at %d/s, %d answered in %.1f s, slowest %.2f ms; errors: %s" % (r["sent"], r["rate"], r["ok"], r["seconds"], r["max_ms"], kinds)' \
    timeout $((DURATION + 60)) "$rate_load" --url "$2" --rate "$CC_RATE" --seconds "$DURATION" --form "$3" --header "$4"
}

# Runs flow_load in mode $2 with $3 workers and records it under key $1.
record_flow() {
  record_report "$1" "flow_load $2" %.1f \
    '"%d workers, %d in %.1f s; errors: %s" % (r["workers"], r["ok"], r["seconds"], kinds)' \
    timeout $((DURATION + 300)) "$load" "$2" --base-url "$issuer" --accounts "$ACCOUNTS" \
    --password-file "$work/password" --client-id bench-web --client-secret-file "$work/web-secret" \
    --workers "$3" --seconds "$DURATION"
}

# The target of a row on a backend: "text|min req/s|max p99 ms" (empty parts: no bound).
target() {
  case "$2" in
    discovery | jwks) echo "≥ 60,000/s, p99 < 5 ms|60000|5" ;;
    client_credentials) echo "≥ 4,500/s (p99: see the open-loop row)|4500|" ;;
    client_credentials_rate) echo "4,500/s with p99 < 15 ms|$((CC_RATE * 99 / 100))|15" ;;
    userinfo | introspection) if [ "$1" = sqlite ]; then echo "≥ 20,000/s|20000|"; else echo "≥ 10,000/s|10000|"; fi ;;
    code_flow) echo "≥ 50/s|50|" ;;
    *) echo "-||" ;;
  esac
}

# yes/no against a target (no when anything failed); "-" without a target.
met() { # rps p99 errors min max
  [ -n "$4$5" ] || { echo "-"; return; }
  awk -v r="$1" -v p="$2" -v e="$3" -v min="$4" -v max="$5" 'BEGIN {
    ok = (e == 0) && (min == "" || r >= min) && (max == "" || p < max)
    print ok ? "yes" : (e == 0 ? "no" : "no (errors)")
  }'
}

run_backend() {
  local backend="$1" dir="$work/$backend"
  bench_backend_env "$backend" "$dir" "$issuer" "latchkey_bench_run_$$" "$PG_ADMIN_URL" "${PG_URL_PARAMS:-}"

  echo "==> $backend: schema, clients, $ACCOUNTS accounts (latchkey users add, Argon2id at the defaults)" >&2
  "$bin" migrate >/dev/null 2>>"$dir/cli.log"
  bench_register_clients "$bin" "$dir/svc-secret" "$work/web-secret" "$dir/cli.log"
  local started=$SECONDS
  bench_seed_accounts "$bin" "$ACCOUNTS" bench "$work/password" "$dir/cli.log"
  echo "    accounts took $((SECONDS - started)) s" >&2

  # The first start creates the signing keys; the timed starts find the database and keys.
  bench_start_and_time "$bin" "$dir" "$PORT" "$dir/server.log"
  server_pid=$BENCH_PID
  bench_stop "$server_pid"
  local times=()
  for i in $(seq 1 "$STARTUP_RUNS"); do
    bench_start_and_time "$bin" "$dir" "$PORT" "$dir/server.log"
    server_pid=$BENCH_PID
    times+=("$BENCH_ELAPSED_MS")
    [ "$i" = "$STARTUP_RUNS" ] || bench_stop "$server_pid"
  done
  info[$backend:startup]="$(printf '%s\n' "${times[@]}" | bench_median) ms (median of ${times[*]} ms)"

  local secret basic cc_token user_token
  secret=$(cat "$dir/svc-secret")
  basic=$(printf '%s:%s' bench-svc "$secret" | base64 -w0)
  cc_token=$(curl -fsS -u "bench-svc:$secret" -d grant_type=client_credentials "$issuer/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  user_token=$("$mint" "$LATCHKEY_DATABASE__URL" "$dir/data/key-encryption.key" "$issuer" bench-web bench00000)
  bench_wrk_get_script "$dir/plain.lua"
  bench_wrk_post_script "$dir/token.lua" "grant_type=client_credentials&scope=api%3Aread" "wrk.headers[\"Authorization\"] = \"Basic $basic\""
  bench_wrk_get_script "$dir/userinfo.lua" "wrk.headers[\"Authorization\"] = \"Bearer $user_token\""
  bench_wrk_post_script "$dir/introspect.lua" "token=$cc_token" "wrk.headers[\"Authorization\"] = \"Basic $basic\""

  sleep 2 # idle, as bench/startup.sh measures it
  info[$backend:rss_before]=$(bench_rss "$server_pid")
  info[$backend:rss_before_mib]=$(bench_rss_mib "$server_pid")
  info[$backend:load_before]=$(bench_loadavg)

  echo "==> $backend: load, $DURATION s per row" >&2
  local wrk_args=("$THREADS" "$CONNECTIONS" "$DURATION")
  bench_wrk "${wrk_args[@]}" "$dir/plain.lua" "$issuer/.well-known/openid-configuration" && record_wrk "$backend:discovery"
  record_rss "$backend:discovery"
  bench_wrk "${wrk_args[@]}" "$dir/plain.lua" "$issuer/jwks" && record_wrk "$backend:jwks"
  record_rss "$backend:jwks"
  bench_wrk "${wrk_args[@]}" "$dir/token.lua" "$issuer/token" && record_wrk "$backend:client_credentials"
  record_rss "$backend:client_credentials"
  record_rate "$backend:client_credentials_rate" "$issuer/token" "grant_type=client_credentials&scope=api%3Aread" \
    "Authorization: Basic $basic" || true
  record_rss "$backend:client_credentials_rate"
  bench_wrk "${wrk_args[@]}" "$dir/userinfo.lua" "$issuer/userinfo" && record_wrk "$backend:userinfo"
  record_rss "$backend:userinfo"
  bench_wrk "${wrk_args[@]}" "$dir/introspect.lua" "$issuer/introspect" && record_wrk "$backend:introspection"
  record_rss "$backend:introspection"
  record_flow "$backend:refresh" refresh "$REFRESH_WORKERS" || true
  record_rss "$backend:refresh"
  record_flow "$backend:code_flow" code-flow "$FLOW_WORKERS" || true
  record_rss "$backend:code_flow"
  record_flow "$backend:login" login "$LOGIN_WORKERS" || true
  record_rss "$backend:login"

  info[$backend:rss_after]=$(bench_rss "$server_pid")
  info[$backend:rss_after_mib]=$(bench_rss_mib "$server_pid")
  info[$backend:load_after]=$(bench_loadavg)
  # The hashing threads give their Argon2 blocks back after IDLE_RELEASE (5 s) without sign-ins.
  sleep 8
  info[$backend:rss_settled]=$(bench_rss "$server_pid")
  info[$backend:rss_settled_mib]=$(bench_rss_mib "$server_pid")
  local log_errors
  sed 's/\x1b\[[0-9;]*m//g' "$dir/server.log" >"$dir/server.plain.log"
  log_errors=$(grep -ciE 'panick| ERROR ' "$dir/server.plain.log" || true)
  if [ "$log_errors" -gt 0 ]; then
    info[$backend:server_log]="$log_errors lines; the first: \`$(grep -m1 -iE 'panick| ERROR ' "$dir/server.plain.log" | cut -c1-240 | tr -d '`')\`"
  fi
  bench_stop "$server_pid"
  server_pid=""
  bench_backend_drop "$PG_ADMIN_URL"
}

# The endpoints that need nothing provider-specific, against the other provider, from its own
# discovery document. Every URL it advertises must be on loopback too.
run_other() {
  local dir="$work/other" doc
  mkdir -p "$dir"
  echo "==> $OTHER_NAME at $OTHER_ISSUER" >&2
  doc=$(curl -fsS --max-time 10 "${OTHER_ISSUER%/}/.well-known/openid-configuration") || {
    echo "$OTHER_ISSUER/.well-known/openid-configuration did not answer" >&2; return 1; }
  local jwks token introspect userinfo
  read -r jwks token introspect userinfo < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(*(d.get(k) or "-" for k in ("jwks_uri", "token_endpoint", "introspection_endpoint", "userinfo_endpoint")))
' "$doc")
  local u
  for u in "$jwks" "$token" "$introspect" "$userinfo"; do
    [ "$u" = - ] || bench_is_loopback_url "$u" || { echo "$OTHER_NAME advertises a non-loopback endpoint: $u" >&2; return 1; }
  done
  local basic cc_token scope_arg=()
  basic=$(printf '%s:%s' "$OTHER_CLIENT_ID" "$OTHER_CLIENT_SECRET" | base64 -w0)
  [ -z "${OTHER_SCOPE:-}" ] || scope_arg=(--data-urlencode "scope=$OTHER_SCOPE")
  cc_token=$(curl -fsS --max-time 10 -u "$OTHER_CLIENT_ID:$OTHER_CLIENT_SECRET" -d grant_type=client_credentials "${scope_arg[@]}" "$token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') || {
    echo "$OTHER_NAME: client_credentials with $OTHER_CLIENT_ID failed" >&2; return 1; }
  local body="grant_type=client_credentials"
  [ -z "${OTHER_SCOPE:-}" ] || body="$body&scope=$(python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1]))' "$OTHER_SCOPE")"
  bench_wrk_get_script "$dir/plain.lua"
  bench_wrk_post_script "$dir/token.lua" "$body" "wrk.headers[\"Authorization\"] = \"Basic $basic\""
  bench_wrk_post_script "$dir/introspect.lua" "token=$cc_token" "wrk.headers[\"Authorization\"] = \"Basic $basic\""
  bench_wrk_get_script "$dir/userinfo.lua" "wrk.headers[\"Authorization\"] = \"Bearer ${OTHER_USER_TOKEN:-}\""

  if [ -n "${OTHER_PID:-}" ]; then info[other:rss_before]=$(bench_rss "$OTHER_PID"); fi
  info[other:load_before]=$(bench_loadavg)
  local wrk_args=("$THREADS" "$CONNECTIONS" "$DURATION")
  bench_wrk "${wrk_args[@]}" "$dir/plain.lua" "${OTHER_ISSUER%/}/.well-known/openid-configuration" && record_wrk other:discovery
  bench_wrk "${wrk_args[@]}" "$dir/plain.lua" "$jwks" && record_wrk other:jwks
  bench_wrk "${wrk_args[@]}" "$dir/token.lua" "$token" && record_wrk other:client_credentials
  if [ -z "${OTHER_USER_TOKEN:-}" ]; then
    other_why[userinfo]="needs OTHER_USER_TOKEN"
  elif [ "$userinfo" = - ]; then
    other_why[userinfo]="no userinfo_endpoint advertised"
  else
    bench_wrk "${wrk_args[@]}" "$dir/userinfo.lua" "$userinfo" && record_wrk other:userinfo
  fi
  if [ "$introspect" = - ]; then
    other_why[introspection]="no introspection_endpoint advertised"
  else
    bench_wrk "${wrk_args[@]}" "$dir/introspect.lua" "$introspect" && record_wrk other:introspection
  fi
  info[other:load_after]=$(bench_loadavg)
  if [ -n "${OTHER_PID:-}" ]; then info[other:rss_after]=$(bench_rss "$OTHER_PID"); fi
}

done_backends=()
skipped=""
for backend in "${backends[@]}"; do
  if [ "$backend" = postgres ] && ! bench_pg_reachable "$PG_ADMIN_URL"; then
    skipped="PostgreSQL SKIPPED: $PG_ADMIN_URL is unreachable (or refuses the connection); start it or set PG_ADMIN_URL."
    printf '\n!!!!!!!!\n!!! %s\n!!!!!!!!\n\n' "$skipped" >&2
    continue
  fi
  run_backend "$backend"
  done_backends+=("$backend")
done
[ -z "$OTHER_ISSUER" ] || run_other

# The report.
report() {
  echo "# Benchmark run (bench/run.sh), $date"
  echo
  echo "- Machine: $(bench_machine). The load generators (wrk, flow_load) run on the same cores as the server."
  echo "- Machine speed at the start: $cpu_reference."
  echo "- Commit: $commit; release build (profile as in Cargo.toml); built-in defaults (Argon2id m=19456 KiB, t=2, p=1)."
  echo "- Command: \`DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS DB=$DB FLOW_WORKERS=$FLOW_WORKERS REFRESH_WORKERS=$REFRESH_WORKERS LOGIN_WORKERS=$LOGIN_WORKERS ACCOUNTS=$ACCOUNTS CC_RATE=$CC_RATE PG_URL_PARAMS=$PG_URL_PARAMS$([ -z "$OTHER_ISSUER" ] || echo " OTHER_ISSUER=$OTHER_ISSUER OTHER_NAME=$OTHER_NAME") bench/run.sh\`"
  echo "- wrk rows: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s. client_credentials open loop: bench/rate_load.rs sends $CC_RATE requests/s for ${DURATION}s whatever the answers (at most 256 in flight), latency from when each was due. refresh: $REFRESH_WORKERS workers, one refresh-token chain each (set up by a code flow before the clock starts), each rotation replaces the token. code flow: $FLOW_WORKERS workers; one flow = GET /authorize (PKCE S256, prompt=consent) -> GET /login -> POST /login (one Argon2id verification) -> GET /authorize -> consent page -> POST /consent -> code in the redirect's Location -> POST /token; the client bench-web is not first-party, so consent is in every flow. login POSTs: $LOGIN_WORKERS workers, GET /login + POST /login each. Accounts bench00000..$(printf 'bench%05d' $((ACCOUNTS - 1))) in turn (successful sign-ins are not throttled)."
  echo "- Machine shared with other work: the load average is given for each run; other work lowers every figure."
  [ -z "$skipped" ] || { echo; echo "**$skipped**"; }
  local backend row k t text min max
  for backend in "${done_backends[@]}"; do
    echo
    echo "## $([ "$backend" = sqlite ] && echo SQLite || echo PostgreSQL)"
    echo
    echo "Load average before ${info[$backend:load_before]}, after ${info[$backend:load_after]}."
    [ "$backend" = sqlite ] || echo "PostgreSQL on 127.0.0.1, database URL query \`${PG_URL_PARAMS:-(none: TLS if offered)}\`."
    echo
    local head="| endpoint | req/s | p50 | p99 | errors | RSS after | target | met? |" rule="|---|---:|---:|---:|---:|---:|---|---|"
    [ -z "$OTHER_ISSUER" ] || { head="$head $OTHER_NAME req/s | $OTHER_NAME p50 | $OTHER_NAME p99 | $OTHER_NAME errors |"; rule="$rule---:|---:|---:|---:|"; }
    echo "$head"
    echo "$rule"
    for row in "${rows[@]}"; do
      k="$backend:$row"
      IFS='|' read -r text min max <<<"$(target "$backend" "$row")"
      local line
      if [ -n "${rps[$k]:-}" ]; then
        line="| ${label[$row]} | ${rps[$k]} | ${p50[$k]} ms | ${p99[$k]} ms | ${errs[$k]} | ${row_rss[$k]:-?} MiB | $text | $(met "${rps[$k]}" "${p99[$k]}" "${errs[$k]}" "$min" "$max") |"
      else
        line="| ${label[$row]} | (failed) | | | | ${row_rss[$k]:-?} MiB | $text | no |"
      fi
      if [ -n "$OTHER_ISSUER" ]; then
        if [ -n "${rps[other:$row]:-}" ]; then
          line="$line ${rps[other:$row]} | ${p50[other:$row]} ms | ${p99[other:$row]} ms | ${errs[other:$row]} |"
        else
          line="$line ${other_why[$row]:-(failed)} | | | |"
        fi
      fi
      echo "$line"
    done
    echo
    local idle after
    idle=${info[$backend:rss_before_mib]}
    after=${info[$backend:rss_after_mib]}
    echo "| measure | value | target | met? |"
    echo "|---|---|---|---|"
    echo "| RSS idle (2 s after a warm start) | ${info[$backend:rss_before]} | < 20 MiB | $(awk -v v="$idle" 'BEGIN {print v < 20 ? "yes" : "no"}') |"
    echo "| RSS after the run (at the end of the last row) | ${info[$backend:rss_after]} | < 64 MiB | $(awk -v v="$after" 'BEGIN {print v < 64 ? "yes" : "no"}') |"
    echo "| RSS 8 s after the run (hashing memory released after 5 s idle) | ${info[$backend:rss_settled]} | < 64 MiB | $(awk -v v="${info[$backend:rss_settled_mib]}" 'BEGIN {print v < 64 ? "yes" : "no"}') |"
    local start_ms=${info[$backend:startup]%% *}
    echo "| start-up to /readyz 200, database and keys exist | ${info[$backend:startup]} | < 100 ms | $(awk -v v="$start_ms" 'BEGIN {print v < 100 ? "yes" : "no"}') |"
    echo
    for row in client_credentials_rate refresh code_flow login; do
      [ -z "${info[$backend:$row]:-}" ] || echo "- ${label[$row]}: ${info[$backend:$row]}"
    done
    [ -z "${rps[$backend:login]:-}" ] || echo "- login POSTs and code flows are bound by Argon2id (OWASP cost, about 40 verifications/s per core, at most one per core at once)."
    [ -z "${info[$backend:server_log]:-}" ] || echo "- server log errors: ${info[$backend:server_log]}"
  done
  if [ -n "$OTHER_ISSUER" ]; then
    echo
    echo "## $OTHER_NAME ($OTHER_ISSUER)"
    echo
    echo "Measured once in this run, after the latchkey runs (latchkey stopped), with the same wrk settings;"
    echo "its columns are repeated in each table above. Load average before ${info[other:load_before]}, after ${info[other:load_after]}."
    [ -z "${info[other:rss_before]:-}" ] || echo "RSS (OTHER_PID) before ${info[other:rss_before]}, after ${info[other:rss_after]}."
  fi
}
mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"
echo >&2
echo "wrote $OUT" >&2
