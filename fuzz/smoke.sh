#!/usr/bin/env bash
# CI smoke: every fuzz target briefly. fuzz/smoke.sh [SECONDS_EACH]
# (default 20). Installs cargo-fuzz when missing; the nightly toolchain must
# be there already (rustup toolchain install nightly). Fails on any crash.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-20}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# One build for all targets before the clock starts.
(cd "$fuzz_dir/.." && cargo +nightly fuzz build -a -s "${FUZZ_SANITIZER:-none}")

failed=0
for target in parse digest proxy; do
  bash "$fuzz_dir/run.sh" "$target" "$seconds" || failed=1
done
exit "$failed"
