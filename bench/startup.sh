#!/usr/bin/env bash
# Start-up time to /readyz = 200 and idle memory of the release binary on the SQLite default.
# Measures a first start (creates the database, runs migrations, generates keys) and warm starts
# (database and keys exist), N times each, and prints the median. Talks to 127.0.0.1 only.
#
#   bench/startup.sh [runs]        (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
cargo build --release -q -p latchkey-server
bin="$CARGO_TARGET_DIR/release/latchkey"
# A free port, so a leftover server can never answer for ours.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=0

now_ns() { date +%s%N; }

# Starts the server in $1 and waits for /readyz = 200; sets `pid` and `elapsed_ms` (milliseconds
# from exec to ready). Not called in a command substitution: the server would hold its pipe open.
start_and_time() {
  local dir="$1" t0 t1
  t0=$(now_ns)
  (cd "$dir" && exec "$bin" serve --listen "127.0.0.1:$port" --log-level warn) >/dev/null 2>>"$work/server.log" &
  pid=$!
  for _ in $(seq 1 5000); do
    kill -0 "$pid" 2>/dev/null || { echo "server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      t1=$(now_ns)
      elapsed_ms=$(( (t1 - t0) / 1000000 ))
      return 0
    fi
    sleep 0.002
  done
  echo "server did not become ready" >&2
  cat "$work/server.log" >&2
  exit 1
}

stop() {
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

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
printf '| first start to /readyz 200 (creates DB, migrations, 3 keys) | %s ms | %s |\n' "$(printf '%s\n' "${first[@]}" | median)" "${first[*]}"
printf '| warm start to /readyz 200 (DB and keys exist) | %s ms | %s |\n' "$(printf '%s\n' "${warm[@]}" | median)" "${warm[*]}"
printf '| idle RSS after warm start | %s KiB | %s |\n' "$(printf '%s\n' "${rss[@]}" | median)" "${rss[*]}"
echo "machine: $(nproc) cores, $(free -h | awk '/Mem:/ {print $2}') memory; $(date -u +%Y-%m-%dT%H:%MZ)"
