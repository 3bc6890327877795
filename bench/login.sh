#!/usr/bin/env bash
# Sign-in load test: release build, SQLite, OWASP Argon2id parameters (the defaults; never lowered
# here), N accounts created with the CLI, then bench/login_load.rs measures successful sign-ins per
# second and the latency of /healthz and the discovery document with and without a sign-in flood.
# Writes bench/results/login-<date>.md. Talks to 127.0.0.1 only; every wait is bounded.
#
# Usage: bench/login.sh            (defaults below; override with the environment)
#   ACCOUNTS=300 SECONDS_PER_PHASE=30 CONCURRENCY=8,200 FORWARDED_FOR=0 bench/login.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. bench/lib.sh

ACCOUNTS="${ACCOUNTS:-300}"
SECONDS_PER_PHASE="${SECONDS_PER_PHASE:-30}"
CONCURRENCY="${CONCURRENCY:-8,200}"
# 1: the server trusts 127.0.0.1 as a proxy and each sign-in claims its own X-Forwarded-For, so the
# per-IP throttle sees many clients. Off by default: successful sign-ins should not be throttled.
FORWARDED_FOR="${FORWARDED_FOR:-0}"
PASSWORD="violet-tractor-sunrise-917"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
echo "==> release build" >&2
cargo build --release --locked -p latchkey-server
cargo build --release --locked -p latchkey-tests --example login_load
bin="$CARGO_TARGET_DIR/release/latchkey"
load="$CARGO_TARGET_DIR/release/examples/login_load"

# Nothing from the caller's environment may change the server's configuration (Argon2 cost above all).
bench_unset_latchkey_env

work=$(mktemp -d)
server_pid=""
cleanup() {
  bench_stop "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"   # no config/latchkey.toml here: built-in defaults only
export LATCHKEY_DATA_DIR="$work/data"
printf '%s\n' "$PASSWORD" > "$work/password"

echo "==> creating $ACCOUNTS accounts with \`latchkey users add\` (each hashes with the OWASP parameters)" >&2
"$bin" migrate >/dev/null 2>&1
started=$(date +%s)
bench_seed_accounts "$bin" "$ACCOUNTS" bench "$work/password" "$work/users-add.log"
echo "    took $(( $(date +%s) - started ))s" >&2

load_args=()
if [ "$FORWARDED_FOR" = 1 ]; then
  export LATCHKEY_TRUSTED_PROXIES='["127.0.0.1/32"]'
  load_args+=(--forwarded-for)
fi

echo "==> starting latchkey serve" >&2
"$bin" serve --listen 127.0.0.1:0 2> "$work/server.log" &
server_pid=$!
base=""
for _ in $(seq 1 600); do
  base=$(sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | grep -o 'listening on [^ ]*' | head -1 | cut -d' ' -f3 || true)
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "latchkey did not start within 60s" >&2; cat "$work/server.log" >&2; exit 1; }
case "$base" in http://127.0.0.1:*) ;; *) echo "refusing to load anything but loopback: $base" >&2; exit 1 ;; esac
echo "    $base" >&2

echo "==> load: concurrency $CONCURRENCY, $SECONDS_PER_PHASE s each" >&2
report=$(timeout $((SECONDS_PER_PHASE * 10 + 300)) "$load" --base-url "$base" --accounts "$ACCOUNTS" \
  --password-file "$work/password" --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_PHASE" "${load_args[@]}")

date=$(date -u +%F)
out="$root/bench/results/login-$date.md"
mkdir -p "$root/bench/results"
{
  echo "# Sign-in load, $date"
  echo
  echo "- Machine: $(nproc) CPU cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) memory, $(uname -sr)"
  echo "- Commit: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- crates migrations || echo ' (with uncommitted changes)')"
  echo "- Server: release build, SQLite in a temp dir, built-in defaults: Argon2id m=19456 KiB, t=2, p=1 (OWASP), hashing bound one per core, queue wait 2 s"
  echo "- Accounts: $ACCOUNTS distinct, one successful sign-in each per round (GET /login, POST /login -> 303 /account)"
  echo "- X-Forwarded-For per sign-in (trusted proxy 127.0.0.1): $([ "$FORWARDED_FOR" = 1 ] && echo yes || echo no)"
  echo "- Load generator on the same machine (it competes for the same cores)"
  echo "- Command: \`ACCOUNTS=$ACCOUNTS SECONDS_PER_PHASE=$SECONDS_PER_PHASE CONCURRENCY=$CONCURRENCY FORWARDED_FOR=$FORWARDED_FOR bench/login.sh\`"
  echo
  echo "$report"
} > "$out"
cat "$out"
echo >&2
echo "wrote $out" >&2
