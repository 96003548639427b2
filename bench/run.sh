#!/usr/bin/env bash
# protocall vs Kamailio: the same bounded SIP load, side by side, on loopback.
#
#   bench/run.sh                                   # RATES="1000 2000", 10 s each
#   RATES="1000 1500 2000 3000 4000" DURATION=20 bench/run.sh
#   PC_WORKERS="1 2" RATES=3000 VARIANTS=protocall bench/run.sh
#
# Uses the peer harness (PEER, read-only) unchanged: for every rate and every
# proxy variant it calls PEER/run.sh once (a fresh proxy per step), then prints
# one table for all steps. See bench/README.md.
#
# Parameters (environment):
#   RATES="1000 2000"   offered calls/s, one step per rate (repeats allowed)
#   DURATION=10         seconds of load per step (COUNT = RATE*DURATION calls)
#   VARIANTS="protocall kamailio kamailio-noacc"   what to run at each rate:
#                       protocall       protocall, once per PC_WORKERS value
#                       kamailio        the peer's Kamailio (acc to SQLite on)
#                       kamailio-noacc  the same with -A NO_ACC (no accounting,
#                                       like protocall today)
#   PC_WORKERS=2        protocall [sip] udp_workers values (e.g. "1 2")
#   KAM_CHILDREN=4      Kamailio UDP workers (the peer's default)
#   PEER=/work/shared/bench-peer   the harness (run.sh, make_db.sh, scenarios/)
#   WORK=/tmp/protocall-bench-<time>  db, routes, config, logs, all step outputs
#   SKIP_BUILD=0        1: use the existing binary
#   CARGO_TARGET_DIR    respected for the build and to find the binary
#   PC_SIP=127.0.0.1:5070 PC_HTTP=127.0.0.1:18080   protocall listen addresses
#   PC_CONFIG_TEMPLATE=config/protocall.toml  the config the bench config is
#                       derived from (must match the binary's config schema)
#   RTT_TRACE=1         per-call INVITE->200 times (SIPp -trace_rtt) for
#                       median/p99; 0 = only the harness' mean and buckets
#   PAUSE_S=3           pause between steps
#   QUIET_WAIT_S=0      before each step, wait up to this long while a cargo/rustc
#                       process runs on the VM (shared machine); 0 = don't
#   RETRY_NOISY=0       repeat a step (up to this many times) when its "other" CPU
#                       (machine busy - proxy - SIPp) exceeded NOISY_PCT=30 (% of a
#                       core): something else ran; the noisy step is listed apart
#
# Every step is bounded by the peer's run.sh (COUNT calls, load + 60 s hard
# limit); protocall is started here per step and stopped by its PID.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

RATES="${RATES:-1000 2000}"
DURATION="${DURATION:-10}"
VARIANTS="${VARIANTS:-protocall kamailio kamailio-noacc}"
PC_WORKERS="${PC_WORKERS:-2}"
KAM_CHILDREN="${KAM_CHILDREN:-4}"
PEER="${PEER:-/work/shared/bench-peer}"
WORK="${WORK:-/tmp/protocall-bench-$(date +%Y%m%d-%H%M%S)}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PC_SIP="${PC_SIP:-127.0.0.1:5070}"
PC_HTTP="${PC_HTTP:-127.0.0.1:18080}"
RTT_TRACE="${RTT_TRACE:-1}"
PAUSE_S="${PAUSE_S:-3}"
QUIET_WAIT_S="${QUIET_WAIT_S:-0}"
RETRY_NOISY="${RETRY_NOISY:-0}"
NOISY_PCT="${NOISY_PCT:-30}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="$TARGET_DIR/release/protocall"
TEMPLATE="${PC_CONFIG_TEMPLATE:-$REPO/config/protocall.toml}"

case "$PC_SIP" in 127.*) ;; *) echo "PC_SIP must be on 127.0.0.0/8" >&2; exit 2 ;; esac
case "$PC_HTTP" in 127.*) ;; *) echo "PC_HTTP must be on 127.0.0.0/8" >&2; exit 2 ;; esac
for r in $RATES; do [[ "$r" =~ ^[0-9]+$ ]] || { echo "bad rate $r" >&2; exit 2; }; done
for w in $PC_WORKERS $KAM_CHILDREN; do [[ "$w" =~ ^[0-9]+$ ]] || { echo "bad worker count $w" >&2; exit 2; }; done
for v in QUIET_WAIT_S RETRY_NOISY NOISY_PCT PAUSE_S; do [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be an integer" >&2; exit 2; }; done
[[ "$DURATION" =~ ^[0-9]+$ ]] || { echo "bad DURATION" >&2; exit 2; }
[ -x "$PEER/run.sh" ] || { echo "no harness at $PEER" >&2; exit 2; }

log() { echo "[bench] $*" >&2; }

# ---- (a) build -------------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release (target dir $TARGET_DIR)"
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release)
fi
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 2; }

# ---- (b) data, routes, config ------------------------------------------------------
mkdir -p "$WORK/runs"
log "work dir $WORK"
{ echo "binary: $BIN ($(stat -c '%y' "$BIN"))"
  echo "repo: $(git -C "$REPO" rev-parse HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "config template: $TEMPLATE"
  echo "RATES=$RATES DURATION=$DURATION VARIANTS=$VARIANTS PC_WORKERS=$PC_WORKERS KAM_CHILDREN=$KAM_CHILDREN"
} >"$WORK/info.txt"
OWNER_HOSTPORT=127.0.0.1:5082 "$PEER/make_db.sh" "$WORK/data" >/dev/null
{ echo "number,target"
  sqlite3 "$WORK/data/bench.db" \
    "SELECT number || ',' || owner_uri FROM caller_routing WHERE consulting = 1 ORDER BY number"
} >"$WORK/routes.csv"

write_config() {  # write_config WORKERS: WORK/protocall-wWORKERS.toml from TEMPLATE
  local w=$1 cfg="$WORK/protocall-w$1.toml" tdir
  tdir="$(cd "$(dirname "$TEMPLATE")/.." && pwd)"     # the template's checkout
  local keys=("listen = \"$PC_SIP\"" "udp_workers = $w" "static_routes = " "static_default_target = "
              "listen = \"$PC_HTTP\"" "url = \"sqlite://$WORK/" 'level = "warn"')
  # keys that only newer configs have: set them when the template has them
  # ([routing] trusted_peers: SIPp on 127.0.0.1 is the trusted carrier trunk;
  #  dialplans: relative to the working directory, made absolute)
  grep -q '^trusted_peers = ' "$TEMPLATE" && keys+=('trusted_peers = ["127.0.0.1"]')
  grep -q '^dialplans = "dialplans"' "$TEMPLATE" && keys+=("dialplans = \"$tdir/dialplans\"")
  grep -q '^journal_dir = "data/journal"' "$TEMPLATE" && keys+=("journal_dir = \"$WORK/journal\"")
  sed -e "s|^listen = \"0.0.0.0:5060\"|listen = \"$PC_SIP\"|" \
      -e "s|^udp_workers = .*|udp_workers = $w|" \
      -e "s|^# static_routes = .*|static_routes = \"$WORK/routes.csv\"|" \
      -e "s|^# static_default_target = .*|static_default_target = \"sip:ura@127.0.0.1:5081\"|" \
      -e "s|^listen = \"127.0.0.1:8080\"|listen = \"$PC_HTTP\"|" \
      -e "s|^url = \"sqlite://data/protocall.db\"|url = \"sqlite://$WORK/protocall.db\"|" \
      -e 's|^level = "info"|level = "warn"|' \
      -e 's|^trusted_peers = \[\]|trusted_peers = ["127.0.0.1"]|' \
      -e "s|^dialplans = \"dialplans\"|dialplans = \"$tdir/dialplans\"|" \
      -e "s|^journal_dir = \"data/journal\"|journal_dir = \"$WORK/journal\"|" \
      "$TEMPLATE" >"$cfg"
  # every substitution must have happened (the shipped file may change)
  for k in "${keys[@]}"; do
    grep -qF "$k" "$cfg" || { echo "config template changed: could not set $k in $cfg" >&2; exit 2; }
  done
  "$BIN" check --config "$cfg" >/dev/null || { echo "protocall check rejected $cfg" >&2; exit 2; }
}
for w in $PC_WORKERS; do write_config "$w"; done

# SIPp wrapper: adds -trace_rtt to the UAC only (per-call INVITE->200 times in
# $OUT/uac_<pid>_rtt.csv); exec keeps the PID the harness measures.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/sipp" <<'EOF'
#!/bin/sh
case "$*" in *uac.xml*) exec /usr/bin/sipp "$@" -trace_rtt -rtt_freq 100 ;; esac
exec /usr/bin/sipp "$@"
EOF
chmod +x "$WORK/bin/sipp"
HPATH="$PATH"; [ "$RTT_TRACE" = 1 ] && HPATH="$WORK/bin:$PATH"

# ---- (c) protocall start/stop, by PID ---------------------------------------------------
PC_PID=""
port_busy() {  # port_busy PORT -> something listens on 127.0.0.1:PORT (udp or tcp)
  local hex; hex=$(printf '%04X' "$1")
  grep -q "0100007F:$hex " /proc/net/udp || awk -v h="0100007F:$hex" '$2 == h && $4 == "0A" {f=1} END {exit !f}' /proc/net/tcp
}
pc_start() {  # pc_start WORKERS LOGFILE
  local cfg="$WORK/protocall-w$1.toml"
  for p in "${PC_SIP##*:}" "${PC_HTTP##*:}"; do
    if port_busy "$p"; then echo "127.0.0.1:$p already in use" >&2; exit 3; fi
  done
  "$BIN" serve --config "$cfg" >"$2" 2>&1 &
  PC_PID=$!
  for i in $(seq 100); do
    curl -fs "http://$PC_HTTP/healthz" >/dev/null 2>&1 && break
    kill -0 "$PC_PID" 2>/dev/null || { cat "$2" >&2; echo "protocall did not start" >&2; exit 4; }
    sleep 0.1
  done
  curl -fs "http://$PC_HTTP/healthz" >/dev/null || { echo "protocall /healthz not ok" >&2; exit 4; }
  log "protocall pid $PC_PID, udp_workers $1, on $PC_SIP"
}
pc_stop() {
  [ -n "$PC_PID" ] || return 0
  if kill -0 "$PC_PID" 2>/dev/null; then
    kill -TERM "$PC_PID" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$PC_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PC_PID" 2>/dev/null && { log "protocall $PC_PID ignored TERM for 10 s: KILL"; kill -KILL "$PC_PID" 2>/dev/null || true; }
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
    python3 "$HERE/table.py" "$STEPS" "$SUMMARY" | tee "$WORK/table.md" || true
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- (d, e) the steps -----------------------------------------------------------------------
STEPS="$WORK/steps.tsv"
printf 'variant\tworkers\trate\tout\tstatus\n' >"$STEPS"
export SUMMARY="$WORK/summary.tsv" RUNS_DIR="$WORK/runs" DURATION NOISY_PCT
n=0
LAST_OUT=""
run_step() {  # run_step VARIANT WORKERS RATE -- extra env for PEER/run.sh
  local variant=$1 w=$2 rate=$3; shift 4
  local out=$LAST_OUT
  log "step $n: $variant ($w workers) at $rate cps x ${DURATION}s"
  env PATH="$HPATH" RATE="$rate" COUNT="$((rate * DURATION))" OUT="$out" "$@" \
    "$PEER/run.sh" >"$out.txt" 2>&1 || log "step $n: run.sh exit $?"
  sed -n '/^== /,$p' "$out.txt" >&2
}
one_step() {  # one_step VARIANT WORKERS RATE: a fresh proxy, one harness run
  local v=$1 w=$2 rate=$3
  n=$((n + 1))
  LAST_OUT="$WORK/runs/$(printf '%02d' "$n")-r$rate-$v-w$w"
  case "$v" in
    protocall)
      pc_start "$w" "$LAST_OUT.protocall.log"       # protocall's own stderr (level warn)
      # accounting: protocall writes none yet -> ACC_DB empty, the harness prints n/a
      run_step protocall "$w" "$rate" -- PROXY="$PC_SIP" START_PROXY=none PROXY_PIDS="$PC_PID" ACC_DB=
      curl -fs "http://$PC_HTTP/metrics" >"$LAST_OUT.metrics" 2>/dev/null || true
      kill -0 "$PC_PID" 2>/dev/null || log "protocall died during step $n"
      pc_stop ;;
    kamailio)
      run_step kamailio "$w" "$rate" -- START_PROXY=kamailio CHILDREN="$w" KAM_DEFINES= ACC_SQL="SELECT count(*) FROM acc" ;;
    kamailio-noacc)
      run_step kamailio-noacc "$w" "$rate" -- START_PROXY=kamailio CHILDREN="$w" KAM_DEFINES=NO_ACC ACC_SQL="SELECT count(*) FROM acc" ;;
  esac
  sleep "$PAUSE_S"
}
builds_running() {  # a cargo/rustc process anywhere on the VM (read-only look at /proc)
  local c
  for c in /proc/[0-9]*/comm; do
    case "$(cat "$c" 2>/dev/null)" in cargo|rustc|cargo-clippy|clippy-driver) return 0 ;; esac
  done
  return 1
}
wait_quiet() {  # wait (bounded by QUIET_WAIT_S) while a build runs on the VM
  [ "$QUIET_WAIT_S" -gt 0 ] || return 0
  local t=0
  while builds_running && [ "$t" -lt "$QUIET_WAIT_S" ]; do
    [ "$t" = 0 ] && log "a cargo/rustc process is running: waiting up to ${QUIET_WAIT_S}s"
    sleep 5; t=$((t + 5))
  done
}
last_other_cpu() {  # "other" CPU (% of a core) of the last harness run: busy - proxy - SIPp
  tail -1 "$SUMMARY" | awk -F'\t' '{gsub(/%/,""); split($17, b, "/"); printf "%.0f", b[1] - $13 - $14 - $15 - $16}'
}
for rate in $RATES; do
  for v in $VARIANTS; do
    case "$v" in
      protocall) ws=$PC_WORKERS ;;
      kamailio|kamailio-noacc) ws=$KAM_CHILDREN ;;
      *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
    for w in $ws; do
      try=0
      while :; do
        wait_quiet
        one_step "$v" "$w" "$rate"
        other=$(last_other_cpu 2>/dev/null || echo 0)
        if [ "${other:-0}" -gt "$NOISY_PCT" ] && [ "$try" -lt "$RETRY_NOISY" ]; then
          try=$((try + 1))
          log "step $n: other CPU ${other}% > ${NOISY_PCT}%: something else ran, repeating ($try/$RETRY_NOISY)"
          printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$w" "$rate" "$LAST_OUT" "noisy-repeated" >>"$STEPS"
          continue
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$w" "$rate" "$LAST_OUT" "$([ "${other:-0}" -gt "$NOISY_PCT" ] && echo noisy || echo ok)" >>"$STEPS"
        break
      done
    done
  done
done

# ---- (f) side-by-side table ---------------------------------------------------------------------
python3 "$HERE/table.py" "$STEPS" "$SUMMARY" | tee "$WORK/table.md"
TABLE_DONE=1
log "all outputs: $WORK (table.md, steps.tsv, summary.tsv, runs/)"
