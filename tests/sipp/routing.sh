#!/usr/bin/env bash
# The desk's main routing flows through the real daemon with SIPp playing
# the carrier (127.0.0.2, a trusted trunk), the consultants' softphones
# (registered with digest auth from 127.0.0.1) and the URA:
#   1. a consulting client with an open protocol rings its owner, who answers;
#   2. a provider without a consulting contract reaches the URA;
#   3. the owner's phone rejects (486), the team's phone rejects, the URA
#      answers, and a call-back for the owner appears;
#   4. the system of record reassigns the protocol (a signed event, sent
#      with curl and openssl as an integrator would) and the very next
#      call rings the new owner;
# and GET /api/calls/{id} explains each call.
# The shipped dialplan is used with its business hours opened all week (so
# the run does not depend on the clock) and the consulting team filled in.
# Bounded: every SIPp run has -m and -timeout; only our PIDs are stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BIN=${PROTOCALL_BIN:-$top/target/debug/protocall}
[ -x "$BIN" ] || { echo "no protocall binary at $BIN (run cargo build first)"; exit 1; }
command -v sipp >/dev/null || { echo "sipp not installed (apt-get install sip-tester)"; exit 1; }

SYNC_SECRET=routing-sh-secret
SIP=15260 HTTP=18260 URA=15281 ANA=15282 BIA=15283 CARRIER=15280
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/dialplans"
# Open every day all day, no holidays; the consulting team is bia.
python3 "$here/open_dialplan.py" "$top/dialplans/default.toml" "$work/dialplans/default.toml" bia

cat > "$work/protocall.toml" <<TOML
[sip]
listen = "127.0.0.1:$SIP"
realm = "protocall"
[routing]
dialplans = "$work/dialplans"
ura_uri = "sip:ura@127.0.0.1:$URA"
trusted_peers = ["127.0.0.2"]
[http]
listen = "127.0.0.1:$HTTP"
[store]
url = "sqlite://$work/protocall.db"
[tracking]
journal_dir = "$work/journal"
[protocol_sync]
webhook_secret = "$SYNC_SECRET"
[log]
level = "warn"
TOML
cfg=(--config "$work/protocall.toml")

"$BIN" check "${cfg[@]}" >/dev/null
"$BIN" migrate "${cfg[@]}" >/dev/null
echo "ana-secret" | "$BIN" consultant add --name Ana --username ana "${cfg[@]}" >/dev/null
echo "bia-secret" | "$BIN" consultant add --name Bia --username bia "${cfg[@]}" >/dev/null
TOKEN=$("$BIN" token create --name sipp "${cfg[@]}" 2>/dev/null)
"$BIN" serve "${cfg[@]}" 2>"$work/protocall.log" &
pids+=($!)
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
api() { # method path [json]
  curl -fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$HTTP$2"
}
ana_id=$(api GET "/api/consultants" | python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin)["items"] if c["sip_username"]=="ana"][0])')
provider=$(api POST /api/providers '{"name":"NetSul","consulting":true,"numbers":["(11) 98765-4321"]}')
provider_id=$(echo "$provider" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api POST /api/providers '{"name":"Fibra","numbers":["(21) 3456-7890"]}' >/dev/null
proto_number=$(api POST /api/protocols "{\"provider_id\":$provider_id,\"owner_id\":$ana_id,\"subject\":\"BGP\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')

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
# A softphone: REGISTER from its port (the proxy calls the address a
# REGISTER came from), then a SIPp callee on that same port.
register() { # user password port
  check "register_$1" 0 sipp -sf "$here/register_auth.xml" 127.0.0.1:$SIP -i 127.0.0.1 -p "$3" \
    -m 1 -timeout 10s -timeout_error -nostdin -s "$1" -au "$1" -ap "$2" -key expires 600
}
phone() { # scenario port calls; its PID is left in $last
  sipp -sf "$here/$1" -i 127.0.0.1 -p "$2" -m "$3" -timeout 40s -nostdin \
    >"$work/phone_$2_$1.out" 2>&1 &
  last=$!
  pids+=("$last")
}
carrier() { # name number
  check "$1" 0 sipp -sf "$here/uac.xml" 127.0.0.1:$SIP -i 127.0.0.2 -p $CARRIER \
    -m 1 -timeout 30s -timeout_error -nostdin -key caller "$2" -s 4000 -d 200
}
last_call() { api GET "/api/calls?limit=1"; }
expect() { # name json python-condition
  if echo "$2" | python3 -c "import json,sys; c=json.load(sys.stdin); sys.exit(0 if ($3) else 1)"; then
    echo "ok   $1"
  else
    echo "FAIL $1: $2"; fail=1
  fi
}
wait_pid() { # pid: a phone scenario must end cleanly
  local got=0
  wait "$1" || got=$?
  [ "$got" = 0 ] || { echo "FAIL phone scenario $1 exited $got"; tail -5 "$work"/phone_*.out; fail=1; }
}

register ana ana-secret $ANA
register bia bia-secret $BIA

# 1. Consulting client with an open protocol: the owner's phone answers.
phone uas.xml $ANA 1; p=$last; sleep 0.3
carrier owner_answers 011987654321
wait_pid "$p"; sleep 0.3
c=$(last_call | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["items"][0]))')
id=$(echo "$c" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
c=$(api GET "/api/calls/$id")
expect explain_owner "$c" 'c["route"]=="owner" and c["outcome"]=="answered" and c["consultant"]=="ana" and c["caller_class"]=="consulting" and c["rule"]=="consulting-with-protocol" and c["ended_at"] is not None'

# 2. A provider without a consulting contract: the URA answers.
phone uas.xml $URA 1; p=$last; sleep 0.3
carrier not_consulting_to_ura 02134567890
wait_pid "$p"; sleep 0.3
c=$(last_call | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["items"][0]))')
expect explain_ura "$c" 'c["route"]=="ura" and c["outcome"]=="answered" and c["caller_class"]=="not_consulting" and c["rule"]=="not-a-consulting-client"'

# 3. The owner rejects, the team rejects, the URA answers; a call-back.
phone uas_busy.xml $ANA 1; pa=$last
phone uas_busy.xml $BIA 1; pb=$last
phone uas.xml $URA 1; pu=$last
sleep 0.3
carrier owner_rejects_team_then_ura 011987654321
wait_pid "$pa"; wait_pid "$pb"; wait_pid "$pu"; sleep 0.3
c=$(last_call | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["items"][0]))')
expect explain_fallback "$c" 'c["route"]=="ura" and c["outcome"]=="answered" and [(a["route"], a["user"], a["code"]) for a in c["detail"]["attempts"]]==[("owner","ana",486),("team","bia",486),("ura",None,200)]'
cb=$(api GET "/api/callbacks?consultant_id=$ana_id&status=pending")
expect callback_for_owner "$cb" 'c["total"]==1 and c["items"][0]["reason"]=="busy" and c["items"][0]["caller_number"]=="+5511987654321"'

# 4. The system of record hands the protocol to Bia; no pause: the event
#    is answered once routing sees it.
body="{\"event_id\":\"sor-1\",\"kind\":\"assigned\",\"number\":\"$proto_number\",\"updated_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"owner\":\"bia\"}"
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SYNC_SECRET" | sed 's/^.*= //')
r=$(curl -sS -H 'Content-Type: application/json' -H "X-Protocall-Timestamp: $ts" \
  -H "X-Protocall-Signature: sha256=$sig" --data-binary "$body" \
  "http://127.0.0.1:$HTTP/api/protocols/events")
expect sync_assigned "$r" 'c["result"]=="applied"'
phone uas.xml $BIA 1; p=$last; sleep 0.3
carrier new_owner_answers 011987654321
wait_pid "$p"; sleep 0.3
c=$(last_call | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["items"][0]))')
expect explain_new_owner "$c" 'c["route"]=="owner" and c["outcome"]=="answered" and c["consultant"]=="bia"'

m=$(curl -fs "http://127.0.0.1:$HTTP/metrics")
echo "$m" | grep -E '^protocall_(calls_total|callbacks_created_total)' || true
# The live scrape passes promtool's lint, when promtool is here.
if command -v promtool >/dev/null 2>&1; then
  if lint=$(echo "$m" | promtool check metrics 2>&1); then
    echo "ok   promtool_check_metrics"
  else
    echo "FAIL promtool_check_metrics"; echo "$lint"; fail=1
  fi
fi

if [ "$fail" = 0 ]; then
  echo "sipp routing: all flows passed"
else
  echo "--- protocall log"; tail -30 "$work/protocall.log"
  exit 1
fi
