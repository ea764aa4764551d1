#!/usr/bin/env bash
# Mutation testing (cargo-mutants) over the cryptographic core: the double
# ratchet, session setup, the group tree and sender keys, the primitives.
# Needs cargo-mutants (`cargo install --locked cargo-mutants`).
#
# Two passes: the unit tests beside the code first (fast: about five
# seconds a mutant), then every test of the crate, only on the mutants
# the first pass left alive. Results: mutants.out/ (missed.txt lists the
# survivors).
#
# Usage: scripts/mutants.sh [FILE-GLOB...]   (default: the core, below)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  files=('src/ratchet/**' 'src/x3dh.rs' 'src/session.rs' 'src/group/tree.rs' 'src/group/sender_key.rs' 'src/primitives/**')
fi
args=(--profile mutants --all-features)
for f in "${files[@]}"; do args+=(-f "$f"); done
cargo mutants "${args[@]}" -- --lib || true
cargo mutants --iterate "${args[@]}" || true
echo "survivors: mutants.out/missed.txt"
