#!/usr/bin/env bash
# Runs one fuzz target for a bounded time: fuzz/run.sh TARGET SECONDS
#
# TARGET is parse, digest or proxy. The first run seeds fuzz/corpus/TARGET
# from the RFC 4475/5118 torture vectors (tests/data/sip-torture) and the
# hand-written flows in fuzz/seeds/TARGET; later runs resume from the grown
# corpus. Prints the executions and, when a crash was found, where its
# input was written (fuzz/artifacts/TARGET/); exits non-zero on a crash.
#
# Environment: FUZZ_RSS_MB (memory cap, default 2048), FUZZ_SANITIZER
# (default none: the crate forbids unsafe code, and without ASan the
# same two cores run several times more inputs; `address` works too).
set -euo pipefail

target="${1:?usage: fuzz/run.sh TARGET SECONDS}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS}"
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz_dir")"
cd "$root"

case "$target" in
  parse | proxy) max_len=8192 ;;
  # Past the 8 KiB header cap, so the length check is reached too.
  digest) max_len=9000 ;;
  *) echo "unknown target '$target' (parse, digest, proxy)" >&2; exit 2 ;;
esac

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

corpus="$fuzz_dir/corpus/$target"
mkdir -p "$corpus" "$fuzz_dir/artifacts/$target"
if [ -z "$(ls -A "$corpus")" ]; then
  torture="$root/tests/data/sip-torture"
  if [ "$target" != digest ]; then
    # MANIFEST.tsv names every testable vector; the first line is a header.
    tail -n +2 "$torture/MANIFEST.tsv" | cut -f1 | while read -r f; do
      [ -n "$f" ] && cp "$torture/$f" "$corpus/$(echo "$f" | tr / _)"
    done
  else
    # The credentials lines found in the torture vectors.
    grep -ahiE '^(proxy-)?authorization[ \t]*:' "$torture"/rfc4475/*.dat \
      | sed -E 's/^[^:]*:[ \t]*//' | tr -d '\r' | while read -r line; do
        printf '%s' "$line" > "$corpus/torture-$(printf '%s' "$line" | cksum | cut -d' ' -f1)"
      done
  fi
  if [ -d "$fuzz_dir/seeds/$target" ]; then
    cp "$fuzz_dir/seeds/$target"/* "$corpus/"
  fi
  echo "seeded $corpus with $(ls "$corpus" | wc -l) inputs"
fi

log="$fuzz_dir/artifacts/$target/last-run.log"
status=0
# -a: debug assertions and overflow checks, so an integer overflow on
# input is a crash rather than a silent wrap.
cargo +nightly fuzz run -a -s "${FUZZ_SANITIZER:-none}" "$target" "$corpus" -- \
  -max_total_time="$seconds" \
  -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
  -timeout=10 \
  -max_len="$max_len" \
  -dict="$fuzz_dir/sip.dict" \
  -print_final_stats=1 \
  >"$log" 2>&1 || status=$?

runs="$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)"
if [ -z "$runs" ]; then
  runs="$(grep -aoE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1 || true)"
fi
echo "$target: ${runs:-?} executions in ${seconds}s, corpus $(ls "$corpus" | wc -l) inputs"
grep -aE '^#[0-9]+ +DONE ' "$log" | tail -1 || true
if [ "$status" -ne 0 ]; then
  echo "$target: FAILED (exit $status); log: $log" >&2
  grep -aE 'panicked at|Test unit written to|ERROR: libFuzzer' "$log" >&2 || tail -30 "$log" >&2
  exit "$status"
fi
echo "$target: no crash"
