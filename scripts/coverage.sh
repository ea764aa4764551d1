#!/usr/bin/env bash
# Line coverage of src/ by `cargo test --all-features` (unit, integration
# and doc tests are not all counted: doc tests need nightly for coverage).
# Needs cargo-llvm-cov (`cargo install --locked cargo-llvm-cov`) and the
# LLVM tools matching rustc (`rustup component add llvm-tools-preview`).
# Usage: scripts/coverage.sh [--html]   (HTML report in target/llvm-cov/html)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
args=(--all-features --workspace --exclude dmseal-peers --ignore-filename-regex '(tests|benches|examples|fuzz)/')
if [[ "${1:-}" == "--html" ]]; then
  cargo llvm-cov "${args[@]}" --html
else
  cargo llvm-cov "${args[@]}" --summary-only
fi
