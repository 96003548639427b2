#!/usr/bin/env bash
# Schemathesis against the real daemon: property-based requests generated
# from /api/openapi.json, checking that every answer is one the document
# declares (status codes, content types, schemas), that requests the
# document allows are accepted and requests it forbids are refused, and
# that nothing answers 5xx. Fixed seed and bounded examples, so a CI run
# is repeatable and takes about a minute.
#
# The daemon runs on the shipped config with a fresh SQLite database under
# an admin token. `DELETE /api/tokens/{id}` is left out: generated ids
# would revoke the very token the run uses.
#
# The document declares a few string formats JSON Schema has no keyword
# for (telephone numbers, CNPJ, ISO weeks, working-hour ranges);
# hooks.py tells Schemathesis how to write values of those formats.
#
# CONTRACT_EXAMPLES (default 15) and CONTRACT_SEED (default 1) tune it;
# CONTRACT_PORT_BASE (default 17000) moves its ports; CONTRACT_LOG names a
# file to keep Schemathesis' full output in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BIN=${PROTOCALL_BIN:-$top/target/debug/protocall}
[ -x "$BIN" ] || { echo "no protocall binary at $BIN (run cargo build first)"; exit 1; }
# Run as a module, so a fresh install works without its `st` script on
# PATH (pyenv shims appear only after a rehash).
have_st4() {
  python3 -c 'import sys, schemathesis; sys.exit(not schemathesis.__version__.startswith("4."))' 2>/dev/null
}
if ! have_st4; then
  python3 -m pip install -q 'schemathesis>=4,<5' >/dev/null
  have_st4 || { echo "schemathesis 4 could not be installed"; exit 1; }
fi
unset DATABASE_URL RUST_LOG
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep '^PROTOCALL__' || true)

B=${CONTRACT_PORT_BASE:-17000}
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export PROTOCALL__SIP__LISTEN="127.0.0.1:$B" PROTOCALL__HTTP__LISTEN="127.0.0.1:$((B + 80))"
export PROTOCALL__STORE__URL="sqlite://$work/protocall.db" PROTOCALL__TRACKING__JOURNAL_DIR="$work/journal"
export PROTOCALL__ROUTING__DIALPLANS="$top/dialplans"
# The signed webhooks configured, as a desk that uses them has them:
# every generated request is then unsigned or badly signed (401).
export PROTOCALL__CHAT__WEBHOOK_SECRET=contract-webhook-secret-0001
export PROTOCALL__PROTOCOL_SYNC__WEBHOOK_SECRET=contract-webhook-secret-0001
cfg=(--config "$top/config/protocall.toml")
"$BIN" migrate "${cfg[@]}" >/dev/null
token=$("$BIN" token create contract --role admin "${cfg[@]}" 2>/dev/null | tail -1)
timeout 600 "$BIN" serve "${cfg[@]}" >"$work/protocall.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$((B + 80))/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$((B + 80))/api/openapi.json" >"$work/openapi.json"
rc=0
# Schemathesis keeps its cache (.schemathesis/) in the working directory:
# the scratch one, so nothing lands in the tree and every run starts alike.
cd "$work"
export SCHEMATHESIS_HOOKS="$here/hooks.py"
timeout 900 python3 -m schemathesis.cli run "$work/openapi.json" --url "http://127.0.0.1:$((B + 80))" \
  -H "Authorization: Bearer $token" \
  --max-examples "${CONTRACT_EXAMPLES:-15}" --seed "${CONTRACT_SEED:-1}" \
  --checks all --exclude-checks ignored_auth \
  --exclude-operation-id "tokens_revoke" --exclude-path-regex '^/api/tokens/\{id\}$' \
  --no-color >"$work/st.txt" 2>&1 || rc=$?
[ -n "${CONTRACT_LOG:-}" ] && cp "$work/st.txt" "$CONTRACT_LOG"
sed -n '/SUMMARY/,$p' "$work/st.txt"
if [ "$rc" != 0 ]; then
  echo "--- failures"
  grep -E '^_{5,} |^- ST|Invalid component|^\[[0-9]{3}\]|`\{"error' "$work/st.txt" | head -150
  exit 1
fi
