#!/usr/bin/env bash
# Real softphones against the real daemon: Debian's baresip 1.0 (driven
# through its ctrl_tcp module) and linphonec 5.1 (commands on stdin) register
# with digest auth and call each other and a SIPp UAS, over UDP, TCP and
# TLS on 127.0.0.1 and on [::1] (TLS with a test CA the phones are given,
# verified as a consultant's phone at home would); wrong passwords are
# refused; a phone that does not trust the certificate cannot register; SIPp's stock digest
# scenario registers; a carrier call from a trusted trunk rings each phone
# and what the phone shows for the caller is printed (INFO lines).
#
# The daemon runs on the shipped config/protocall.toml; only ports, data
# dirs and the test's trunk are overridden through PROTOCALL__* variables.
# Phones stay untrusted (they authenticate for every call); the only trusted
# peer is 127.0.0.2, where SIPp plays the carrier.
#
# Prints PASS/FAIL per check and exits non-zero when any check fails.
# Bounded: every wait has a timeout, every process runs under `timeout`,
# the whole run takes about a minute. Traffic stays on loopback (baresip's
# RTP and DNS-client sockets and SIPp's control socket are bound to the
# wildcard address by those tools, but nothing is sent off the machine).
# The script stops only the processes it started, by PID.
#
# INTEROP_KEEP=1 keeps the work directory (configs, phone logs, SIP traces);
# INTEROP_PORT_BASE (default 15600) moves the ~400 ports the run uses, and
# PORT_BASE+3000.. for the admin API, so two runs can share a machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BIN=${PROTOCALL_BIN:-$top/target/debug/protocall}
[ -x "$BIN" ] || { echo "no protocall binary at $BIN (run cargo build first)"; exit 1; }

# The clients, installed like .ci/run installs SIPp.
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v baresip >/dev/null 2>&1 || missing+=(baresip)
command -v linphonec >/dev/null 2>&1 || missing+=(linphone-cli)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in python3 curl; do
  command -v $tool >/dev/null || { echo "$tool is needed"; exit 1; }
done
BARESIP_MODULES=${BARESIP_MODULES:-/usr/lib/baresip/modules}

# Our daemon's environment only: a DATABASE_URL or PROTOCALL__ variable
# from the caller's shell would silently replace the test's store or ports.
unset DATABASE_URL RUST_LOG
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep '^PROTOCALL__' || true)

LIFE=240                 # seconds any process we start may live, at most
DEADLINE=$((SECONDS + 170))  # after this every wait gives up at once
# Ports: daemons and SIPp at BASE..BASE+99 (SIPp media at PORT+8), phones
# from BASE+100 in blocks of 40 (baresip PORT..PORT+19, linphonec
# PORT+30..PORT+37).
B=${INTEROP_PORT_BASE:-15600}
V4_SIP=$B V4_HTTP=$((B + 3000)) V4_UAS=$((B + 10)) V4_CARRIER=$((B + 20))
V4_TLS=$((B + 5)) V6_TLS=$((B + 55))
V6_SIP=$((B + 50)) V6_HTTP=$((B + 3050)) V6_UAS=$((B + 60))
PASSWORD_OF_ana=ana-secret-1 PASSWORD_OF_bia=bia-secret-2
PASSWORD_OF_caio=caio-secret-3 PASSWORD_OF_duda=duda-secret-4
# A number the trunk (SIPp UAS) answers: a São Paulo landline.
EXTERNAL=1140001234
# A provider with a consulting contract calls from this number.
CARRIER_CALLER=011987654321

work=$(mktemp -d)
pids=()
passed=0 failed=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${INTEROP_KEEP:-}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# wait_for FILE REGEX SECS [FROM]: a line after line FROM matches REGEX.
wait_for() {
  local file=$1 re=$2 secs=$3 from=${4:-0}
  local end=$(($(now_ms) + secs * 1000))
  while :; do
    if [ -f "$file" ] && tail -n +"$((from + 1))" "$file" | grep -Eq -- "$re"; then return 0; fi
    if [ "$(now_ms)" -ge "$end" ] || [ "$SECONDS" -ge "$DEADLINE" ]; then return 1; fi
    sleep 0.1
  done
}
# wait_outcome FILE GOOD BAD SECS FROM: 0 when GOOD shows after line FROM,
# 1 as soon as BAD does instead (or nothing within SECS).
wait_outcome() {
  wait_for "$1" "$2|$3" "$4" "$5" || return 1
  tail -n +"$(($5 + 1))" "$1" | grep -Eq -- "$2"
}
# Why a call ended, as baresip's CALL_CLOSED or linphonec's console say.
bs_closed() { tail -n +"$(($2 + 1))" "$1" | grep -o '"type": "CALL_CLOSED".*"param": "[^"]*"' | grep -o '"param": "[^"]*"' | head -1; }
lp_ended() { tail -n +"$(($2 + 1))" "$1" | grep -Eo 'Call [0-9]+ with .* (error\.|ended \(.*)' | head -1; }
# wait_exit PID SECS: the process's exit status, or 124 when it outlives SECS.
wait_exit() {
  local pid=$1 end=$(($(now_ms) + $2 * 1000))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(now_ms)" -ge "$end" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; return 124; fi
    sleep 0.1
  done
  local rc=0
  wait "$pid" || rc=$?
  return "$rc"
}
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
info() { echo "INFO $*"; }
# Addresses as URIs write them.
host_of() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# ------------------------------------------------------------ certificates
# A test CA and each daemon's certificate (v4 for 127.0.0.1, v6 for ::1),
# made as the TLS steps of docs/sip.md make them; the phones get the CA. The
# address is in the SAN twice: as an IP (what RFC 5922 and rustls-based or
# OpenSSL clients check) and as a DNS name, because linphonec's mbedTLS 2
# compares only DNS names; a real desk uses a host name and needs neither.
make_certs() {
  local c=$work/certs
  mkdir -p "$c"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=protocall interop CA" -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null
  local name ip
  for name in v4 v6; do
    ip=$([ $name = v4 ] && echo 127.0.0.1 || echo ::1)
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=$ip" -keyout "$c/$name.key" -out "$c/$name.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$ip" "$ip" >"$c/$name.ext"
    openssl x509 -req -in "$c/$name.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
      -days 2 -extfile "$c/$name.ext" -out "$c/$name.pem" 2>/dev/null
  done
  # A CA the phones trust that did not sign the daemon's certificate.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=someone else" -keyout "$c/other.key" -out "$c/other.pem" 2>/dev/null
  chmod 600 "$c"/*.key
}

# ---------------------------------------------------------------- daemon
# start_daemon NAME IP SIP_PORT HTTP_PORT UAS_PORT TRUSTED_JSON TLS_PORT
start_daemon() {
  local name=$1 ip=$2 sip=$3 http=$4 uas=$5 trusted=$6 tls=$7
  local d=$work/$name
  mkdir -p "$d"
  local h
  h=$(host_of "$ip")
  local env=(
    PROTOCALL__SIP__LISTEN="$h:$sip"
    PROTOCALL__HTTP__LISTEN="127.0.0.1:$http"
    PROTOCALL__STORE__URL="sqlite://$d/protocall.db"
    PROTOCALL__TRACKING__JOURNAL_DIR="$d/journal"
    PROTOCALL__ROUTING__DIALPLANS="$top/dialplans"
    PROTOCALL__ROUTING__TRUNK_URI="sip:$h:$uas"
    PROTOCALL__ROUTING__TRUSTED_PEERS="$trusted"
    PROTOCALL__SIP__TLS__LISTEN="$h:$tls"
    PROTOCALL__SIP__TLS__CERT="$work/certs/$name.pem"
    PROTOCALL__SIP__TLS__KEY="$work/certs/$name.key"
  )
  local cfg=(--config "$top/config/protocall.toml")
  env "${env[@]}" "$BIN" migrate "${cfg[@]}" >/dev/null
  local token
  token=$(env "${env[@]}" "$BIN" token create --name interop "${cfg[@]}" 2>/dev/null)
  echo "$token" >"$d/token"
  env "${env[@]}" NO_COLOR=1 timeout $LIFE "$BIN" serve "${cfg[@]}" >"$d/protocall.log" 2>&1 &
  pids+=($!)
  local i
  for i in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$http/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$http/healthz" >/dev/null || {
    echo "protocall ($name) did not start:"; tail -20 "$d/protocall.log"; exit 1
  }
  local u
  for u in ana bia caio duda; do
    local pw_var=PASSWORD_OF_$u
    api "$name" POST /api/consultants \
      "{\"name\":\"$(display_of $u)\",\"sip_username\":\"$u\",\"password\":\"${!pw_var}\"}" >/dev/null
  done
}
display_of() {
  case $1 in ana) echo "Ana Silva" ;; bia) echo "Bia Souza" ;; caio) echo "Caio Lima" ;; duda) echo "Duda Rocha" ;; esac
}
api() { # daemon method path [json]
  local port
  port=$(case $1 in v4) echo $V4_HTTP ;; v6) echo $V6_HTTP ;; esac)
  curl -fsS -X "$2" -H "Authorization: Bearer $(cat "$work/$1/token")" \
    -H 'Content-Type: application/json' ${4:+--data "$4"} "http://127.0.0.1:$port$3"
}

# --------------------------------------------------------------- baresip
# bs_start NAME IP PORT [CA]: baresip on IP:PORT (UDP and TCP; TLS takes
# PORT+1), trusting CA (the test CA by default), its ctrl_tcp on
# 127.0.0.1:PORT+5, no account yet (added with `uanew`, so the driver is
# connected before the first REGISTER goes out).
bs_start() {
  local name=$1 ip=$2 port=$3 ca=${4:-$work/certs/ca.pem}
  local d=$work/$name
  mkdir -p "$d"
  cat >"$d/config" <<EOF
poll_method		epoll
net_interface		$ip
# Every URI here is an address; any lookup anyway stays on loopback.
dns_server		127.0.0.1:53
sip_listen		$(host_of "$ip"):$port
sip_cafile		$ca
rtp_ports		$((port + 10))-$((port + 19))
# No sound card: the audio bridge plays and records nothing.
audio_player		aubridge,nil
audio_source		aubridge,nil
audio_alert		aubridge,nil
module_path		$BARESIP_MODULES
module			g711.so
module			aubridge.so
module_app		ctrl_tcp.so
module_app		account.so
module_app		menu.so
ctrl_tcp_listen		127.0.0.1:$((port + 5))
EOF
  : >"$d/accounts"
  mkfifo "$d/cmds"
  timeout $LIFE baresip -f "$d" -s </dev/null >"$d/stdout" 2>&1 &
  pids+=($!)
  timeout $LIFE python3 "$here/baresip_ctl.py" "127.0.0.1:$((port + 5))" "$d/events" "$d/cmds" \
    --max-secs $((LIFE - 10)) 2>"$d/ctl.err" &
  pids+=($!)
  wait_for "$d/events" '"connected"' 10 || { echo "baresip $name: ctrl_tcp unreachable"; cat "$d/ctl.err" "$d/stdout"; exit 1; }
}
# bs NAME COMMAND: one ctrl_tcp command (the driver holds the FIFO open).
bs() { timeout 2 bash -c 'printf "%s\n" "$2" >"$1"' _ "$work/$1/cmds" "$2"; }
# bs_account USER PASSWORD DOMAIN PROXY TRANSPORT: the account line a user
# writes in ~/.baresip/accounts (docs/sip.md: "Connect your softphone").
bs_account() {
  echo "\"$(display_of "$1")\" <sip:$1@$3;transport=$5>;auth_pass=$2;outbound=\"sip:$4;transport=$5\";regint=600"
}

# -------------------------------------------------------------- linphonec
# lp_start NAME IP PORT TRANSPORT USER PASSWORD DOMAIN PROXY: linphonec
# with its own HOME and config, commands on a FIFO we hold open; the log
# (-d 6) has the registration states and every SIP message.
declare -A lpfd
lp_start() {
  local name=$1 ip=$2 port=$3 transport=$4 user=$5 password=$6 domain=$7 proxy=$8
  local ca=${9:-$work/certs/ca.pem}
  local d=$work/$name
  mkdir -p "$d/home/.local/share/linphone"
  local udp=0 tcp=0 tls=0
  case $transport in udp) udp=$port ;; tcp) tcp=$port ;; tls) tls=$port ;; esac
  cat >"$d/linphonerc" <<EOF
[sip]
bind_address=$ip
sip_port=$udp
sip_tcp_port=$tcp
sip_tls_port=$tls
root_ca=$ca
verify_server_certs=1
verify_server_cn=1
guess_hostname=0
default_proxy=0
[rtp]
bind_address=$ip
audio_rtp_port=$((port + 2))
video_rtp_port=$((port + 4))
text_rtp_port=$((port + 6))
[video]
display=0
capture=0
[proxy_0]
reg_proxy=<sip:$proxy;transport=$transport>
reg_route=<sip:$proxy;transport=$transport;lr>
reg_identity="$(display_of "$user")" <sip:$user@$domain>
reg_expires=600
reg_sendregister=1
[auth_info_0]
username=$user
passwd=$password
realm=protocall
EOF
  mkfifo "$d/in"
  # Read-write, so opening never blocks and we stay a writer throughout.
  exec {fd}<>"$d/in"
  lpfd[$name]=$fd
  HOME=$d/home timeout $LIFE linphonec -c "$d/linphonerc" -d 6 -l "$d/log" <"$d/in" >"$d/stdout" 2>&1 &
  pids+=($!)
  echo $! >"$d/pid"
}
lp() { printf '%s\n' "$2" >&"${lpfd[$1]}"; }
# lp_registered NAME: 0 registered, 1 refused, 2 nothing within 10 s.
lp_registered() {
  local log=$work/$1/log
  wait_for "$log" 'to \[LinphoneRegistration(Ok|Failed)\]' 10 || return 2
  grep -q 'to \[LinphoneRegistrationOk\]' "$log"
}
lp_stop() {
  lp "$1" quit 2>/dev/null || true
  wait_exit "$(cat "$work/$1/pid")" 5 >/dev/null 2>&1 || true
}
bs_stop() {
  bs "$1" quit 2>/dev/null || true
  wait_for "$work/$1/events" '"closed"' 5 || true
}

# ------------------------------------------------------------- the calls
# Each call helper returns non-zero with the reason in $why.
why=""
hangup_all() { # bs lp: leave no call behind for the next check
  bs "$1" hangup || true
  lp "$2" terminate || true
  sleep 0.3
}

# call_bs_to_lp TAG BS LP USER DOMAIN: baresip dials the linphone user.
call_bs_to_lp() {
  local tag=$1 b=$2 l=$3 user=$4 domain=$5
  local be=$work/$b/events lo=$work/$l/stdout
  local b0 l0
  b0=$(lines "$be") l0=$(lines "$lo")
  bs "$b" "dial sip:$user@$domain"
  if ! wait_for "$lo" 'Receiving new incoming call from' 10 "$l0"; then
    why="linphone never rang $(bs_closed "$be" "$b0")"
    hangup_all "$b" "$l"; return 1
  fi
  info "$tag: linphonec shows: $(tail -n +"$((l0 + 1))" "$lo" | grep -o 'Receiving new incoming call from .*' | head -1)"
  lp "$l" answer
  wait_outcome "$be" '"type": "CALL_ESTABLISHED"' '"type": "CALL_CLOSED"' 10 "$b0" ||
    { why="baresip: not established $(bs_closed "$be" "$b0")"; hangup_all "$b" "$l"; return 1; }
  wait_for "$lo" ' connected\.' 5 "$l0" || { why="linphone: not connected"; hangup_all "$b" "$l"; return 1; }
  sleep 0.5
  bs "$b" hangup
  wait_for "$lo" ' ended \(' 10 "$l0" || { why="linphone never saw the BYE"; hangup_all "$b" "$l"; return 1; }
  wait_for "$be" '"type": "CALL_CLOSED"' 5 "$b0" || { why="baresip: no CALL_CLOSED"; return 1; }
}

# call_lp_to_bs TAG LP BS USER DOMAIN: linphone dials the baresip user.
call_lp_to_bs() {
  local tag=$1 l=$2 b=$3 user=$4 domain=$5
  local be=$work/$b/events lo=$work/$l/stdout
  local b0 l0
  b0=$(lines "$be") l0=$(lines "$lo")
  lp "$l" "call sip:$user@$domain"
  if ! wait_for "$be" '"type": "CALL_INCOMING"' 10 "$b0"; then
    why="baresip never rang $(lp_ended "$lo" "$l0")"
    hangup_all "$b" "$l"; return 1
  fi
  info "$tag: baresip shows: $(bs_incoming "$be" "$b0")"
  bs "$b" accept
  wait_outcome "$lo" ' connected\.' ' error\.| ended \(' 10 "$l0" ||
    { why="linphone: not connected $(lp_ended "$lo" "$l0")"; hangup_all "$b" "$l"; return 1; }
  wait_for "$be" '"type": "CALL_ESTABLISHED"' 5 "$b0" || { why="baresip: no CALL_ESTABLISHED"; hangup_all "$b" "$l"; return 1; }
  sleep 0.5
  lp "$l" terminate
  wait_for "$be" '"type": "CALL_CLOSED"' 10 "$b0" || { why="baresip never saw the BYE"; hangup_all "$b" "$l"; return 1; }
  wait_for "$lo" ' ended \(' 5 "$l0" || { why="linphone: call not ended"; return 1; }
}

# What baresip's CALL_INCOMING event says about the caller (the same name
# and URI its menu prints as "Incoming call from: NAME URI").
bs_incoming() { # events from
  tail -n +"$(($2 + 1))" "$1" | grep -m1 '"type": "CALL_INCOMING"' |
    python3 -c 'import json,sys; e=json.loads(sys.stdin.read()); print("display=%r uri=%s" % (e.get("peerdisplayname"), e.get("peeruri")))'
}

# start_uas IP PORT NAME: the trunk, a SIPp UAS for one call (copies
# Record-Route, so the phone's ACK and BYE come back through the proxy).
start_uas() {
  timeout $LIFE sipp -sf "$top/tests/sipp/uas.xml" -i "$1" -p "$2" -mp "$(($2 + 8))" -m 1 \
    -timeout 25s -nostdin -trace_err -error_file "$work/$3.err" >"$work/$3.out" 2>&1 &
  uas_pid=$!
  pids+=("$uas_pid")
  sleep 0.3
}

# call_to_uas TAG KIND PHONE DOMAIN UAS_IP UAS_PORT: the phone dials an
# external number; protocall sends it to the trunk, which answers.
call_to_uas() {
  local tag=$1 kind=$2 p=$3 domain=$4
  start_uas "$5" "$6" "uas_$tag"
  local f n0
  if [ "$kind" = bs ]; then f=$work/$p/events; else f=$work/$p/stdout; fi
  n0=$(lines "$f")
  if [ "$kind" = bs ]; then
    bs "$p" "dial sip:$EXTERNAL@$domain"
    wait_outcome "$f" '"type": "CALL_ESTABLISHED"' '"type": "CALL_CLOSED"' 10 "$n0" ||
      { why="baresip: not established $(bs_closed "$f" "$n0")"; bs "$p" hangup; kill "$uas_pid" 2>/dev/null; return 1; }
    sleep 0.5
    bs "$p" hangup
    wait_for "$f" '"type": "CALL_CLOSED"' 5 "$n0" || { why="baresip: no CALL_CLOSED"; return 1; }
  else
    lp "$p" "call sip:$EXTERNAL@$domain"
    wait_outcome "$f" ' connected\.' ' error\.| ended \(' 10 "$n0" ||
      { why="linphone: not connected $(lp_ended "$f" "$n0")"; lp "$p" terminate; kill "$uas_pid" 2>/dev/null; return 1; }
    sleep 0.5
    lp "$p" terminate
    wait_for "$f" ' ended \(' 5 "$n0" || { why="linphone: call not ended"; return 1; }
  fi
  local rc=0
  wait_exit "$uas_pid" 10 || rc=$?
  [ "$rc" = 0 ] || { why="the SIPp UAS exited $rc: $(tail -3 "$work/uas_$tag.err" 2>/dev/null | tr '\n' ' ')"; return 1; }
}

check() { # name function args...: PASS/FAIL from the function
  local name=$1; shift
  why=""
  if "$@"; then pass "$name"; else fail "$name" "${why:-failed}"; fi
}

# ------------------------------------------------------------------ legs
# leg TAG IP SIP_PORT UAS_PORT TRANSPORT BS_USER LP_USER PHONE_PORT: a
# baresip and a linphonec register over TRANSPORT, call each other and the
# trunk. SIP_PORT is the daemon's port for TRANSPORT (its TLS port for tls).
leg() {
  local tag=$1 ip=$2 sip=$3 uas=$4 transport=$5 bu=$6 lu=$7 port=$8
  local h domain proxy
  h=$(host_of "$ip")
  domain=$h
  proxy="$h:$sip"
  local b=bs_$tag l=lp_$tag
  local bpw=PASSWORD_OF_$bu lpw=PASSWORD_OF_$lu
  bs_start "$b" "$ip" "$port"
  lp_start "$l" "$ip" $((port + 30)) "$transport" "$lu" "${!lpw}" "$domain" "$proxy"
  local b0
  b0=$(lines "$work/$b/events")
  bs "$b" "uanew $(bs_account "$bu" "${!bpw}" "$domain" "$proxy" "$transport")"
  local bs_ok=0 lp_ok=0
  if wait_for "$work/$b/events" '"type": "REGISTER_(OK|FAIL)"' 10 "$b0" &&
    tail -n +"$((b0 + 1))" "$work/$b/events" | grep -q '"type": "REGISTER_OK"'; then
    pass "${tag}_baresip_register"; bs_ok=1
  else
    fail "${tag}_baresip_register" "$(tail -n +"$((b0 + 1))" "$work/$b/events" | grep -o '"type": "REGISTER_FAIL".*' | head -1)"
  fi
  local rc=0
  lp_registered "$l" || rc=$?
  case $rc in
    0) pass "${tag}_linphone_register"; lp_ok=1 ;;
    1) fail "${tag}_linphone_register" "refused ($(grep -Eo '^SIP/2.0 [0-9]{3} .*' "$work/$l/log" | tail -1))" ;;
    *) fail "${tag}_linphone_register" "no answer within 10 s" ;;
  esac
  if [ $bs_ok = 1 ] && [ $lp_ok = 1 ]; then
    check "${tag}_baresip_calls_linphone" call_bs_to_lp "$tag" "$b" "$l" "$lu" "$domain"
    check "${tag}_linphone_calls_baresip" call_lp_to_bs "$tag" "$l" "$b" "$bu" "$domain"
  else
    fail "${tag}_baresip_calls_linphone" "a phone is not registered"
    fail "${tag}_linphone_calls_baresip" "a phone is not registered"
  fi
  if [ $bs_ok = 1 ]; then
    check "${tag}_baresip_calls_sipp_uas" call_to_uas "${tag}_bs" bs "$b" "$domain" "$ip" "$uas"
  else
    fail "${tag}_baresip_calls_sipp_uas" "baresip is not registered"
  fi
  if [ $lp_ok = 1 ]; then
    check "${tag}_linphone_calls_sipp_uas" call_to_uas "${tag}_lp" lp "$l" "$domain" "$ip" "$uas"
  else
    fail "${tag}_linphone_calls_sipp_uas" "linphone is not registered"
  fi
}

# Wrong passwords, each client from an address of its own: protocall bans
# an address after security.max_auth_failures_per_source failures, and that
# must not hit the phones on 127.0.0.1 nor the next client here.
# A refusal is: the client never registers, and protocall logged the failed
# digest check for that user from that address (its fail2ban line).
auth_failed_line() { echo "auth failed: method=REGISTER source=$1 user=\"$2\""; }
count_in() { grep -cF -- "$2" "$1" || true; }

# baresip_wrong_password LOG SERVER SIP_PORT IP PORT USER
baresip_wrong_password() {
  local log=$1 server=$2 sip=$3 ip=$4 port=$5 user=$6
  local b=bs_wrong
  bs_start "$b" "$ip" "$port"
  bs "$b" "uanew $(bs_account "$user" "not-the-password" "$server" "$server:$sip" udp)"
  local ev=$work/$b/events line
  line=$(auth_failed_line "$ip" "$user")
  if ! wait_for "$log" "$line" 10; then
    why="protocall logged no failed digest for $user from $ip"
  elif wait_for "$ev" '"type": "REGISTER_OK"' 2; then
    why="baresip registered with a wrong password"
  fi
  # baresip 1.0 answers every fresh challenge at once, so it keeps trying
  # until protocall bans the address; its REGISTER_FAIL comes only when
  # the unanswered REGISTER times out (32 s), so it is not waited for.
  info "baresip with a wrong password: $(count_in "$log" "$line") failed digests from $ip before it stopped being answered; $(grep -o "source banned: source=$ip [^ ]*" "$log" | head -1 || true)"
  bs_stop "$b"
  [ -z "$why" ]
}

# linphone_wrong_password LOG SERVER SIP_PORT IP PORT USER
linphone_wrong_password() {
  local log=$1 server=$2 sip=$3 ip=$4 port=$5 user=$6
  local l=lp_wrong
  lp_start "$l" "$ip" "$port" udp "$user" "not-the-password" "$server" "$server:$sip"
  local rc=0
  lp_registered "$l" || rc=$?
  if [ $rc != 1 ]; then
    why="registration state $rc (0 registered, 1 refused, 2 no answer)"
  elif ! wait_for "$log" "$(auth_failed_line "$ip" "$user")" 3; then
    why="protocall logged no failed digest for $user from $ip"
  elif ! wait_for "$work/$l/stdout" "Password for $user on protocall" 3; then
    why="linphonec did not ask for another password"
  fi
  info "linphonec with a wrong password: $(count_in "$log" "$(auth_failed_line "$ip" "$user")") failed digest(s), then it asks: $(grep -o "Password for $user on protocall:" "$work/$l/stdout" | head -1)"
  # Not `quit`: the console is waiting for a password and would take it.
  kill "$(cat "$work/$l/pid")" 2>/dev/null || true
  [ -z "$why" ]
}

# sipp_stock_register NAME SERVER SIP_PORT IP PORT USER PASSWORD WANT
sipp_stock_register() {
  local name=$1 server=$2 sip=$3 ip=$4 port=$5 user=$6 password=$7 want=$8
  local rc=0
  (cd "$work" && timeout 30 sipp -sf "$here/register_stock.xml" "$(host_of "$server"):$sip" -i "$ip" -p "$port" \
    -mp $((port + 8)) -m 1 -timeout 10s -timeout_error -nostdin -s "$user" -au "$user" -ap "$password" \
    -trace_msg -message_file "$work/$name.msg" >"$work/$name.out" 2>&1) || rc=$?
  if [ "$rc" = "$want" ]; then
    pass "$name"
  else
    fail "$name" "SIPp exited $rc, wanted $want; last answer: $(grep -Eo '^SIP/2.0 [0-9]{3} .*' "$work/$name.msg" 2>/dev/null | tail -1)"
  fi
}

# carrier_call TAG KIND PHONE USER SHOWN: SIPp plays the carrier trunk
# (127.0.0.2, trusted) and calls the consultant's username from a
# provider's number; the phone must show SHOWN as the caller's name (the
# screen-pop); it answers.
carrier_call() {
  local tag=$1 kind=$2 p=$3 user=$4 want=$5
  local f n0
  if [ "$kind" = bs ]; then f=$work/$p/events; else f=$work/$p/stdout; fi
  n0=$(lines "$f")
  timeout 40 sipp -sf "$top/tests/sipp/uac.xml" "127.0.0.1:$V4_SIP" -i 127.0.0.2 -p $V4_CARRIER \
    -mp $((V4_CARRIER + 8)) -m 1 -timeout 20s -timeout_error -nostdin -key caller "$CARRIER_CALLER" \
    -s "$user" -d 1000 >"$work/carrier_$tag.out" 2>&1 &
  local c=$!
  pids+=("$c")
  if [ "$kind" = bs ]; then
    wait_for "$f" '"type": "CALL_INCOMING"' 10 "$n0" || { why="baresip never rang"; kill "$c" 2>/dev/null; return 1; }
    local got
    got=$(bs_incoming "$f" "$n0")
    info "$tag: baresip shows: $got"
    case $got in *"display='$want'"*) ;; *) why="baresip shows $got, not '$want'" ;; esac
    bs "$p" accept
    wait_for "$f" '"type": "CALL_CLOSED"' 15 "$n0" || { why="baresip: call never ended"; bs "$p" hangup; return 1; }
  else
    wait_for "$f" 'Receiving new incoming call from' 10 "$n0" || { why="linphone never rang"; kill "$c" 2>/dev/null; return 1; }
    local got
    got=$(tail -n +"$((n0 + 1))" "$f" | grep -o 'Receiving new incoming call from .*' | head -1)
    info "$tag: linphonec shows: $got"
    case $got in *"from \"$want\" <"*) ;; *) why="linphonec shows $got, not \"$want\"" ;; esac
    lp "$p" answer
    wait_for "$f" ' ended \(' 15 "$n0" || { why="linphone: call never ended"; lp "$p" terminate; return 1; }
  fi
  local rc=0
  wait_exit "$c" 10 || rc=$?
  [ "$rc" = 0 ] || { why="the carrier's SIPp exited $rc"; return 1; }
  [ -z "$why" ]
}

# The caller as each INVITE a phone received through protocall carried it
# (those have our Record-Route), from the phone's SIP trace: From,
# P-Asserted-Identity, Call-Info, Subject; retransmissions counted once.
received_invites() { # trace
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read().replace("\r\n", "\n")
want = ("from", "p-asserted-identity", "call-info", "subject", "alert-info")
seen, out = set(), []
for m in re.finditer(r"^INVITE (sip:[^ \n]*) SIP/2\.0\n(.*?)\n\n", text, re.S | re.M):
    heads = m.group(2).splitlines()
    if not any(h.lower().startswith("record-route:") for h in heads):
        continue
    got = [h.strip() for h in heads if h.split(":", 1)[0].strip().lower() in want]
    key = tuple(h for h in got if not h.lower().startswith("from:")) + tuple(
        re.sub(r";tag=.*", "", h) for h in got if h.lower().startswith("from:"))
    if key in seen:
        continue
    seen.add(key)
    out.append(" | ".join(re.sub(r";tag=[^;>]*", "", h) for h in got))
print("; ".join(f"[{i + 1}] {o}" for i, o in enumerate(out)) or "(no INVITE through protocall in the trace)")
PY
}

# ================================================================== run
echo "protocall: $BIN"
echo "baresip: $(baresip -h 2>&1 | head -1 | cut -d' ' -f1-2); linphonec: $(linphonec -v 2>&1 | tail -1); $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1)"

make_certs
start_daemon v4 127.0.0.1 $V4_SIP $V4_HTTP $V4_UAS '["127.0.0.2"]' $V4_TLS
leg v4_udp 127.0.0.1 $V4_SIP $V4_UAS udp ana bia $((B + 100))
leg v4_tcp 127.0.0.1 $V4_SIP $V4_UAS tcp caio duda $((B + 140))
leg v4_tls 127.0.0.1 $V4_TLS $V4_UAS tls bia ana $((B + 280))

# Screen-pop: a consulting client whose open protocol Ana owns calls Ana's
# baresip and Bia's linphonec (both still registered over UDP).
ana_id=$(api v4 GET /api/consultants | python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin)["items"] if c["sip_username"]=="ana"][0])')
provider_id=$(api v4 POST /api/providers '{"name":"NetSul Telecom","consulting":true,"numbers":["(11) 98765-4321"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
protocol=$(api v4 POST /api/protocols "{\"provider_id\":$provider_id,\"owner_id\":$ana_id,\"subject\":\"BGP session down\"}")
protocol_number=$(echo "$protocol" | python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')
info "directory: provider NetSul Telecom ($CARRIER_CALLER), protocol $protocol_number owned by ana"
# The owner's phone shows the provider and the protocol; a colleague's the
# provider only.
check carrier_calls_baresip_owner_screen_pop carrier_call screen_pop_owner bs bs_v4_udp ana "NetSul Telecom · $protocol_number"
check carrier_calls_linphone_screen_pop carrier_call screen_pop_colleague lp lp_v4_udp bia "NetSul Telecom"

for p in bs_v4_udp bs_v4_tcp bs_v4_tls; do bs_stop "$p"; done
for p in lp_v4_udp lp_v4_tcp lp_v4_tls; do lp_stop "$p"; done
info "baresip (ana, v4_udp) received INVITEs: $(received_invites "$work/bs_v4_udp/stdout")"
info "linphonec (bia, v4_udp) received INVITEs: $(received_invites "$work/lp_v4_udp/log")"

# Wrong passwords, from addresses of their own.
check baresip_wrong_password_refused baresip_wrong_password "$work/v4/protocall.log" 127.0.0.1 $V4_SIP 127.0.0.3 $((B + 180)) ana
check linphone_wrong_password_refused linphone_wrong_password "$work/v4/protocall.log" 127.0.0.1 $V4_SIP 127.0.0.4 $((B + 210)) bia

# A linphonec whose CA did not sign the daemon's certificate never
# registers over TLS: it refuses the handshake (the daemon counts it), no
# REGISTER reaches the registrar. (baresip 1.0 does not check the server's
# certificate at all: it has no sip_verify_server yet, docs/sip.md.)
tls_untrusted() {
  local l=lp_untrusted
  local hs0 hs
  hs0=$(curl -fs "http://127.0.0.1:$V4_HTTP/metrics" | awk '/^protocall_tls_handshake_errors_total/ {print $2}')
  lp_start "$l" 127.0.0.1 $((B + 360)) tls duda "$PASSWORD_OF_duda" 127.0.0.1 "127.0.0.1:$V4_TLS" "$work/certs/other.pem"
  local rc=0
  lp_registered "$l" || rc=$?
  [ $rc = 1 ] || why="registration state $rc (0 registered, 1 refused, 2 no answer)"
  hs=$(curl -fs "http://127.0.0.1:$V4_HTTP/metrics" | awk '/^protocall_tls_handshake_errors_total/ {print $2}')
  info "untrusted certificate: linphonec: $(grep -o 'SSL handshake failed.*' "$work/$l/log" | head -1); daemon TLS handshake errors ${hs0:-?} -> ${hs:-?}"
  [ "${hs:-0}" -gt "${hs0:-0}" ] || why="${why:+$why; }the daemon counted no failed handshake"
  lp_stop "$l"
  [ -z "$why" ]
}
check tls_untrusted_certificate_refused tls_untrusted

# SIPp's stock digest scenario.
sipp_stock_register sipp_stock_register_v4 127.0.0.1 $V4_SIP 127.0.0.1 $((B + 30)) caio "$PASSWORD_OF_caio" 0
sipp_stock_register sipp_stock_wrong_password_v4 127.0.0.1 $V4_SIP 127.0.0.5 $((B + 40)) caio wrong-password 1

# IPv6 loopback: the same phones on a daemon listening on [::1].
if grep -q '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null; then
  start_daemon v6 ::1 $V6_SIP $V6_HTTP $V6_UAS '[]' $V6_TLS
  leg v6_udp ::1 $V6_SIP $V6_UAS udp ana bia $((B + 220))
  leg v6_tcp ::1 $V6_SIP $V6_UAS tcp caio duda $((B + 260))
  leg v6_tls ::1 $V6_TLS $V6_UAS tls bia ana $((B + 320))
  # Reported, not checked: over IPv6 SIPp 3.6 writes its digest uri without
  # brackets (uri="sip:::1:PORT"), which is no URI at all.
  rc=0
  (cd "$work" && timeout 30 sipp -sf "$here/register_stock.xml" "[::1]:$V6_SIP" -i ::1 -p $((B + 70)) -mp $((B + 78)) \
    -m 1 -timeout 10s -timeout_error -nostdin -s ana -au ana -ap "$PASSWORD_OF_ana" \
    -trace_msg -message_file "$work/sipp_stock_v6.msg" >"$work/sipp_stock_v6.out" 2>&1) || rc=$?
  info "sipp stock digest over IPv6: SIPp exited $rc; it sent $(grep -o 'uri="[^"]*"' "$work/sipp_stock_v6.msg" | head -1) and got $(grep -Eo '^SIP/2.0 [0-9]{3} .*' "$work/sipp_stock_v6.msg" | tail -1)"
  for p in bs_v6_udp bs_v6_tcp bs_v6_tls; do bs_stop "$p"; done
  for p in lp_v6_udp lp_v6_tcp lp_v6_tls; do lp_stop "$p"; done
else
  fail ipv6 "no ::1 on the loopback interface"
fi

echo "interop: $passed passed, $failed failed (${SECONDS}s)"
if [ "$failed" != 0 ]; then
  for d in v4 v6; do
    [ -f "$work/$d/protocall.log" ] && { echo "--- protocall $d log (last 15 lines)"; tail -15 "$work/$d/protocall.log"; }
  done
  exit 1
fi
