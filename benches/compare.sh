#!/usr/bin/env bash
# Measures dmseal beside vodozemac 0.11 and the primitive floors, in one
# process, and prints Markdown tables. Pass --quick for a short smoke run,
# --wall to time in wall-clock rather than thread CPU time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --release -p dmseal-peers --bin compare -- "$@"
