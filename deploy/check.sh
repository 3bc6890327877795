#!/usr/bin/env bash
# The Dockerfile's build and runtime steps, without Docker (no container engine runs on this
# machine or in CI). Mirrors deploy/Dockerfile: release build of both binaries with --locked (the
# server in a command of its own, and its code order checked against it), the binaries installed
# into a fresh directory, `latchkey --version`, the shared libraries the distroless/cc runtime must
# provide, then the server started as the image's non-root user
# (65532) on its own data directory with the image's environment, and the HEALTHCHECK command run
# against it. Also verifies deploy/systemd/latchkey.service with systemd-analyze.
#
# Usage: deploy/check.sh [--dev]    (from anywhere; CI=true turns every skip into a failure)
#
# --dev builds with the dev profile instead of release: the same steps on the binaries the test
# suite builds anyway, so .ci/run can afford it. The release build (thin LTO) takes several
# minutes on two cores even with the dependencies compiled; run it in full before a release.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/latchkey/target}"
profile_args=(--release)
profile_dir=release
if [ "${1:-}" = "--dev" ]; then
  profile_args=()
  profile_dir=debug
elif [ -n "${1:-}" ]; then
  echo "usage: deploy/check.sh [--dev]" >&2
  exit 2
fi
in_ci() { [ "${CI:-}" = "true" ]; }
skip() {
  if in_ci; then echo "deploy/check.sh: FAIL: $*" >&2; exit 1; fi
  echo "deploy/check.sh: SKIPPED: $*" >&2
}
say() { printf 'deploy/check.sh: %s\n' "$*"; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- builder stage -------------------------------------------------------------------------
if [ "$profile_dir" = release ]; then
  # As the Dockerfile: the server in a cargo command of its own, so the demo's dependencies do not
  # change the features (and the symbol names) of the crates the server shares with it.
  say "cargo build --release --locked -p latchkey-server && cargo build --release --locked -p latchkey-demo-rp"
  cargo build --release --locked -p latchkey-server
  cargo build --release --locked -p latchkey-demo-rp
else
  # The dev profile has no code order to keep, so one command builds both (the test suite's
  # builds share most of it).
  say "cargo build --locked -p latchkey-server -p latchkey-demo-rp"
  cargo build --locked -p latchkey-server -p latchkey-demo-rp
fi
install -D -m 0755 "$CARGO_TARGET_DIR/$profile_dir/latchkey" "$work/bin/latchkey"
install -D -m 0755 "$CARGO_TARGET_DIR/$profile_dir/latchkey-demo-rp" "$work/bin/latchkey-demo-rp"
"$work/bin/latchkey" --version

# The release binary's code order (crates/server/link-order.txt, crates/server/build.rs) must
# still match it: a build whose features differ from the list's renames most functions, and the
# idle server then keeps about 6 MiB more code resident.
if [ "$profile_dir" = release ] && command -v nm >/dev/null; then
  . bench/lib.sh
  read -r found listed < <(bench_link_order_counts "$work/bin/latchkey")
  if [ $((found * 10)) -lt $((listed * 9)) ]; then
    echo "deploy/check.sh: FAIL: only $found of the $listed functions in crates/server/link-order.txt are in the binary (a changed build command, or a stale list: bench/link-order.sh regenerates it)" >&2
    exit 1
  fi
  say "code order: $found of the $listed functions in crates/server/link-order.txt are in the binary"
fi

# distroless/cc-debian12 ships glibc and libgcc only: anything else the binary needs would be
# missing at run time (the container would not even start).
for bin in latchkey latchkey-demo-rp; do
  extra="$(ldd "$work/bin/$bin" | awk '{print $1}' \
    | grep -vE '^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1)$' || true)"
  if [ -n "$extra" ]; then
    echo "deploy/check.sh: FAIL: $bin links against libraries distroless/cc lacks: $extra" >&2
    exit 1
  fi
done
say "binaries link against glibc and libgcc only"

# --- runtime stage -------------------------------------------------------------------------
# The image runs as 65532:65532 with /var/lib/latchkey owned by it and the working directory there.
uid=65532
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  as_image_user=(setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --)
  chmod 0755 "$work" "$work/bin"
  install -d -m 0700 -o "$uid" -g "$uid" "$work/data"
else
  skip "not root or no setpriv: the non-root run uses the current user"
  as_image_user=()
  install -d -m 0700 "$work/data"
fi
"${as_image_user[@]}" "$work/bin/latchkey" --version >/dev/null

# A free port: the image listens on 0.0.0.0:8080, which may be taken here.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)"
(
  cd "$work/data"
  exec env -i PATH=/usr/bin:/bin \
    LATCHKEY_LISTEN="127.0.0.1:$port" LATCHKEY_DATA_DIR="$work/data" LATCHKEY_LOG__FORMAT=json \
    "${as_image_user[@]}" "$work/bin/latchkey" serve >"$work/server.log" 2>&1
) &
server_pid=$!
healthy=""
for _ in $(seq 1 100); do
  if "$work/bin/latchkey" probe "http://127.0.0.1:$port/readyz" 2>/dev/null; then healthy=yes; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$healthy" ]; then
  echo "deploy/check.sh: FAIL: the server did not become ready as uid $uid:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
say "server ready as uid $uid; HEALTHCHECK command (latchkey probe .../readyz) passes"
if "$work/bin/latchkey" probe "http://127.0.0.1:$port/no-such-route" 2>/dev/null; then
  echo "deploy/check.sh: FAIL: probe accepted a 404" >&2
  exit 1
fi
grep -q '"level":"INFO"' "$work/server.log" || { echo "deploy/check.sh: FAIL: LATCHKEY_LOG__FORMAT=json did not give JSON logs" >&2; cat "$work/server.log" >&2; exit 1; }
kill -TERM "$server_pid"
wait "$server_pid" || { echo "deploy/check.sh: FAIL: non-zero exit after SIGTERM" >&2; cat "$work/server.log" >&2; exit 1; }
server_pid=""
db_owner="$(stat -c %u "$work/data/latchkey.db")"
[ "${#as_image_user[@]}" -eq 0 ] || [ "$db_owner" = "$uid" ] || { echo "deploy/check.sh: FAIL: database owned by $db_owner" >&2; exit 1; }
say "graceful stop on SIGTERM; data written as uid $db_owner"

# --- systemd unit --------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  # verify insists that ExecStart's binary exists: point it at the one just built.
  sed "s#^ExecStart=/usr/local/bin/latchkey #ExecStart=$work/bin/latchkey #" \
    deploy/systemd/latchkey.service >"$work/latchkey.service"
  out="$(systemd-analyze verify "$work/latchkey.service" 2>&1)" || { echo "$out" >&2; exit 1; }
  if [ -n "$out" ]; then echo "deploy/check.sh: FAIL: systemd-analyze verify warns:" >&2; echo "$out" >&2; exit 1; fi
  say "systemd-analyze verify deploy/systemd/latchkey.service: clean"
else
  skip "systemd-analyze not installed (apt-get install systemd): the unit was not verified"
fi
say "ok"
