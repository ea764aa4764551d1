#!/usr/bin/env bash
# Line coverage of src/ by the test suite (unit and integration tests, the
# conformance driver they run included; doc tests are not counted, which
# needs nightly). Needs cargo-llvm-cov (`cargo install --locked
# cargo-llvm-cov`) and rustc's LLVM tools (`rustup component add
# llvm-tools-preview`).
# Usage: scripts/coverage.sh [--html]   (HTML report in target/llvm-cov/html)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ignore='(tests|benches|examples|fuzz)/'
cargo llvm-cov clean --workspace
# The conformance test runs the driver binary: build it instrumented first.
cargo llvm-cov --no-report --all-features run --example conformance < /dev/null > /dev/null
cargo llvm-cov --no-report --all-features --workspace --exclude dmseal-peers --tests
if [[ "${1:-}" == "--html" ]]; then
  cargo llvm-cov report --html --ignore-filename-regex "$ignore"
else
  cargo llvm-cov report --summary-only --ignore-filename-regex "$ignore"
fi
