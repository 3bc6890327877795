#!/usr/bin/env bash
# Regenerates crates/server/link-order.txt: the functions the server runs, in the order the linker
# should place them at the start of .text (crates/server/build.rs says why: idle RSS is the code
# pages around whatever start-up touched). Each phase runs the release binary under callgrind,
# which records every function executed, on SQLite and, when reachable, on PostgreSQL:
#   1. a warm start (database and keys exist), /readyz, one client_credentials token, 4 s idle:
#      what bench/startup.sh and bench/run.sh measure as idle RSS, placed first;
#   2. a first start (migrations, key generation), placed next;
#   3. a warm start loaded with a few requests of every bench/run.sh row (discovery, JWKS, tokens,
#      userinfo, introspection, refresh, code flows, sign-ins), then the same rows concurrently:
#      the request paths, placed last.
# A name is listed once, in its first phase. Run it after changes that move much code (a
# dependency update, a new toolchain); bench/startup.sh prints how much of the list still matches.
# Talks to 127.0.0.1 only.
#
#   bench/link-order.sh      (SKIP_BUILD=1 to use the built binaries; PG_ADMIN_URL as bench/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. bench/lib.sh
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PASSWORD="violet-tractor-sunrise-917"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --locked -p latchkey-server >&2
  cargo build --release --locked -p latchkey-tests --example flow_load --example rate_load --example mint_user_token >&2
fi
bin="$CARGO_TARGET_DIR/release/latchkey"
load="$CARGO_TARGET_DIR/release/examples/flow_load"
rate_load="$CARGO_TARGET_DIR/release/examples/rate_load"
mint="$CARGO_TARGET_DIR/release/examples/mint_user_token"
for f in "$bin" "$load" "$rate_load" "$mint"; do [ -x "$f" ] || { echo "$f is not built (run without SKIP_BUILD)" >&2; exit 1; }; done
bench_apt_install valgrind
bench_unset_latchkey_env

work=$(mktemp -d)
pid=""
pg_db=""
cleanup() {
  [ -z "$pid" ] || bench_stop "$pid"
  bench_backend_drop "$PG_ADMIN_URL" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
printf '%s\n' "$PASSWORD" >"$work/password"
port=$(bench_free_port)
issuer="http://127.0.0.1:$port"

# Starts the server under callgrind (profile in $2) in data directory $1, waits for /readyz.
start_profiled() {
  (cd "$1" && exec valgrind --tool=callgrind --demangle=no --callgrind-out-file="$2" \
    "$bin" serve --listen "127.0.0.1:$port") >/dev/null 2>>"$1/server.log" &
  pid=$!
  for _ in $(seq 1 1200); do
    kill -0 "$pid" 2>/dev/null || { echo "server exited:" >&2; cat "$1/server.log" >&2; return 1; }
    curl -fs -o /dev/null "$issuer/readyz" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server did not become ready under valgrind" >&2
  return 1
}

stop_profiled() {
  kill -TERM "$pid"
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  wait "$pid" 2>/dev/null || true
  pid=""
}

token() { curl -fsS -u "bench-svc:$(cat "$1/svc-secret")" -d grant_type=client_credentials "$issuer/token"; }

# Code flows, refresh rotations and sign-ins through flow_load against the server of data directory
# $1: $2 workers, at most $3 of each.
flows() {
  local mode
  for mode in code-flow refresh login; do
    timeout 600 "$load" "$mode" --base-url "$issuer" --accounts 4 --password-file "$work/password" \
      --client-id bench-web --client-secret-file "$1/web-secret" --workers "$2" --seconds 300 --max "$3" >/dev/null
  done
}

profile_backend() {
  local backend="$1" dir="$work/$1"
  bench_backend_env "$backend" "$dir" "$issuer" "latchkey_link_order_$$" "$PG_ADMIN_URL" sslmode=disable
  echo "==> $backend: first start" >&2
  start_profiled "$dir" "$work/$backend-first.cg"
  stop_profiled
  bench_register_clients "$bin" "$dir/svc-secret" "$dir/web-secret" "$dir/cli.log"
  bench_seed_accounts "$bin" 4 bench "$work/password" "$dir/cli.log"

  echo "==> $backend: warm start, idle" >&2
  start_profiled "$dir" "$work/$backend-idle.cg"
  token "$dir" >/dev/null
  sleep 4
  stop_profiled

  echo "==> $backend: warm start, requests" >&2
  start_profiled "$dir" "$work/$backend-requests.cg"
  local cc user basic
  cc=$(token "$dir" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  user=$("$mint" "$LATCHKEY_DATABASE__URL" "$dir/data/key-encryption.key" "$issuer" bench-web bench00000)
  basic="bench-svc:$(cat "$dir/svc-secret")"
  local basic_b64
  basic_b64=$(printf '%s' "$basic" | base64 -w0)
  for _ in 1 2 3; do
    curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration"
    curl -fsS -o /dev/null "$issuer/jwks"
    token "$dir" >/dev/null
    curl -fsS -o /dev/null -H "Authorization: Bearer $user" "$issuer/userinfo"
    curl -fsS -o /dev/null -u "$basic" -d "token=$cc" "$issuer/introspect"
  done
  flows "$dir" 1 3
  # The same paths under concurrency, as bench/run.sh loads them: many connections at once, access
  # tokens written in batches, waits for pooled connections, SQLite's WAL checkpoints and B-tree
  # page splits (thousands of rows). Without this, the code only a loaded server runs stayed out of
  # the list, scattered, and a run kept 1.3 MiB more code resident than the requests above explain.
  # Requests the slowed-down server cannot answer in time count as errors here, which is fine: the
  # point is the code they run.
  echo "==> $backend: warm start, requests under concurrency" >&2
  timeout 120 "$rate_load" --url "$issuer/token" --rate 60 --seconds 30 --connections 64 \
    --header "Authorization: Basic $basic_b64" --form grant_type=client_credentials >/dev/null || true
  timeout 60 "$rate_load" --url "$issuer/userinfo" --rate 60 --seconds 5 --connections 64 \
    --header "Authorization: Bearer $user" >/dev/null || true
  timeout 60 "$rate_load" --url "$issuer/introspect" --rate 60 --seconds 5 --connections 64 \
    --header "Authorization: Basic $basic_b64" --form "token=$cc" >/dev/null || true
  flows "$dir" 4 8
  stop_profiled
  bench_backend_drop "$PG_ADMIN_URL"
}

backends=(sqlite)
if bench_pg_reachable "$PG_ADMIN_URL"; then
  backends+=(postgres)
else
  echo "!! PostgreSQL is not reachable at $PG_ADMIN_URL: the list covers SQLite only" >&2
fi
for backend in "${backends[@]}"; do profile_backend "$backend"; done

profiles=()
for phase in idle first requests; do
  for backend in "${backends[@]}"; do profiles+=("$work/$backend-$phase.cg"); done
done
out=crates/server/link-order.txt
{
  printf '# Functions the server runs, in the order the linker places them at the start of .text (see\n'
  printf '# crates/server/build.rs): idle after a warm start, then a first start, then request paths.\n'
  printf '# Generated by bench/link-order.sh on %s (%s); do not edit by hand.\n' "$(date -u +%F)" "$(git rev-parse --short HEAD)"
  python3 - "$(basename "$bin")" "${profiles[@]}" <<'EOF'
# Function names from callgrind profiles, restricted to the server binary's own code, each once,
# in the order of the profiles given.
import re, sys
binary, paths = sys.argv[1], sys.argv[2:]
seen = set()
for path in paths:
    objects, functions, current = {}, {}, None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, key, name = m.groups()
            if name:
                objects[key] = name
            if kind == "ob":
                current = objects.get(key, "")
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if not m:
            continue
        kind, key, name = m.groups()
        if name:
            functions[key] = name
        if kind != "fn" or not current or current.rsplit("/", 1)[-1] != binary:
            continue
        # callgrind marks recursion levels as name'2; "(below main)" is not a symbol.
        name = re.sub(r"'\d+$", "", functions[key])
        if name.startswith("(") or name in seen:
            continue
        seen.add(name)
        print(name)
EOF
} >"$out.new"
mv "$out.new" "$out"
echo "$out: $(grep -vc '^#' "$out") functions; rebuild the release binary to apply it" >&2
