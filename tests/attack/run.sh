#!/usr/bin/env bash
# Real attackers against the real daemon with the SHIPPED configuration
# (config/protocall.toml): only ports, data paths and the trusted peers
# (none) are overridden, plus sip.digest_md5_first so SIPp and SIPVicious,
# which compute MD5 only, can answer the challenge at all (that helps the
# attacker, it weakens no defence). Two consultants, ana and bia, register
# from 127.0.0.1; the attackers work from 127.0.0.2 and up, so their bans
# never reach the legitimate phones.
#   1. svmap finds the server (expected: it answers OPTIONS).
#   2. svwar (REGISTER, INVITE, OPTIONS) and a differential probe of our own
#      (without and with wrong credentials) cannot tell ana and bia from
#      names that do not exist.
#   3. svcrack with 200 passwords (the right one last) is banned within 30
#      guesses and never finds the password; the daemon logs one `auth
#      failed` line per guess, lists the ban and counts it; ana's phone
#      still registers. Two more guessers lock the username ana: her phone
#      (which logged in before) still registers, while her right password
#      from a new address is refused (for a call and for a REGISTER).
#   4. 200 digest-authenticated SIPp calls ana -> bia (from 127.0.0.1, while
#      ana is locked elsewhere) all complete while 40,000+ garbage datagrams
#      hit the port from 127.0.0.2 over 10 s (its ban lifted first through
#      DELETE /api/bans, so the density limit has to catch it).
# ATTACK_KEEP_WORK=1 keeps the daemon log and every tool's output.
# Prints PASS/FAIL per check and exits non-zero on any FAIL. Bounded: every
# tool runs under `timeout` with fixed counts; only the PIDs started here
# are stopped. Loopback only. About 2 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BIN=${PROTOCALL_BIN:-$top/target/debug/protocall}
[ -x "$BIN" ] || { echo "no protocall binary at $BIN (run cargo build first)"; exit 1; }
for tool in sipp svmap svwar svcrack python3 curl; do
  command -v "$tool" >/dev/null || {
    echo "$tool not installed (apt-get install sip-tester sipvicious python3 curl)"; exit 1; }
done

SIP=16460 HTTP=19460 UAC=16480 ANA=16482 BIA=16483 SV=16470
ATTACKER=127.0.0.2
ANA_PASSWORD=ana-Correct-Horse-7 BIA_PASSWORD=bia-Battery-Staple-9
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # ATTACK_KEEP_WORK=1 keeps the logs and tool outputs for a look.
  if [ -n "${ATTACK_KEEP_WORK:-}" ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The shipped limits the checks below are measured against.
read -r PER_SOURCE PER_USER < <(python3 - "$top/config/protocall.toml" <<'PY'
import sys, tomllib
s = tomllib.load(open(sys.argv[1], "rb"))["security"]
assert s["enabled"], "the shipped config has the guard switched off"
print(s["max_auth_failures_per_source"], s["max_auth_failures_per_user"])
PY
)
[ -n "${PER_USER:-}" ] || { echo "could not read [security] from config/protocall.toml"; exit 1; }

daemon_env=(
  "PROTOCALL__SIP__LISTEN=127.0.0.1:$SIP"
  "PROTOCALL__HTTP__LISTEN=127.0.0.1:$HTTP"
  "PROTOCALL__STORE__URL=sqlite://$work/protocall.db"
  "PROTOCALL__TRACKING__JOURNAL_DIR=$work/journal"
  "PROTOCALL__ROUTING__TRUSTED_PEERS=[]"
  "PROTOCALL__SIP__DIGEST_MD5_FIRST=true"
)
# ATTACK_DAEMON_ENV="PROTOCALL__SECURITY__ENABLED=false" (space-separated
# NAME=VALUE) runs the same attacks against a weakened daemon, to see the
# checks fail when a protection is missing.
read -ra extra_env <<<"${ATTACK_DAEMON_ENV:-}"
daemon_env+=("${extra_env[@]}")
# From the repository, so the shipped relative paths (dialplans/) resolve.
daemon() { (cd "$top" && exec env "${daemon_env[@]}" "$BIN" "$@" --config "$top/config/protocall.toml"); }

# Another daemon on our ports would answer in our place.
for port in $SIP $HTTP; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is already in use"; exit 1
  fi
done
daemon migrate >/dev/null
TOKEN=$(daemon token create --name attack 2>/dev/null)
# Not through daemon(): a function run in the background is a subshell of
# its own, and $! would be that subshell rather than the daemon.
(cd "$top" && exec env "${daemon_env[@]}" "$BIN" serve --config "$top/config/protocall.toml") \
  2>"$work/protocall.log" >/dev/null &
daemon_pid=$!
pids+=("$daemon_pid")
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
kill -0 "$daemon_pid" 2>/dev/null && curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null || {
  echo "protocall did not start"; tail -20 "$work/protocall.log"; exit 1; }

api() { # method path [json]
  curl -fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$HTTP$2"
}
metric() { # exact series name, e.g. protocall_requests_dropped_total{reason="flood"}
  curl -fs "http://127.0.0.1:$HTTP/metrics" |
    awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
auth_lines() { # source user: `auth failed` log lines for that pair
  grep -c "auth failed: method=REGISTER source=$1 user=\"$2\"" "$work/protocall.log" || true
}

# SIPVicious tools run through sv.py (see there) so they really send from
# the attacker's address; with the interpreter of their own #! line.
read -ra SVPY <<<"$(sed -n '1s/^#!//p' "$(command -v svcrack)")"
sv() { # seconds bind-ip tool args...: a SIPVicious tool from bind-ip, bounded
  local secs=$1 ip=$2 tool
  tool=$(command -v "$3"); shift 3
  timeout "$secs" "${SVPY[@]}" "$here/sv.py" "$ip" "$tool" "$@"
}

results=()
failed=0
pass() { echo "PASS $1"; results+=("PASS $1"); }
fail() { echo "FAIL $1"; results+=("FAIL $1"); failed=1; }
verdict() { # exit-status name
  if [ "$1" = 0 ]; then pass "$2"; else fail "$2"; fi
}
ok_if() { # name command...: PASS when the command succeeds
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
within() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; } # n lo hi
probe() { # tests/attack/probe.py, output indented, bounded; its exit status
  timeout 60 python3 "$here/probe.py" "$@" | sed 's/^/    /'
  return "${PIPESTATUS[0]}"
}
register() { # user password ip port: SIPp REGISTER with digest; its exit status
  local got=0
  timeout 30 sipp -sf "$top/tests/sipp/register_auth.xml" "127.0.0.1:$SIP" -i "$3" -p "$4" \
    -m 1 -timeout 10s -timeout_error -nostdin -s "$1" -au "$1" -ap "$2" -key expires 3600 \
    >"$work/register_$1_$3.out" 2>&1 || got=$?
  return "$got"
}

api POST /api/consultants "{\"name\":\"Ana\",\"sip_username\":\"ana\",\"password\":\"$ANA_PASSWORD\"}" >/dev/null
api POST /api/consultants "{\"name\":\"Bia\",\"sip_username\":\"bia\",\"password\":\"$BIA_PASSWORD\"}" >/dev/null
# The phones log in before any attack (the guard then knows 127.0.0.1 as
# ana's and bia's source).
st=0; register ana "$ANA_PASSWORD" 127.0.0.1 $ANA || st=$?
verdict "$st" "setup: ana registers from 127.0.0.1"
st=0; register bia "$BIA_PASSWORD" 127.0.0.1 $BIA || st=$?
verdict "$st" "setup: bia registers from 127.0.0.1"

echo "== 1. svmap from $ATTACKER"
sv 30 $ATTACKER svmap -b $ATTACKER -x $ATTACKER -P $SV -p $SIP 127.0.0.1 >"$work/svmap.out" 2>&1 || true
sed 's/^/    /' "$work/svmap.out"
ok_if "svmap finds the server (it answers OPTIONS; expected)" grep -q "127.0.0.1:$SIP" "$work/svmap.out"

echo "== 2. svwar and a differential probe from $ATTACKER"
# svwar first learns the answer to a random name. When a real name gets
# that same answer and it is a challenge, svwar 0.3.3 gives up ("We got an
# unknown response") after the names already sent, so each consultant's
# name leads its own run: ana first, then bia first, in parallel.
names="carol admin zed $(seq -s ' ' 100 120)"
svwar_runs=()
i=0
for m in REGISTER INVITE OPTIONS; do
  for first in ana bia; do
    printf '%s\n' "$first" ana bia $names | awk '!seen[$0]++' >"$work/users_$first.txt"
    # sv() inlined: $! must be timeout's PID for the cleanup to reach it.
    timeout 60 "${SVPY[@]}" "$here/sv.py" $ATTACKER "$(command -v svwar)" --force -m $m \
      -d "$work/users_$first.txt" -b $ATTACKER -x $ATTACKER -P $((SV + 10 + i)) -p $SIP \
      --maximumtime 5 -v -v -v 127.0.0.1 >"$work/svwar_${m}_$first.out" 2>&1 &
    svwar_runs+=("$!:$m:$first")
    pids+=("$!")
    i=$((i + 1))
  done
done
for run in "${svwar_runs[@]}"; do
  IFS=: read -r p m first <<<"$run"
  wait "$p" || true
  out="$work/svwar_${m}_$first.out"
  asked=$(sed -n 's/.*sending request for \([^ ]*\)$/\1/p' "$out" | paste -sd, -)
  grep -E "exists|found nothing|No server response|unknown response" "$out" | cut -c1-120 | sed "s/^/    /" || true
  # A scan that asked about the consultant, was answered, and named nobody.
  if grep -q "found nothing" "$out" && grep -q "sending request for $first$" "$out" &&
    ! grep -qE "exists|No server response|bailing" "$out"; then
    pass "svwar -m $m finds no extension (asked: $asked)"
  else
    fail "svwar -m $m finds no extension (asked: ${asked:-nothing})"; sed 's/^/    /' "$out" | tail -20
  fi
done
st=0
timeout 60 python3 "$here/probe.py" diff --bind $ATTACKER --target "127.0.0.1:$SIP" \
  --users ana,zed,bia >"$work/probe.out" 2>&1 || st=$?
sed 's/^/    /' "$work/probe.out"
verdict "$st" "probe: no-credential answers for ana, bia and zed (no such user) are identical"
# With a wrong password, from its own address so its failures (one per
# user and method: 8, under the per-source limit) do not add to a guesser's.
st=0
timeout 60 python3 "$here/probe.py" diff --creds --bind 127.0.0.5 --target "127.0.0.1:$SIP" \
  --users ana,zed >"$work/probe_creds.out" 2>&1 || st=$?
sed 's/^/    /' "$work/probe_creds.out"
verdict "$st" "probe: wrong-password answers for ana and zed are identical"

echo "== 3. svcrack -u ana from $ATTACKER"
python3 - "$work/passwords.txt" "$ANA_PASSWORD" <<'PY'
import sys
words = ["123456", "password", "ana", "ana123", "qwerty", "letmein", "welcome"]
words += [f"pass{i:04d}" for i in range(199 - len(words))]
open(sys.argv[1], "w").write("\n".join(words + [sys.argv[2]]) + "\n")
PY
crack() { # ip port name: runs svcrack against ana, output in $work/svcrack_NAME.out
  sv 90 "$1" svcrack -u ana -d "$work/passwords.txt" -b "$1" -x "$1" -P "$2" -p $SIP \
    --maximumtime 5 -v -v -v "127.0.0.1" >"$work/svcrack_$3.out" 2>&1 || true
}
failures_before=$(metric 'protocall_auth_failures_total{method="REGISTER"}')
banned_drops_before=$(metric 'protocall_requests_dropped_total{reason="banned"}')
st=0; probe answered --bind $ATTACKER --target "127.0.0.1:$SIP" || st=$?
verdict "$st" "before the attack $ATTACKER is answered"
crack $ATTACKER $SV main
guesses=$(grep -c "trying " "$work/svcrack_main.out" || true)
lines=$(auth_lines $ATTACKER ana)
grep -E "password for|stopping|found nothing|no more passwords" "$work/svcrack_main.out" | sed 's/^/    /' || true
echo "    svcrack sent $guesses guesses; the daemon logged $lines 'auth failed' lines for $ATTACKER/ana"
ok_if "svcrack is stopped within 30 guesses ($guesses)" within "$guesses" 1 30
if grep -qE "The password for|$ANA_PASSWORD" "$work/svcrack_main.out"; then
  fail "svcrack never finds the password"
else
  pass "svcrack never finds the password"
fi
ok_if "one 'auth failed' line with source and user per guess that reached the daemon ($lines, ban at $PER_SOURCE)" \
  within "$lines" "$PER_SOURCE" "$PER_SOURCE"
ok_if "svcrack's guesses ($guesses) cover the logged failures ($lines)" within "$lines" 1 "$guesses"
grep -m1 "auth failed: method=REGISTER source=$ATTACKER" "$work/protocall.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/    log: /' || true
grep -m1 "source banned: source=$ATTACKER" "$work/protocall.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/    log: /' || true
st=0; probe silent --bind $ATTACKER --target "127.0.0.1:$SIP" --wait 2 || st=$?
verdict "$st" "after the ban $ATTACKER gets no answer"
bans=$(api GET /api/bans)
echo "    GET /api/bans: $bans"
ok_if "GET /api/bans lists $ATTACKER (reason auth)" python3 -c \
  "import json,sys; sys.exit(0 if any(b['ip']=='$ATTACKER' and b['reason']=='auth' for b in json.loads(sys.argv[1])) else 1)" "$bans"
failures_after=$(metric 'protocall_auth_failures_total{method="REGISTER"}')
bans_active=$(metric protocall_bans_active)
banned_drops=$(metric 'protocall_requests_dropped_total{reason="banned"}')
echo "    metrics: auth_failures_total{REGISTER} $failures_before -> $failures_after, bans_active $bans_active, requests_dropped{banned} $banned_drops_before -> $banned_drops"
if [ $((failures_after - failures_before)) -ge "$lines" ] && [ "$bans_active" -ge 1 ] &&
  [ "$banned_drops" -gt "$banned_drops_before" ]; then
  pass "metrics count the failures, the ban and the dropped requests"
else
  fail "metrics count the failures, the ban and the dropped requests"
fi
st=0; register ana "$ANA_PASSWORD" 127.0.0.1 $ANA || st=$?
verdict "$st" "ana still registers from 127.0.0.1 during the attack"

# Guessing from more addresses: each is banned on its own, and the username
# locks once the failures for ana reach the per-user limit.
crack 127.0.0.3 $((SV + 3)) second
crack 127.0.0.4 $((SV + 4)) third
for run in 127.0.0.3:second 127.0.0.4:third; do
  n=$(grep -c "trying " "$work/svcrack_${run#*:}.out" || true)
  ok_if "svcrack from ${run%:*} is stopped within 30 guesses ($n)" within "$n" 1 30
done
if grep -qE "The password for|$ANA_PASSWORD" "$work/svcrack_second.out" "$work/svcrack_third.out"; then
  fail "no other guesser finds the password"
else
  pass "no other guesser finds the password"
fi
grep -m1 "user locked: user=\"ana\"" "$work/protocall.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/    log: /' || true
ok_if "username ana is locked after $PER_USER failures from several sources" \
  grep -q "user locked: user=\"ana\"" "$work/protocall.log"
# The right password from addresses ana never logged in from: refused
# while the name is locked (403 for a call; 401 or 403 for a REGISTER).
login() { # ip method expected-codes [callee]
  probe login --bind "$1" --target "127.0.0.1:$SIP" --method "$2" \
    --users ana --password "$ANA_PASSWORD" --expect "$3" ${4:+--to "$4"} --wait 2
}
st=0; login 127.0.0.7 INVITE 403 bia || st=$?
verdict "$st" "while locked, a call as ana with her password from a new address (127.0.0.7) is refused"
st=0; login 127.0.0.6 REGISTER 401,403 || st=$?
verdict "$st" "while locked, a REGISTER as ana with her password from a new address (127.0.0.6) is refused"
st=0; register ana "$ANA_PASSWORD" 127.0.0.1 $ANA || st=$?
verdict "$st" "while locked, ana's own phone (127.0.0.1, logged in before) still registers"

echo "== 4. 200 calls ana -> bia while $ATTACKER floods"
st=0; api DELETE "/api/bans/$ATTACKER" >/dev/null || st=$?
verdict "$st" "DELETE /api/bans/$ATTACKER lifts the ban (so the flood meets the density limit)"
flood_before=$(metric 'protocall_requests_dropped_total{reason="flood"}')
banned_before=$(metric 'protocall_requests_dropped_total{reason="banned"}')
timeout 90 sipp -sf "$top/tests/sipp/uas.xml" -i 127.0.0.1 -p $BIA -m 200 -timeout 80s -nostdin \
  >"$work/uas.out" 2>&1 &
uas_pid=$!
pids+=("$uas_pid")
sleep 0.5
# 10 calls/s keeps ana's and bia's phones (one address) within the shipped
# density limit: about 8 messages a call, 160 per 2 s against 200.
timeout 90 sipp -sf "$here/uac_auth.xml" "127.0.0.1:$SIP" -i 127.0.0.1 -p $UAC \
  -m 200 -r 10 -l 50 -d 300 -timeout 80s -timeout_error -nostdin \
  -s bia -au ana -ap "$ANA_PASSWORD" -key caller ana -auth_uri "bia@127.0.0.1:$SIP" \
  >"$work/uac.out" 2>&1 &
uac_pid=$!
pids+=("$uac_pid")
sleep 2
timeout 30 python3 "$here/flood.py" --bind $ATTACKER --target "127.0.0.1:$SIP" \
  --count 40000 --seconds 10 >"$work/flood.out" 2>&1 || true
uac_st=0; wait "$uac_pid" || uac_st=$?
uas_st=0; wait "$uas_pid" || uas_st=$?
sent=$(sed -n 's/^sent=\([0-9]*\).*/\1/p' "$work/flood.out")
sent=${sent:-0}
calls() { # label: the cumulative column of SIPp's final statistics row
  sed -n "s/^ *$1 *| *[0-9]* *| *\([0-9]*\).*/\1/p" "$work/uac.out" | tail -1
}
ok_calls=$(calls "Successful call")
bad_calls=$(calls "Failed call")
flood_drops=$(( $(metric 'protocall_requests_dropped_total{reason="flood"}') - flood_before ))
banned_drops=$(( $(metric 'protocall_requests_dropped_total{reason="banned"}') - banned_before ))
echo "    flood: $(cat "$work/flood.out")"
echo "    calls: successful ${ok_calls:-?}, failed ${bad_calls:-?} (uac exit $uac_st, uas exit $uas_st)"
echo "    requests_dropped during the flood: flood $flood_drops, banned $banned_drops"
grep -E "source banned: source=$ATTACKER reason=flood" "$work/protocall.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g; s/^/    log: /' || true
ok_if "the flood sent 40,000+ datagrams ($sent)" [ "$sent" -ge 40000 ]
if [ "$uac_st" = 0 ] && [ "$uas_st" = 0 ] && [ "${ok_calls:-0}" = 200 ] && [ "${bad_calls:-1}" = 0 ]; then
  pass "all 200 calls complete during the flood"
else
  fail "all 200 calls complete during the flood"; tail -40 "$work/uac.out" | sed 's/^/    /'
fi
healthy() { kill -0 "$daemon_pid" 2>/dev/null && curl -fs "http://127.0.0.1:$HTTP/healthz" >/dev/null; }
ok_if "the daemon is alive and healthy after the flood" healthy
# The guard parses only what passes the density limit before the ban
# (pike_max_requests a window, flood_ban_windows windows): the rest, nearly
# all of it, is dropped unread.
ok_if "the guard drops 90%+ of the flood unparsed (flood $flood_drops + banned $banned_drops of $sent)" \
  [ $(( (flood_drops + banned_drops) * 10 )) -ge $((sent * 9)) ]
ok_if "GET /api/bans lists $ATTACKER (reason flood)" python3 -c \
  "import json,sys; sys.exit(0 if any(b['ip']=='$ATTACKER' and b['reason']=='flood' for b in json.loads(sys.argv[1])) else 1)" \
  "$(api GET /api/bans)"

echo "== metrics"
curl -fs "http://127.0.0.1:$HTTP/metrics" |
  grep -E '^protocall_(auth_failures_total|bans_active|requests_dropped_total)' | sed 's/^/    /' || true

echo "== summary"
printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then
  echo "attack: all ${#results[@]} checks passed"
else
  echo "--- protocall log (last 30 lines)"
  tail -30 "$work/protocall.log" | sed 's/\x1b\[[0-9;]*m//g'
  echo "attack: $(printf '%s\n' "${results[@]}" | grep -c '^FAIL') of ${#results[@]} checks FAILED"
  exit 1
fi
