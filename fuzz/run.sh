#!/usr/bin/env bash
# Builds every fuzz target and runs each for N seconds (default 60).
# Usage: fuzz/run.sh [SECONDS] [--asan]
#   --asan: AddressSanitizer build (RUSTC_BOOTSTRAP=1, stable toolchain);
#   default: no sanitizer (-s none).
# Needs cargo-fuzz: cargo install --locked cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")"
secs=60
sanitizer=(-s none)
bootstrap=()
for arg in "$@"; do
  case "$arg" in
    --asan) sanitizer=(); bootstrap=(env RUSTC_BOOTSTRAP=1) ;;
    *) secs="$arg" ;;
  esac
done
targets=$(cargo fuzz list)
"${bootstrap[@]}" cargo fuzz build "${sanitizer[@]}" -O
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "== $t (${secs}s)"
  # Runs on a scratch copy of the corpus: new inputs stay out of git.
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  "${bootstrap[@]}" cargo fuzz run "${sanitizer[@]}" -O "$t" "$work" -- \
    -max_total_time="$secs" -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|panicked|SUMMARY" || true
  rm -rf "$work"
  if [ -d "artifacts/$t" ] && [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "!! $t found crashes: fuzz/artifacts/$t"
    exit 1
  fi
done
echo "all targets ran ${secs}s without a crash"
