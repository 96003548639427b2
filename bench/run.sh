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
#   RTT_TRACE=1         per-call INVITE->200 times (SIPp -trace_rtt) for
#                       median/p99; 0 = only the harness' mean and buckets
#   PAUSE_S=3           pause between steps
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
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="$TARGET_DIR/release/protocall"

case "$PC_SIP" in 127.*) ;; *) echo "PC_SIP must be on 127.0.0.0/8" >&2; exit 2 ;; esac
case "$PC_HTTP" in 127.*) ;; *) echo "PC_HTTP must be on 127.0.0.0/8" >&2; exit 2 ;; esac
for r in $RATES; do [[ "$r" =~ ^[0-9]+$ ]] || { echo "bad rate $r" >&2; exit 2; }; done
for w in $PC_WORKERS; do [[ "$w" =~ ^[0-9]+$ ]] || { echo "bad PC_WORKERS $w" >&2; exit 2; }; done
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
OWNER_HOSTPORT=127.0.0.1:5082 "$PEER/make_db.sh" "$WORK/data" >/dev/null
{ echo "number,target"
  sqlite3 "$WORK/data/bench.db" \
    "SELECT number || ',' || owner_uri FROM caller_routing WHERE consulting = 1 ORDER BY number"
} >"$WORK/routes.csv"

pc_config() {  # pc_config WORKERS -> path of a config for that many UDP workers
  local w=$1 cfg="$WORK/protocall-w$1.toml"
  sed -e "s|^listen = \"0.0.0.0:5060\"|listen = \"$PC_SIP\"|" \
      -e "s|^udp_workers = .*|udp_workers = $w|" \
      -e "s|^# static_routes = .*|static_routes = \"$WORK/routes.csv\"|" \
      -e "s|^# static_default_target = .*|static_default_target = \"sip:ura@127.0.0.1:5081\"|" \
      -e "s|^listen = \"127.0.0.1:8080\"|listen = \"$PC_HTTP\"|" \
      -e "s|^url = \"sqlite://data/protocall.db\"|url = \"sqlite://$WORK/protocall.db\"|" \
      -e 's|^level = "info"|level = "warn"|' \
      "$REPO/config/protocall.toml" >"$cfg"
  # every substitution must have happened (the shipped file may change)
  for k in "listen = \"$PC_SIP\"" "udp_workers = $w" "static_routes = " "static_default_target = " \
           "listen = \"$PC_HTTP\"" "url = \"sqlite://$WORK/" 'level = "warn"'; do
    grep -qF "$k" "$cfg" || { echo "config template changed: could not set $k" >&2; exit 2; }
  done
  "$BIN" check --config "$cfg" >/dev/null
  echo "$cfg"
}

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
  local cfg; cfg=$(pc_config "$1")
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
trap pc_stop EXIT
trap 'exit 130' INT TERM

# ---- (d, e) the steps -----------------------------------------------------------------------
STEPS="$WORK/steps.tsv"
printf 'variant\tworkers\trate\tout\n' >"$STEPS"
export SUMMARY="$WORK/summary.tsv" RUNS_DIR="$WORK/runs" DURATION
n=0
run_step() {  # run_step VARIANT WORKERS RATE -- extra env for PEER/run.sh
  local variant=$1 w=$2 rate=$3; shift 4
  n=$((n + 1))
  local out; out="$WORK/runs/$(printf '%02d' "$n")-r$rate-$variant-w$w"
  printf '%s\t%s\t%s\t%s\n' "$variant" "$w" "$rate" "$out" >>"$STEPS"
  log "step $n: $variant ($w workers) at $rate cps x ${DURATION}s"
  env PATH="$HPATH" RATE="$rate" COUNT="$((rate * DURATION))" OUT="$out" "$@" \
    "$PEER/run.sh" >"$out.txt" 2>&1 || log "step $n: run.sh exit $?"
  sed -n '/^== /,$p' "$out.txt" >&2
}
for rate in $RATES; do
  for v in $VARIANTS; do
    case "$v" in
      protocall)
        for w in $PC_WORKERS; do
          pfx="$WORK/runs/$(printf '%02d' $((n + 1)))-r$rate-protocall-w$w"
          pc_start "$w" "$pfx.protocall.log"       # protocall's own stderr (level warn)
          # accounting: protocall writes none yet -> ACC_DB empty, the harness prints n/a
          run_step protocall "$w" "$rate" -- PROXY="$PC_SIP" START_PROXY=none PROXY_PIDS="$PC_PID" ACC_DB=
          curl -fs "http://$PC_HTTP/metrics" >"$pfx.metrics" 2>/dev/null || true
          kill -0 "$PC_PID" 2>/dev/null || log "protocall died during step $n"
          pc_stop
          sleep "$PAUSE_S"
        done ;;
      kamailio)
        run_step kamailio "$KAM_CHILDREN" "$rate" -- START_PROXY=kamailio CHILDREN="$KAM_CHILDREN" KAM_DEFINES= ACC_SQL="SELECT count(*) FROM acc"
        sleep "$PAUSE_S" ;;
      kamailio-noacc)
        run_step kamailio-noacc "$KAM_CHILDREN" "$rate" -- START_PROXY=kamailio CHILDREN="$KAM_CHILDREN" KAM_DEFINES=NO_ACC ACC_SQL="SELECT count(*) FROM acc"
        sleep "$PAUSE_S" ;;
      *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
  done
done

# ---- (f) side-by-side table ---------------------------------------------------------------------
python3 "$HERE/table.py" "$STEPS" "$SUMMARY" | tee "$WORK/table.md"
log "all outputs: $WORK (table.md, steps.tsv, summary.tsv, runs/)"
