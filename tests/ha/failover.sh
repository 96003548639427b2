#!/usr/bin/env bash
# Two protocall instances, one desk, Kamailio's dispatcher in front
# (config/kamailio/dispatcher.cfg), on loopback:
#
#   carrier SIPp (127.0.0.2) ─┐                        ┌─> protocall a (127.0.0.1:A_SIP) ─┐
#                             ├─> Kamailio (127.0.0.3) ┤                                   ├─ PostgreSQL
#   ana's phone  (127.0.0.1) ─┘                        └─> protocall b (127.0.0.1:B_SIP) ─┘
#
# ana registers (digest) through Kamailio, which hands the REGISTER to one
# instance; the carrier then calls her at a steady rate. Mid-run the
# instance her REGISTER went through is killed with SIGKILL. What must
# hold:
#   - calls keep completing through the other instance, which rings ana
#     from the binding it read from the shared store (only calls in flight
#     on the dead instance may fail);
#   - after the dead instance restarts, the contacts it left open are
#     closed (flagged interrupted), nothing is open, every completed call
#     has its contact and none is counted twice.
#
# Needs: kamailio (Debian package), sipp, psql, and PostgreSQL at
# PROTOCALL_TEST_POSTGRES_URL (a database is created for the run and
# dropped after). Bounded: SIPp runs have -m and -timeout; only our PIDs
# are stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BIN=${PROTOCALL_BIN:-$top/target/debug/protocall}
SIPP_DIR=$top/tests/sipp
PG=${PROTOCALL_TEST_POSTGRES_URL:?set PROTOCALL_TEST_POSTGRES_URL (postgres://user@host:port/db)}
RATE=${RATE:-10}            # calls per second
CALLS=${CALLS:-300}         # calls in all (CALLS / RATE seconds of load)
KILL_AFTER=${KILL_AFTER:-10} # seconds into the load
[ -x "$BIN" ] || { echo "no protocall binary at $BIN (run cargo build first)"; exit 1; }
for tool in sipp kamailio psql curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed"; exit 1; }
done

KAM=15390 A_SIP=15371 A_HTTP=18371 B_SIP=15372 B_HTTP=18372 ANA=15382 CARRIER=15380
work=$(mktemp -d)
db="protocall_ha_$$"
base=${PG%/*}
db_url="$base/$db"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null

# The shipped dialplan opened all week (the run must not depend on the
# clock); consulting callers with an open protocol ring its owner.
mkdir -p "$work/dialplans"
python3 "$top/tests/sipp/open_dialplan.py" "$top/dialplans/default.toml" "$work/dialplans/default.toml"

instance_config() { # name sip http
  cat > "$work/$1.toml" <<TOML
[sip]
listen = "127.0.0.1:$2"
realm = "protocall"
# Requests addressed to Kamailio are ours.
front_addresses = ["127.0.0.3:$KAM"]
[routing]
dialplans = "$work/dialplans"
ura_uri = "sip:ura@127.0.0.1:15381"
# Carrier INVITEs arrive from Kamailio.
trusted_peers = ["127.0.0.3"]
# One phone takes every call: ring it even while it is in one.
skip_busy = false
[security]
allowed_destinations = ["127.0.0.0/8"]
[http]
listen = "127.0.0.1:$3"
[store]
url = "$db_url"
[tracking]
journal_dir = "$work/journal-$1"
[cluster]
instance = "$1"
poll_ms = 200
[log]
level = "${PC_LOG:-info}"
TOML
}
instance_config a $A_SIP $A_HTTP
instance_config b $B_SIP $B_HTTP

"$BIN" check --config "$work/a.toml" >/dev/null
"$BIN" migrate --config "$work/a.toml" >/dev/null
echo "ana-secret" | "$BIN" consultant add --name Ana --username ana --config "$work/a.toml" >/dev/null
TOKEN=$("$BIN" token create --name ha --config "$work/a.toml" 2>/dev/null)

declare -A pid_of
start() { # name http
  "$BIN" serve --config "$work/$1.toml" 2>>"$work/$1.log" &
  pid_of[$1]=$!
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "FAIL instance $1 did not start"; tail -20 "$work/$1.log"; exit 1
}
start a $A_HTTP
start b $B_HTTP

sed "s|^1 sip:127.0.0.1:5071 |1 sip:127.0.0.1:$A_SIP |; s|^1 sip:127.0.0.1:5072 |1 sip:127.0.0.1:$B_SIP |" \
  "$top/config/kamailio/dispatcher.list" > "$work/dispatcher.list"
grep -q ":$A_SIP " "$work/dispatcher.list" && grep -q ":$B_SIP " "$work/dispatcher.list"
mkdir -p "$work/kamailio-runtime"
kamailio -f "$top/config/kamailio/dispatcher.cfg" -A "LISTEN=udp:127.0.0.3:$KAM" \
  -A "DS_LIST=\"$work/dispatcher.list\"" ${KAM_ARGS:-} -DD -E -m 64 -M 8 -Y "$work/kamailio-runtime" \
  2>"$work/kamailio.log" &
pids+=($!)

api() { # method path [json] (instance a)
  curl -fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$A_HTTP$2"
}
ana_id=$(api GET "/api/consultants" | python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin)["items"] if c["sip_username"]=="ana"][0])')
provider_id=$(api POST /api/providers '{"name":"NetSul","consulting":true,"numbers":["(11) 98765-4321"]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api POST /api/protocols "{\"provider_id\":$provider_id,\"owner_id\":$ana_id,\"subject\":\"BGP\"}" >/dev/null

fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
sql() { psql -qtA "$db_url" -c "$1"; }

# Both instances beating, Kamailio listening, and a second for its first
# OPTIONS probes to find both instances alive.
udp_listening() { grep -q "$(printf '%02X%02X%02X%02X:%04X' 3 0 0 127 "$1") " /proc/net/udp; }
for _ in $(seq 1 100); do
  if [ "$(sql "SELECT count(*) FROM cluster_instances WHERE heartbeat_at > 0")" = 2 ] \
     && udp_listening $KAM; then break; fi
  sleep 0.1
done
udp_listening $KAM || { echo "FAIL kamailio is not listening"; tail -20 "$work/kamailio.log"; exit 1; }
sleep 1.5

# ana's phone registers through Kamailio.
if sipp -sf "$SIPP_DIR/register_auth.xml" 127.0.0.3:$KAM -i 127.0.0.1 -p $ANA -m 1 \
    -timeout 10s -timeout_error -nostdin -s ana -au ana -ap ana-secret -key expires 600 \
    >"$work/register.out" 2>&1; then
  ok register_through_kamailio
else
  bad register_through_kamailio; tail -20 "$work/register.out"; tail -20 "$work/kamailio.log"
  exit 1
fi
registers() { # http port: REGISTERs that instance saw
  curl -fs "http://127.0.0.1:$1/metrics" \
    | awk '/^protocall_sip_requests_total\{method="REGISTER"\}/ {print $2}' | head -1
}
ra=$(registers $A_HTTP); rb=$(registers $B_HTTP)
if [ "${ra:-0}" != 0 ]; then victim=a victim_http=$A_HTTP; else victim=b victim_http=$B_HTTP; fi
survivor=$([ $victim = a ] && echo b || echo a)
echo "ana registered through instance $victim (REGISTERs seen: a=${ra:-0} b=${rb:-0})"

# The phone answers every call; the carrier calls at a steady rate.
sipp -sf "$SIPP_DIR/uas.xml" -i 127.0.0.1 -p $ANA -m "$CALLS" -timeout $((CALLS / RATE + 60))s \
  -nostdin ${SIPP_TRACE:+-trace_msg -trace_err} >"$work/phone.out" 2>&1 &
phone=$!; pids+=($phone)
sleep 0.3
sipp -sf "$SIPP_DIR/uac.xml" 127.0.0.3:$KAM -i 127.0.0.2 -p $CARRIER -m "$CALLS" -r "$RATE" \
  -l 100 -timeout $((CALLS / RATE + 60))s -nostdin -key caller 011987654321 -s 4000 -d 1000 \
  -recv_timeout 10000 -trace_stat -stf "$work/carrier_stats.csv" ${SIPP_TRACE:+-trace_msg -trace_err} \
  >"$work/carrier.out" 2>&1 &
carrier=$!; pids+=($carrier)

sleep "$KILL_AFTER"
kill -9 "${pid_of[$victim]}"
killed_at=$(date +%s%3N)
echo "instance $victim killed (SIGKILL) ${KILL_AFTER}s into the load"

got=0; wait "$carrier" || got=$?
stats=$(tail -1 "$work/carrier_stats.csv")
header=$(head -1 "$work/carrier_stats.csv")
field() { # name: a cumulative counter from SIPp's last stats line
  python3 - "$header" "$stats" "$1" <<'PY'
import sys
h = sys.argv[1].split(";"); v = sys.argv[2].split(";")
print(v[h.index(sys.argv[3])])
PY
}
success=$(field SuccessfulCall\(C\)); failed=$(field FailedCall\(C\))
echo "carrier: $success successful, $failed failed of $CALLS (sipp exit $got)"
# In flight on the dead instance: about RATE/2 calls per second of call
# (1 s talk + set-up) may fail; nothing else may.
max_failed=$((RATE * 2))
[ "$failed" -le "$max_failed" ] && ok "failed_calls_bounded ($failed <= $max_failed)" || bad "failed_calls_bounded ($failed > $max_failed)"
[ $((success + failed)) -eq "$CALLS" ] && ok all_calls_accounted || bad "all_calls_accounted ($success + $failed != $CALLS)"
after_kill=$(sql "SELECT count(*) FROM calls WHERE instance = '$survivor' AND answered_at > $killed_at")
[ "$after_kill" -gt 0 ] && ok "survivor_rang_ana_after_the_kill ($after_kill calls)" || bad survivor_rang_ana_after_the_kill
kill "$phone" 2>/dev/null || true

# The dead instance comes back: it drains its journal and closes what it
# left open.
start $victim $victim_http
for _ in $(seq 1 100); do
  [ "$(sql "SELECT count(*) FROM contacts WHERE status = 'open'")" = 0 ] && break
  sleep 0.1
done
open=$(sql "SELECT count(*) FROM contacts WHERE status = 'open'")
[ "$open" = 0 ] && ok no_contact_left_open || bad "no_contact_left_open ($open open)"
interrupted=$(sql "SELECT count(*) FROM contacts WHERE flag = 'interrupted'")
wrong=$(sql "SELECT count(*) FROM contacts WHERE flag = 'interrupted' AND instance <> '$victim'")
[ "$wrong" = 0 ] && ok "only_the_dead_instance_contacts_interrupted ($interrupted)" || bad "only_the_dead_instance_contacts_interrupted ($wrong of the survivor's)"
normal=$(sql "SELECT count(*) FROM contacts WHERE source = 'call' AND status = 'done' AND flag IS NULL AND ended_at IS NOT NULL")
[ "$normal" -ge "$success" ] && ok "every_completed_call_has_its_contact ($normal >= $success)" || bad "every_completed_call_has_its_contact ($normal < $success)"
dupes=$(sql "SELECT count(*) FROM (SELECT call_id FROM contacts WHERE call_id IS NOT NULL GROUP BY call_id HAVING count(*) > 1) d")
[ "$dupes" = 0 ] && ok no_contact_counted_twice || bad "no_contact_counted_twice ($dupes)"
total=$(sql "SELECT count(*) FROM contacts WHERE source = 'call'")
[ "$total" -le "$CALLS" ] && ok "contacts_within_calls ($total <= $CALLS)" || bad "contacts_within_calls ($total > $CALLS)"
echo "contacts: $total (done $normal, interrupted $interrupted); by instance: $(sql "SELECT string_agg(instance || '=' || n, ' ') FROM (SELECT instance, count(*) n FROM contacts GROUP BY instance ORDER BY instance) x")"

if [ "$fail" = 0 ]; then
  echo "failover: all checks passed"
else
  for f in a b kamailio; do echo "--- $f log"; tail -15 "$work/$f.log"; done
  tail -30 "$work/carrier.out"
  exit 1
fi
