#!/usr/bin/env bash
# SIPp against the real daemon: calls through the proxy to a SIPp UAS over
# UDP and TCP, and REGISTER with digest auth (right and wrong password).
# Bounded: every SIPp run has -m and -timeout; the script stops only the
# processes it started, by PID. Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BIN=${PROTOCALL_BIN:-$top/target/debug/protocall}
[ -x "$BIN" ] || { echo "no protocall binary at $BIN (run cargo build first)"; exit 1; }
command -v sipp >/dev/null || { echo "sipp not installed (apt-get install sip-tester)"; exit 1; }

SIP=15160 HTTP=18160 UAS_UDP=15182 UAS_TCP=15183 UAC=15180 REG=15190
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/routes.csv" <<CSV
number,target
carol,sip:bob@127.0.0.1:$UAS_TCP;transport=tcp
CSV
cat > "$work/protocall.toml" <<TOML
[sip]
listen = "127.0.0.1:$SIP"
realm = "protocall"
static_routes = "$work/routes.csv"
static_default_target = "sip:bob@127.0.0.1:$UAS_UDP"
[routing]
# SIPp plays the carrier trunk from loopback.
trusted_peers = ["127.0.0.1"]
[http]
listen = "127.0.0.1:$HTTP"
[store]
url = "sqlite://$work/protocall.db"
[tracking]
journal_dir = "$work/journal"
[log]
level = "warn"
TOML

"$BIN" migrate --config "$work/protocall.toml" >/dev/null
echo "alice-secret" | "$BIN" consultant add --name Alice --username alice \
  --config "$work/protocall.toml" >/dev/null
"$BIN" serve --config "$work/protocall.toml" 2>"$work/protocall.log" &
pids+=($!)
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null

fail=0
check() { # name, expected exit, command...
  local name=$1 want=$2; shift 2
  local got=0
  (cd "$work" && "$@" >"$work/$name.out" 2>&1) || got=$?
  if [ "$got" = "$want" ]; then
    echo "ok   $name"
  else
    echo "FAIL $name (exit $got, wanted $want)"; tail -20 "$work/$name.out"; fail=1
  fi
}

# Calls over UDP: SIPp UAC → protocall → SIPp UAS.
sipp -sf "$here/uas.xml" -i 127.0.0.1 -p $UAS_UDP -m 20 -timeout 30s -nostdin \
  >"$work/uas_udp.out" 2>&1 &
pids+=($!)
# Calls over TCP, the caller's number picking the TCP target.
sipp -sf "$here/uas.xml" -t t1 -i 127.0.0.1 -p $UAS_TCP -m 10 -timeout 30s -nostdin \
  >"$work/uas_tcp.out" 2>&1 &
pids+=($!)
sleep 0.5
check calls_udp 0 sipp -sf "$here/uac.xml" 127.0.0.1:$SIP -i 127.0.0.1 -p $UAC \
  -m 20 -r 10 -timeout 30s -timeout_error -nostdin -key caller dave -s bob
check calls_tcp 0 sipp -sf "$here/uac.xml" -t t1 127.0.0.1:$SIP -i 127.0.0.1 -p $UAC \
  -m 10 -r 10 -timeout 30s -timeout_error -nostdin -key caller carol -s bob

# REGISTER with digest auth.
check register 0 sipp -sf "$here/register_auth.xml" 127.0.0.1:$SIP -i 127.0.0.1 -p $REG \
  -m 3 -r 5 -timeout 20s -timeout_error -nostdin -s alice -au alice -ap alice-secret \
  -key expires 300
check register_wrong_password 1 sipp -sf "$here/register_auth.xml" 127.0.0.1:$SIP \
  -i 127.0.0.1 -p $REG -m 1 -timeout 10s -timeout_error -nostdin -s alice -au alice \
  -ap wrong -key expires 300

reg=$(curl -fs "http://127.0.0.1:$HTTP/metrics" | grep '^protocall_sip_requests_total{method="REGISTER"}' | awk '{print $2}')
echo "REGISTER requests seen by protocall: ${reg:-0}"

if [ "$fail" = 0 ]; then
  echo "sipp: 4 passed, 0 failed"
else
  echo "--- protocall log"; tail -30 "$work/protocall.log"
  exit 1
fi
