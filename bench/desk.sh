#!/usr/bin/env bash
# protocall on the desk's real routing path under the peer's SIP load, for
# one or more builds side by side (e.g. before/after a change), on loopback.
#
#   bench/desk.sh                                              # this checkout, 3000 and 4000 cps
#   BUILDS="before=/work/wt-bench-before after=/work/wt-bench" RATES="3000 4000" REPEATS=2 bench/desk.sh
#
# Unlike bench/run.sh (sip.static_routes: a CSV lookup), every call takes the
# path users run: the caller's number normalised and looked up in the
# directory (imported with `protocall import`), the shipped dialplan (business
# hours opened 24/7), the protocol owner's registration (digest REGISTER), the
# call log and the contacts journal (SQLite store). The peer harness
# (PEER/run.sh, read-only, unchanged) checks per call that consulting callers
# reach their protocol owner (owner UAS, Request-URI user consultant-K) and
# the others the URA. See bench/README.md, "Edge protection on the desk path".
#
# Parameters (environment):
#   BUILDS="NAME=CHECKOUT[@BINARY] ..."   the builds compared; CHECKOUT gives the
#                       config template (config/protocall.toml) and dialplan
#                       (dialplans/default.toml) that match its binary; BINARY
#                       defaults to CHECKOUT/target/release/protocall.
#                       Default: this checkout ("current", CARGO_TARGET_DIR respected)
#   BUILD=0             1: cargo build --release in each CHECKOUT first (target dir
#                       = the one BINARY is in)
#   RATES="3000 4000"   offered calls/s
#   REPEATS=2           steps per rate and build; the builds alternate, in BUILDS
#                       order on odd repeats and reversed on even ones (A B B A)
#   DURATION=20         seconds of load per step (COUNT = RATE*DURATION calls)
#   PC_WORKERS=2        [sip] udp_workers
#   CONSULTANTS=50      consultants (= the peer's make_db.sh CONSULTANTS)
#   COUNT_AFTER_S=4     contacts in the database are counted this long after the load
#   KEEP_DB=0           1: keep each step's database and journal (OUT.state/)
#   STOP_WAIT_S=180     after the step, wait this long for protocall to stop on TERM
#                       (it drains the contacts journal first), then KILL
#   PEER=/work/shared/bench-peer   WORK=/tmp/protocall-desk-<time>
#   PC_SIP=127.0.0.1:5070 PC_HTTP=127.0.0.1:18080   protocall listen addresses
#   RTT_TRACE=1 PAUSE_S=3 QUIET_WAIT_S=0 RETRY_NOISY=0 NOISY_PCT=30   as in bench/run.sh
#
# Every step: a fresh copy of the build's seeded database, a fresh protocall
# process (stopped by its PID), CONSULTANTS digest REGISTERs, one bounded PEER/run.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

BUILDS="${BUILDS:-current=$REPO@${CARGO_TARGET_DIR:-$REPO/target}/release/protocall}"
BUILD="${BUILD:-0}"
RATES="${RATES:-3000 4000}"
REPEATS="${REPEATS:-2}"
DURATION="${DURATION:-20}"
PC_WORKERS="${PC_WORKERS:-2}"
CONSULTANTS="${CONSULTANTS:-50}"
COUNT_AFTER_S="${COUNT_AFTER_S:-4}"
KEEP_DB="${KEEP_DB:-0}"
STOP_WAIT_S="${STOP_WAIT_S:-180}"
PEER="${PEER:-/work/shared/bench-peer}"
WORK="${WORK:-/tmp/protocall-desk-$(date +%Y%m%d-%H%M%S)}"
PC_SIP="${PC_SIP:-127.0.0.1:5070}"
PC_HTTP="${PC_HTTP:-127.0.0.1:18080}"
RTT_TRACE="${RTT_TRACE:-1}"
PAUSE_S="${PAUSE_S:-3}"
QUIET_WAIT_S="${QUIET_WAIT_S:-0}"
RETRY_NOISY="${RETRY_NOISY:-0}"
NOISY_PCT="${NOISY_PCT:-30}"
# the harness' UAS ports (its defaults): the URA, and the owner the consultants register from
URA_HOSTPORT=127.0.0.1:5081
OWNER_PORT=5082

case "$PC_SIP" in 127.*) ;; *) echo "PC_SIP must be on 127.0.0.0/8" >&2; exit 2 ;; esac
case "$PC_HTTP" in 127.*) ;; *) echo "PC_HTTP must be on 127.0.0.0/8" >&2; exit 2 ;; esac
for r in $RATES; do [[ "$r" =~ ^[0-9]+$ ]] || { echo "bad rate $r" >&2; exit 2; }; done
for v in REPEATS DURATION PC_WORKERS CONSULTANTS COUNT_AFTER_S STOP_WAIT_S QUIET_WAIT_S RETRY_NOISY NOISY_PCT PAUSE_S; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be an integer" >&2; exit 2; }
done
[ -x "$PEER/run.sh" ] || { echo "no harness at $PEER" >&2; exit 2; }
command -v sipp >/dev/null && command -v sqlite3 >/dev/null || { echo "needs sipp and sqlite3 (PEER/install.sh)" >&2; exit 2; }

log() { echo "[desk] $*" >&2; }

# ---- builds: NAME -> checkout, binary ------------------------------------------------
declare -A CHECKOUT BIN
NAMES=()
for b in $BUILDS; do
  name=${b%%=*}; spec=${b#*=}
  [[ "$name" =~ ^[a-z0-9_-]+$ ]] && [ "$name" != "$b" ] || { echo "BUILDS: bad entry $b (NAME=CHECKOUT[@BINARY])" >&2; exit 2; }
  co=${spec%%@*}; bin=$co/target/release/protocall
  [ "$co" != "$spec" ] && bin=${spec#*@}
  [ -f "$co/config/protocall.toml" ] && [ -f "$co/dialplans/default.toml" ] || { echo "$co is not a protocall checkout" >&2; exit 2; }
  CHECKOUT[$name]=$(cd "$co" && pwd); BIN[$name]=$bin; NAMES+=("$name")
done
if [ "$BUILD" = 1 ]; then
  for name in "${NAMES[@]}"; do
    case "${BIN[$name]}" in */release/protocall) ;; *) echo "BUILD=1 needs BINARY = TARGET_DIR/release/protocall" >&2; exit 2 ;; esac
    log "$name: cargo build --release in ${CHECKOUT[$name]}"
    (cd "${CHECKOUT[$name]}" && CARGO_TARGET_DIR="$(dirname "$(dirname "${BIN[$name]}")")" cargo build --release)
  done
fi
for name in "${NAMES[@]}"; do [ -x "${BIN[$name]}" ] || { echo "no binary at ${BIN[$name]}" >&2; exit 2; }; done

mkdir -p "$WORK/runs"
log "work dir $WORK"
{ for name in "${NAMES[@]}"; do
    co=${CHECKOUT[$name]}
    echo "$name: ${BIN[$name]} ($(stat -c '%y' "${BIN[$name]}")); checkout $co at $(git -C "$co" rev-parse HEAD 2>/dev/null)$(git -C "$co" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  done
  echo "RATES=$RATES REPEATS=$REPEATS DURATION=$DURATION PC_WORKERS=$PC_WORKERS CONSULTANTS=$CONSULTANTS COUNT_AFTER_S=$COUNT_AFTER_S"
} >"$WORK/info.txt"
cat "$WORK/info.txt" >&2

# ---- data: the peer's callers as a directory import, consultants' credentials -----------
CONSULTANTS="$CONSULTANTS" OWNER_HOSTPORT="127.0.0.1:$OWNER_PORT" "$PEER/make_db.sh" "$WORK/data" >/dev/null
# numbers in E.164 as an operator's CSV has them; the trunk sends them as bare
# digits (55…) in the From user part, which routing normalises
{ echo "provider,consulting,number"
  sqlite3 -separator ',' "$WORK/data/bench.db" \
    "SELECT provider, CASE consulting WHEN 1 THEN 'yes' ELSE 'no' END, '+' || number FROM caller_routing ORDER BY number"
} >"$WORK/directory.csv"
write_config() {  # write_config NAME: WORK/NAME/protocall.toml from the checkout's shipped config
  local name=$1 co=${CHECKOUT[$1]} dir="$WORK/$1" cfg="$WORK/$1/protocall.toml"
  mkdir -p "$dir/dialplans"
  # the shipped dialplan, open every day all day and without holidays, so the
  # run does not depend on the clock (as tests/sipp/routing.sh does)
  python3 - "$co/dialplans/default.toml" "$dir/dialplans/default.toml" <<'PY'
import re, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
days = "".join(f'{d} = ["00:00-24:00"]\n' for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
# The whole [hours] table (up to the next table) becomes open-all-week
# without national holidays.
days += "national_holidays = false\n"
text, n = re.subn(r"\[hours\]\n.*?(?=\n\[)", "[hours]\n" + days, text, flags=re.S)
assert n == 1, "the shipped [hours] block was not found"
open(dst, "w").write(text)
PY
  local keys=("listen = \"$PC_SIP\"" "udp_workers = $PC_WORKERS"
              "listen = \"$PC_HTTP\"" "url = \"sqlite://$dir/state/protocall.db\""
              "dialplans = \"$dir/dialplans\"" "ura_uri = \"sip:ura@$URA_HOSTPORT\""
              'trusted_peers = ["127.0.0.1"]' "skip_busy = false"
              "journal_dir = \"$dir/state/journal\"" 'level = "warn"')
  # SIPp 3.6 answers only the first digest challenge and only knows MD5:
  # older configs offer MD5 first with digest_md5_first, newer ones offer MD5
  # alone to User-Agents in digest_md5_only_agents (tests/sipp/register_auth.xml
  # sends "protocall-sipp-register")
  if grep -q '^digest_md5_first = ' "$co/config/protocall.toml"; then
    keys+=("digest_md5_first = true")
  elif ! grep -q '^digest_md5_only_agents = .*"sipp"' "$co/config/protocall.toml"; then
    echo "$co/config/protocall.toml: neither digest_md5_first nor \"sipp\" in digest_md5_only_agents: SIPp cannot register" >&2; exit 2
  fi
  sed -e "s|^listen = \"0.0.0.0:5060\"|listen = \"$PC_SIP\"|" \
      -e "s|^udp_workers = .*|udp_workers = $PC_WORKERS|" \
      -e 's|^digest_md5_first = false|digest_md5_first = true|' \
      -e "s|^listen = \"127.0.0.1:8080\"|listen = \"$PC_HTTP\"|" \
      -e "s|^url = \"sqlite://data/protocall.db\"|url = \"sqlite://$dir/state/protocall.db\"|" \
      -e "s|^dialplans = \"dialplans\"|dialplans = \"$dir/dialplans\"|" \
      -e "s|^# ura_uri = .*|ura_uri = \"sip:ura@$URA_HOSTPORT\"|" \
      -e 's|^trusted_peers = \[\]|trusted_peers = ["127.0.0.1"]|' \
      -e 's|^skip_busy = true|skip_busy = false|' \
      -e "s|^journal_dir = \"data/journal\"|journal_dir = \"$dir/state/journal\"|" \
      -e 's|^level = "info"|level = "warn"|' \
      "$co/config/protocall.toml" >"$cfg"
  # every substitution must have happened (the shipped file may change)
  for k in "${keys[@]}"; do
    grep -qF "$k" "$cfg" || { echo "config template changed: could not set $k in $cfg" >&2; exit 2; }
  done
  "${BIN[$name]}" check --config "$cfg" >/dev/null || { echo "protocall check rejected $cfg" >&2; exit 2; }
}

# ---- protocall start/stop, by PID -----------------------------------------------------
PC_PID=""
port_busy() {  # port_busy PORT -> something listens on 127.0.0.1:PORT (udp or tcp)
  local hex; hex=$(printf '%04X' "$1")
  grep -q "0100007F:$hex " /proc/net/udp || awk -v h="0100007F:$hex" '$2 == h && $4 == "0A" {f=1} END {exit !f}' /proc/net/tcp
}
pc_start() {  # pc_start NAME LOGFILE
  local p
  for p in "${PC_SIP##*:}" "${PC_HTTP##*:}"; do
    if port_busy "$p"; then echo "127.0.0.1:$p already in use" >&2; exit 3; fi
  done
  "${BIN[$1]}" serve --config "$WORK/$1/protocall.toml" >"$2" 2>&1 &
  PC_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://$PC_HTTP/healthz" >/dev/null 2>&1 && break
    kill -0 "$PC_PID" 2>/dev/null || { cat "$2" >&2; echo "protocall did not start" >&2; exit 4; }
    sleep 0.1
  done
  curl -fs "http://$PC_HTTP/healthz" >/dev/null || { echo "protocall /healthz not ok" >&2; exit 4; }
}
STOPPED_IN=""
pc_stop() {  # TERM, then KILL after STOP_WAIT_S; STOPPED_IN = seconds it took ("killed" if it had to be)
  [ -n "$PC_PID" ] || return 0
  local t0 t
  STOPPED_IN=""
  if kill -0 "$PC_PID" 2>/dev/null; then
    t0=$(date +%s.%N)
    kill -TERM "$PC_PID" 2>/dev/null || true
    for _ in $(seq $((STOP_WAIT_S * 10))); do kill -0 "$PC_PID" 2>/dev/null || break; sleep 0.1; done
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    if kill -0 "$PC_PID" 2>/dev/null; then
      log "protocall $PC_PID ignored TERM for ${STOP_WAIT_S} s: KILL"; kill -KILL "$PC_PID" 2>/dev/null || true
      STOPPED_IN=killed
    else
      STOPPED_IN=$t
    fi
  else
    log "protocall $PC_PID had already exited"
  fi
  wait "$PC_PID" 2>/dev/null || true
  PC_PID=""
}
TABLE_DONE=0
finish() {
  pc_stop
  if [ "$TABLE_DONE" = 0 ] && [ -s "${STEPS:-/nonexistent}" ] && [ "$(wc -l <"$STEPS")" -gt 1 ]; then
    log "interrupted: table of the steps done so far"
    python3 "$HERE/desk_table.py" "$STEPS" "$SUMMARY" "${NAMES[@]}" | tee "$WORK/table.md" || true
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- per build: config, dialplan, a seeded database ----------------------------------------
seed() {  # seed NAME: WORK/NAME/seed.db = migrated, directory imported, consultants, protocols
  local name=$1 bin=${BIN[$1]} dir="$WORK/$1" cfg="$WORK/$1/protocall.toml" token
  rm -rf "$dir/state"; mkdir -p "$dir/state"
  "$bin" migrate --config "$cfg" >/dev/null
  "$bin" import --config "$cfg" "$WORK/directory.csv" >"$dir/import.json" ||
    { cat "$dir/import.json" >&2; echo "$name: directory import failed" >&2; exit 4; }
  token=$("$bin" token create --name bench --config "$cfg" 2>/dev/null)
  pc_start "$name" "$dir/seed.log"
  python3 "$HERE/desk_seed.py" "http://$PC_HTTP" "$token" "$WORK/data/bench.db" "$CONSULTANTS" "127.0.0.1:$OWNER_PORT" >&2 ||
    { echo "$name: seeding through the API failed" >&2; exit 4; }
  pc_stop
  rm -f "$dir/seed.db"
  sqlite3 "$dir/state/protocall.db" ".backup '$dir/seed.db'"
  log "$name: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["providers_created"], "providers,", r["numbers_added"], "numbers imported")' "$dir/import.json"); seed $dir/seed.db"
}
for name in "${NAMES[@]}"; do write_config "$name"; seed "$name"; done

# SIPp wrapper: adds -trace_rtt to the UAC only (as bench/run.sh)
mkdir -p "$WORK/bin"
cat >"$WORK/bin/sipp" <<'EOF'
#!/bin/sh
case "$*" in *uac.xml*) exec /usr/bin/sipp "$@" -trace_rtt -rtt_freq 100 ;; esac
exec /usr/bin/sipp "$@"
EOF
chmod +x "$WORK/bin/sipp"
HPATH="$PATH"; [ "$RTT_TRACE" = 1 ] && HPATH="$WORK/bin:$PATH"

# ---- the steps --------------------------------------------------------------------------------
STEPS="$WORK/steps.tsv"
printf 'build\trate\tout\tstatus\n' >"$STEPS"
export SUMMARY="$WORK/summary.tsv" RUNS_DIR="$WORK/runs" NOISY_PCT
n=0
OUT=""
register_all() {  # REGISTER every consultant with digest from the owner UAS's port, one bounded SIPp each
  local k user
  for k in $(seq "$CONSULTANTS"); do
    user="consultant-$k"    # password: desk_seed.py's password_of
    sipp -sf "$REPO/tests/sipp/register_auth.xml" "$PC_SIP" -i 127.0.0.1 -p "$OWNER_PORT" \
      -m 1 -timeout 10s -timeout_error -nostdin -s "$user" -au "$user" -ap "bench-$user-pw" \
      -key expires 3600 >"$1.register.out" 2>&1 ||
      { tail -20 "$1.register.out" >&2 || true; echo "REGISTER of $user failed" >&2; exit 4; }
  done
  rm -f "$1.register.out"
}
one_step() {  # one_step NAME RATE: fresh database copy, fresh proxy, registrations, one harness run
  local name=$1 rate=$2 db="$WORK/$1/state/protocall.db"
  n=$((n + 1))
  OUT="$WORK/runs/$(printf '%02d' "$n")-r$rate-$name"
  rm -rf "$WORK/$name/state"; mkdir -p "$WORK/$name/state"
  cp "$WORK/$name/seed.db" "$db"; chmod 600 "$db"
  pc_start "$name" "$OUT.protocall.log"
  register_all "$OUT"
  log "step $n: $name (pid $PC_PID) at $rate cps x ${DURATION}s"
  # contacts are the harness' "accounting rows": counted COUNT_AFTER_S after the load
  env PATH="$HPATH" RATE="$rate" COUNT="$((rate * DURATION))" OUT="$OUT" \
    PROXY="$PC_SIP" START_PROXY=none PROXY_PIDS="$PC_PID" \
    ACC_DB="$db" ACC_SQL="SELECT count(*) FROM contacts WHERE source = 'call'" SETTLE_S="$COUNT_AFTER_S" \
    "$PEER/run.sh" >"$OUT.txt" 2>&1 || log "step $n: run.sh exit $?"
  sed -n '/^== /,$p' "$OUT.txt" >&2
  curl -fs "http://$PC_HTTP/metrics" >"$OUT.metrics" 2>/dev/null || true
  kill -0 "$PC_PID" 2>/dev/null || log "protocall died during step $n"
  pc_stop
  echo "$STOPPED_IN" >"$OUT.stop"
  # after the proxy stopped: the call log (rows, answered by the owner, by the
  # URA) and the contacts made from calls (all, done)
  sqlite3 -separator ' ' "$db" "SELECT count(*), coalesce(sum(route = 'owner' AND outcome = 'answered'), 0),
    coalesce(sum(route = 'ura' AND outcome = 'answered'), 0),
    (SELECT count(*) FROM contacts WHERE source = 'call'),
    (SELECT count(*) FROM contacts WHERE source = 'call' AND status = 'done') FROM calls" >"$OUT.calls" 2>/dev/null || true
  # a step's database is ~100 MB at these rates: kept only with KEEP_DB=1
  if [ "$KEEP_DB" = 1 ]; then mv "$WORK/$name/state" "$OUT.state"; fi
  rm -rf "$WORK/$name/state"
  sleep "$PAUSE_S"
}
builds_running() {  # a cargo/rustc process anywhere on the VM (read-only look at /proc)
  local c
  for c in /proc/[0-9]*/comm; do
    case "$(cat "$c" 2>/dev/null)" in cargo|rustc|cargo-clippy|clippy-driver) return 0 ;; esac
  done
  return 1
}
wait_quiet() {
  [ "$QUIET_WAIT_S" -gt 0 ] || return 0
  local t=0
  while builds_running && [ "$t" -lt "$QUIET_WAIT_S" ]; do
    [ "$t" = 0 ] && log "a cargo/rustc process is running: waiting up to ${QUIET_WAIT_S}s"
    sleep 5; t=$((t + 5))
  done
  builds_running && log "still a cargo/rustc process after ${QUIET_WAIT_S}s: the step runs anyway (noisy)"
  return 0
}
last_other_cpu() {  # "other" CPU (% of a core) of the last harness run: busy - proxy - SIPp
  tail -1 "$SUMMARY" | awk -F'\t' '{gsub(/%/,""); split($17, b, "/"); printf "%.0f", b[1] - $13 - $14 - $15 - $16}'
}
for rate in $RATES; do
  for rep in $(seq "$REPEATS"); do
    order=("${NAMES[@]}")
    if [ $((rep % 2)) = 0 ]; then order=(); for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do order+=("${NAMES[$i]}"); done; fi
    for name in "${order[@]}"; do
      try=0
      while :; do
        wait_quiet
        one_step "$name" "$rate"
        other=$(last_other_cpu 2>/dev/null || echo 0)
        if [ "${other:-0}" -gt "$NOISY_PCT" ] && [ "$try" -lt "$RETRY_NOISY" ]; then
          try=$((try + 1))
          log "step $n: other CPU ${other}% > ${NOISY_PCT}%: something else ran, repeating ($try/$RETRY_NOISY)"
          printf '%s\t%s\t%s\t%s\n' "$name" "$rate" "$OUT" "noisy-repeated" >>"$STEPS"
          continue
        fi
        printf '%s\t%s\t%s\t%s\n' "$name" "$rate" "$OUT" "$([ "${other:-0}" -gt "$NOISY_PCT" ] && echo noisy || echo ok)" >>"$STEPS"
        break
      done
    done
  done
done

python3 "$HERE/desk_table.py" "$STEPS" "$SUMMARY" "${NAMES[@]}" | tee "$WORK/table.md"
TABLE_DONE=1
log "all outputs: $WORK (table.md, steps.tsv, summary.tsv, runs/)"
