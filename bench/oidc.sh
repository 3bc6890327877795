#!/usr/bin/env bash
# OpenID Connect endpoint load test: release build, SQLite, the real binary on 127.0.0.1, and
# wrk (Debian's package, installed here when missing) against discovery, JWKS, the
# client_credentials token endpoint (an RS256 signature and a database insert per request),
# userinfo and introspection (a signature check and one or two lookups per request).
# Prints a Markdown table of requests/s, p50, p99 and errors per endpoint, the server's RSS
# (resident total and its anonymous part) before and after, and the load average of the machine
# before and after (other work on the cores lowers every figure).
#
# Usage: bench/oidc.sh        (override with the environment)
#   DURATION=10 CONNECTIONS=64 THREADS=2 PORT=18081 bench/oidc.sh
#   LATCHKEY_DATABASE__URL=postgres://postgres@127.0.0.1:5432/postgres bench/oidc.sh
#     PostgreSQL instead of SQLite: a fresh database latchkey_bench_<pid> is created on that server
#     (the URL's user needs CREATEDB) and dropped afterwards; psql is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18081}"
ISSUER="http://127.0.0.1:${PORT}"

bench_install_wrk

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
echo "==> release build" >&2
cargo build --release --locked -p latchkey-server
cargo build --release --locked -p latchkey-tests --example mint_user_token
bin="$CARGO_TARGET_DIR/release/latchkey"
mint="$CARGO_TARGET_DIR/release/examples/mint_user_token"

# Nothing from the caller's environment may change the server's configuration, except the
# PostgreSQL server to use.
pg_admin_url=""
case "${LATCHKEY_DATABASE__URL:-}" in postgres://* | postgresql://*) pg_admin_url="$LATCHKEY_DATABASE__URL" ;; esac
bench_unset_latchkey_env

work=$(mktemp -d)
server_pid=""
pg_db="latchkey_bench_$$"
cleanup() {
  bench_stop "$server_pid"
  if [ -n "$pg_admin_url" ]; then psql -q "$pg_admin_url" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export LATCHKEY_DATA_DIR="$work/data"
if [ -n "$pg_admin_url" ]; then
  psql -q "$pg_admin_url" -c "CREATE DATABASE $pg_db" >/dev/null
  # The same server and credentials, our fresh database as the path.
  export LATCHKEY_DATABASE__URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_admin_url" "$pg_db")
  backend=postgres
else
  export LATCHKEY_DATABASE__URL="sqlite://$work/data/latchkey.db?mode=rwc"
  backend=sqlite
fi
export LATCHKEY_ISSUER="$ISSUER"
export LATCHKEY_LOG__LEVEL=warn
mkdir -p "$work/data"

"$bin" serve --listen "127.0.0.1:$PORT" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

echo "==> fixtures" >&2
secret=$("$bin" clients add bench-svc --redirect-uri https://bench.example/cb --grant client_credentials \
  --scope api:read </dev/null | sed -n 's/.*store it now): //p')
"$bin" clients add bench-web --redirect-uri https://bench.example/cb >/dev/null </dev/null
echo "violet-tractor-sunrise-917" | "$bin" users add bench-user --email bench@example.com >/dev/null
user_token=$("$mint" "$LATCHKEY_DATABASE__URL" "$work/data/key-encryption.key" "$ISSUER" bench-web bench-user)
basic=$(printf '%s:%s' bench-svc "$secret" | base64 -w0)
cc_token=$(curl -fsS -u "bench-svc:$secret" -d grant_type=client_credentials "http://127.0.0.1:$PORT/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$cc_token" ] && [ -n "$user_token" ] || { echo "fixtures failed" >&2; cat "$work/server.log" >&2; exit 1; }

bench_wrk_get_script "$work/plain.lua"
bench_wrk_post_script "$work/token.lua" "grant_type=client_credentials&scope=api%3Aread" "wrk.headers[\"Authorization\"] = \"Basic $basic\""
bench_wrk_get_script "$work/userinfo.lua" "wrk.headers[\"Authorization\"] = \"Bearer $user_token\""
bench_wrk_post_script "$work/introspect.lua" "token=$cc_token" "wrk.headers[\"Authorization\"] = \"Basic $basic\""

rss() { bench_rss "$server_pid"; }
loadavg() { bench_loadavg; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "database: $backend; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load average before: $(loadavg)"
echo "RSS before load: $(rss)"
printf '\n| %-12s | %10s | %9s | %9s | %6s |\n' endpoint "req/s" p50 p99 errors
printf '|%s|%s|%s|%s|%s|\n' -------------- ------------ ----------- ----------- --------
run() { # name path script
  bench_wrk "$THREADS" "$CONNECTIONS" "$DURATION" "$3" "http://127.0.0.1:$PORT$2"
  printf '| %-12s | %10s | %9s | %9s | %6s |\n' "$1" "$WRK_RPS" "$WRK_P50" "$WRK_P99" "$WRK_ERRORS"
}
run discovery /.well-known/openid-configuration "$work/plain.lua"
run jwks /jwks "$work/plain.lua"
run token_cc /token "$work/token.lua"
run userinfo /userinfo "$work/userinfo.lua"
run introspect /introspect "$work/introspect.lua"
echo
echo "RSS after load: $(rss)"
echo "load average after: $(loadavg)"
echo "(wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, server and wrk on the same $(nproc) cores, $backend)"
