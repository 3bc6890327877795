#!/usr/bin/env bash
# OpenID Connect endpoint load test: release build, SQLite, the real binary on 127.0.0.1, and
# wrk (Debian's package, installed here when missing) against discovery, JWKS, the
# client_credentials token endpoint (an RS256 signature and a database insert per request),
# userinfo and introspection (a signature check and one or two lookups per request).
# Prints requests/s, p50, p99 and errors per endpoint, and the server's RSS before and after.
#
# Usage: bench/oidc.sh        (override with the environment)
#   DURATION=10 CONNECTIONS=64 THREADS=2 PORT=18081 bench/oidc.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18081}"
ISSUER="http://127.0.0.1:${PORT}"

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
echo "==> release build" >&2
cargo build --release --locked -p latchkey-server
cargo build --release --locked -p latchkey-tests --example mint_user_token
bin="$CARGO_TARGET_DIR/release/latchkey"
mint="$CARGO_TARGET_DIR/release/examples/mint_user_token"

# Nothing from the caller's environment may change the server's configuration.
for var in $(compgen -e | grep '^LATCHKEY_' || true); do unset "$var"; done

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

export LATCHKEY_DATA_DIR="$work/data"
export LATCHKEY_DATABASE__URL="sqlite://$work/data/latchkey.db?mode=rwc"
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

post_script() { # file body [extra header lines]
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
$3
LUA
}
get_script() { # file [extra header lines]
  printf '%s\n' "$2" >"$1"
}
get_script "$work/plain.lua" ""
post_script "$work/token.lua" "grant_type=client_credentials&scope=api%3Aread" "wrk.headers[\"Authorization\"] = \"Basic $basic\""
get_script "$work/userinfo.lua" "wrk.headers[\"Authorization\"] = \"Bearer $user_token\""
post_script "$work/introspect.lua" "token=$cc_token" "wrk.headers[\"Authorization\"] = \"Basic $basic\""

rss() { awk '/VmRSS/ {print $2 " KiB"}' "/proc/$server_pid/status"; }
echo "RSS before load: $(rss)"
printf '\n%-14s %10s %9s %9s %8s\n' endpoint "req/s" p50 p99 errors
run() { # name path script
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "http://127.0.0.1:$PORT$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  printf '%-14s %10s %9s %9s %8s\n' "$1" "$rps" "$p50" "$p99" "$errors"
}
run discovery /.well-known/openid-configuration "$work/plain.lua"
run jwks /jwks "$work/plain.lua"
run token_cc /token "$work/token.lua"
run userinfo /userinfo "$work/userinfo.lua"
run introspect /introspect "$work/introspect.lua"
echo
echo "RSS after load: $(rss)"
echo "(wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, server and wrk on the same $(nproc) cores, SQLite)"
