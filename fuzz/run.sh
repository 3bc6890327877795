#!/usr/bin/env bash
# Fuzzes every target in fuzz_targets/ for a short, bounded time each: fuzz/run.sh [seconds]
# (default 20). CI runs it with a few seconds per target; run it longer by hand
# (`fuzz/run.sh 600`, or `cargo fuzz run <target>` with no limit, RUSTC_BOOTSTRAP=1 as below).
#
# - Stable Rust only: RUSTC_BOOTSTRAP=1 lets stable rustc accept the -Z flags cargo-fuzz passes.
# - cargo-fuzz is installed on first use into ~/.cargo/bin and kept there.
# - `-s none`: no AddressSanitizer. The code under test is safe Rust, so what we hunt is panics
#   (debug assertions and overflow checks stay on, cargo-fuzz's default); ASan would halve the
#   executions per second for nothing (the C inside aws-lc is not instrumented either way).
# - Build output goes to FUZZ_TARGET_DIR (default /var/cache/latchkey/fuzz-target, outside the
#   clone like the workspace's, so repeated CI runs reuse it). New inputs go to corpus/<target>
#   (git-ignored); the committed starting inputs are seeds/<target>.
# - A crash stops that target, leaves the input in artifacts/<target>/, prints how to reproduce
#   it, and makes the script fail after the remaining targets ran. Turn it into a regression unit
#   test next to the parser and fix the parser.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
case "$seconds" in '' | *[!0-9]*) echo "usage: fuzz/run.sh [seconds per target]" >&2; exit 2 ;; esac
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
target_dir="${FUZZ_TARGET_DIR:-/var/cache/latchkey/fuzz-target}"
mkdir -p "$target_dir"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz into ~/.cargo/bin"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

targets=(authorize_request token_form basic_credentials id_token_hint)
listed="$(cargo fuzz list | sort | tr '\n' ' ')"
expected="$(printf '%s\n' "${targets[@]}" | sort | tr '\n' ' ')"
if [ "$listed" != "$expected" ]; then
  echo "fuzz/run.sh knows the targets [$expected] but fuzz/Cargo.toml has [$listed]" >&2
  exit 1
fi

cargo fuzz build -s none --target-dir "$target_dir"

failed=()
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="$log_dir/$t.log"
  # -timeout: one input taking 10 s is a hang, reported like a crash; -rss_limit_mb likewise for memory.
  if cargo fuzz run -s none --target-dir "$target_dir" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    corpus="$(find "corpus/$t" -type f | wc -l)"
    echo "fuzz $t: ok, ${runs:-?} inputs in ${seconds}s, corpus ${corpus}"
  else
    echo "fuzz $t: FAILED"
    tail -n 60 "$log"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that crashed or hung: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a crash"
