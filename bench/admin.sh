#!/usr/bin/env bash
# Admin console and API response times with 100,000 accounts: release build, SQLite (or
# PostgreSQL with DB=postgres), the real binary on 127.0.0.1.
#
# The accounts are seeded in one SQL statement (a recursive CTE), in the exact format the store
# writes (lowercase email_key and display_name_key, RFC 3339 timestamps): hashing 100,000 passwords
# would measure Argon2, not the list pages. One administrator is created with the CLI.
#
# For each page: ROUNDS sequential requests with curl (one at a time, quiet server) -> p50 and p99
# of the total time; then wrk with CONNECTIONS connections for DURATION seconds -> requests/s and
# wrk's own p50/p99 under load.
#
# Usage: bench/admin.sh
#   ROUNDS=200 DURATION=10 CONNECTIONS=8 PORT=18082 DB=sqlite|postgres SKIP_BUILD=1 bench/admin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS="${ROUNDS:-200}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
PORT="${PORT:-18082}"
DB="${DB:-sqlite}"
ACCOUNTS="${ACCOUNTS:-100000}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
ISSUER="http://127.0.0.1:${PORT}"
PASSWORD="violet-tractor-sunrise-917"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
# SKIP_BUILD=1 uses the release binary already in the target directory.
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "==> release build" >&2
  cargo build --release --locked -p latchkey-server >&2
fi
bin="$CARGO_TARGET_DIR/release/latchkey"

# Nothing from the caller's environment may change the server's configuration.
bench_unset_latchkey_env

work=$(mktemp -d)
server_pid=""
pg_db=""
cleanup() {
  bench_stop "$server_pid"
  bench_backend_drop "$PG_ADMIN_URL" || true
  rm -rf "$work"
}
trap cleanup EXIT

bench_backend_env "$DB" "$work" "$ISSUER" "latchkey_bench_$$" "$PG_ADMIN_URL"

echo "==> schema and $ACCOUNTS accounts ($DB)" >&2
"$bin" migrate 2>/dev/null
seeded=$(date +%s.%N)
if [ "$DB" = postgres ]; then
  psql -q "$LATCHKEY_DATABASE__URL" <<SQL
INSERT INTO accounts (id, username, email, email_key, email_verified, password_hash, display_name, display_name_key,
                      disabled, password_change_required, created_at, updated_at)
SELECT md5('bench' || i)::uuid, 'user' || lpad(i::text, 6, '0'), 'User' || lpad(i::text, 6, '0') || '@Example.com',
       'user' || lpad(i::text, 6, '0') || '@example.com', true, NULL,
       CASE WHEN i % 1000 = 7 THEN 'Rare Person ' || i END, CASE WHEN i % 1000 = 7 THEN 'rare person ' || i END,
       false, false, now(), now()
FROM generate_series(0, $ACCOUNTS - 1) AS i;
ANALYZE accounts;
SQL
else
  sqlite3 "$work/data/latchkey.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $ACCOUNTS)
INSERT INTO accounts (id, username, email, email_key, email_verified, password_hash, display_name, display_name_key,
                      disabled, password_change_required, created_at, updated_at)
SELECT randomblob(16), 'user' || printf('%06d', i), 'User' || printf('%06d', i) || '@Example.com',
       'user' || printf('%06d', i) || '@example.com', 1, NULL,
       CASE WHEN i % 1000 = 7 THEN 'Rare Person ' || i END, CASE WHEN i % 1000 = 7 THEN 'rare person ' || i END,
       0, 0, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'
FROM n;
ANALYZE;
SQL
fi
echo "    seeded in $(awk -v a="$(date +%s.%N)" -v b="$seeded" 'BEGIN { printf "%.1f", a - b }') s" >&2
echo "$PASSWORD" | "$bin" users add root --email root@example.com --role admin >/dev/null 2>&1
secret=$("$bin" clients add bench-admin --redirect-uri https://bench.example/cb --grant client_credentials \
  --scope latchkey:admin 2>/dev/null | sed -n 's/.*store it now): //p')

"$bin" serve --listen "127.0.0.1:$PORT" 2>"$work/server.log" &
server_pid=$!
bench_wait_ready "$ISSUER/readyz" "$server_pid" 100 || { cat "$work/server.log" >&2; exit 1; }

echo "==> sign in (console) and token (API)" >&2
jar="$work/cookies"
csrf=$(curl -fsS -c "$jar" -b "$jar" "$ISSUER/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -fsS -o /dev/null -c "$jar" -b "$jar" -H "Origin: $ISSUER" \
  --data-urlencode "csrf_token=$csrf" --data-urlencode "login=root" --data-urlencode "password=$PASSWORD" "$ISSUER/login"
cookie=$(awk '$6 == "latchkey_session" { print "latchkey_session=" $7 }' "$jar")
[ -n "$cookie" ] || { echo "sign-in failed" >&2; exit 1; }
token=$(curl -fsS -u "bench-admin:$secret" -d grant_type=client_credentials -d scope=latchkey:admin "$ISSUER/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "no token" >&2; exit 1; }

# name|path|header
targets=(
  "console list, page 1|/admin/accounts|Cookie: $cookie"
  "console list, page 1000 (offset 49,950)|/admin/accounts?page=1000|Cookie: $cookie"
  "console list, last page (offset 100,000)|/admin/accounts?page=2001|Cookie: $cookie"
  "console search 'rare person' (100 matches)|/admin/accounts?q=rare+person|Cookie: $cookie"
  "console search 'user054321@' (1 match)|/admin/accounts?q=user054321%40|Cookie: $cookie"
  "console search, no match|/admin/accounts?q=nobody-at-all|Cookie: $cookie"
  "API list, offset 50,000|/admin/api/v1/accounts?limit=50&offset=50000|Authorization: Bearer $token"
  "API search 'rare person'|/admin/api/v1/accounts?search=rare%20person|Authorization: Bearer $token"
)

percentile() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int(NR * p + 0.999999); if (i < 1) i = 1; printf "%.1f", a[i] * 1000 }'; }

echo
echo "Admin pages with $ACCOUNTS accounts ($DB, release build, $(nproc) cores, client on the same machine)"
echo
printf '| %-44s | %9s | %9s | %11s | %13s | %13s |\n' "page" "p50 (ms)" "p99 (ms)" "wrk req/s" "wrk p50 (ms)" "wrk p99 (ms)"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "-----------" "-----------" "-------------" "---------------" "---------------"
for entry in "${targets[@]}"; do
  IFS='|' read -r name path header <<<"$entry"
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "$header" "$ISSUER$path")
  [ "$status" = 200 ] || { echo "$path answered $status" >&2; exit 1; }
  times="$work/times"
  : >"$times"
  for _ in $(seq 1 "$ROUNDS"); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "$header" "$ISSUER$path" >>"$times"
  done
  p50=$(percentile 0.50 <"$times")
  p99=$(percentile 0.99 <"$times")
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$header" "$ISSUER$path")
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  w50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  w99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$out")
  [ -z "$non2xx" ] || echo "warning: $non2xx non-2xx answers for $path" >&2
  printf '| %-44s | %9s | %9s | %11s | %13s | %13s |\n' "$name" "$p50" "$p99" "$rps" "$w50" "$w99"
done
