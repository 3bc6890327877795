#!/usr/bin/env bash
# Start-up time to /readyz = 200 and idle memory of the release binary on the SQLite default.
# Measures a first start (creates the database, runs migrations, generates keys) and warm starts
# (database and keys exist), N times each, and prints the median. Talks to 127.0.0.1 only.
#
#   bench/startup.sh [runs]        (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
cargo build --release -q -p latchkey-server
bin="$CARGO_TARGET_DIR/release/latchkey"
# A free port, so a leftover server can never answer for ours.
port=$(bench_free_port)
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=0

# Starts the server in $1 and waits for /readyz = 200; sets `pid` and `elapsed_ms` (bench/lib.sh).
start_and_time() {
  bench_start_and_time "$bin" "$1" "$port" "$work/server.log" --log-level warn
  pid=$BENCH_PID
  elapsed_ms=$BENCH_ELAPSED_MS
}

stop() {
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

first=()
warm=()
rss=()
for i in $(seq 1 "$runs"); do
  dir="$work/run$i"
  mkdir -p "$dir"
  start_and_time "$dir"
  first+=("$elapsed_ms")
  stop
  start_and_time "$dir"
  warm+=("$elapsed_ms")
  sleep 2 # idle
  rss+=("$(rss_kib "$pid")")
  stop
done

printf '| measure | median | runs |\n|---|---|---|\n'
printf '| first start to /readyz 200 (creates DB, migrations, 3 keys) | %s ms | %s |\n' "$(printf '%s\n' "${first[@]}" | bench_median)" "${first[*]}"
printf '| warm start to /readyz 200 (DB and keys exist) | %s ms | %s |\n' "$(printf '%s\n' "${warm[@]}" | bench_median)" "${warm[*]}"
printf '| idle RSS after warm start | %s KiB | %s |\n' "$(printf '%s\n' "${rss[@]}" | bench_median)" "${rss[*]}"
echo "machine: $(nproc) cores, $(free -h | awk '/Mem:/ {print $2}') memory; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "start-up code order: $(bench_link_order_match "$bin")"
