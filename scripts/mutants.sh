#!/usr/bin/env bash
# Mutation testing (cargo-mutants) over the cryptographic core: the double
# ratchet, session setup, the group tree and sender keys, the primitives.
# Needs cargo-mutants (`cargo install --locked cargo-mutants`).
#
# Two passes: the unit tests beside the code first (fast: a few seconds a
# mutant), then every test of the crate (about two minutes a mutant), only
# on the mutants the first pass left alive. `--iterate` in the second
# pass skips what the first caught; rerunning the script resumes the same
# way. Results: mutants.out/ (missed.txt lists the
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
# --cargo-arg reaches the build as well as the run: only the unit
# test binary is rebuilt per mutant.
cargo mutants "${args[@]}" --cargo-arg=--lib || true
cargo mutants --iterate "${args[@]}" || true
echo "survivors: mutants.out/missed.txt"
