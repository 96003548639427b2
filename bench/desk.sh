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
# call log and the contacts journal (SQLite or PostgreSQL store). The peer harness
# (PEER/run.sh, read-only, unchanged) checks per call that consulting callers
# reach their protocol owner (owner UAS, Request-URI user consultant-K) and
# the others the URA. See bench/README.md, "Edge protection on the desk path".
# With STORE=postgres the same run is made with protocall on PostgreSQL.
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
#   STORE=sqlite        protocall's store: sqlite (a file per step) or postgres
#   PG_URL=postgres://postgres@127.0.0.1:5432/test   (STORE=postgres) admin connection
#                       (loopback); per build desk.sh creates (dropping it first)
#                       protocall_bench_<build>_seed, and per step
#                       protocall_bench_<build>_step from it as TEMPLATE; it drops
#                       both at the end (with KEEP_DB=1 each step's database is
#                       kept as protocall_bench_<build>_s<step> and the seed too)
#   COUNT_AFTER_S=4     contacts in the database are counted this long after the load
#                       (the end of the load = the SIPp UAC exited: the harness
#                       touches OUT/.load_done then)
#   KEEP_DB=0           1: keep each step's database and journal (OUT.state/)
#   STOP_WAIT_S=180     after the step, wait this long for protocall to stop on TERM
#                       (it drains the contacts journal first), then KILL
#   PEER=/work/shared/bench-peer   WORK=/tmp/protocall-desk-<time>
#   PC_SIP=127.0.0.1:5070 PC_HTTP=127.0.0.1:18080   protocall listen addresses
#   RTT_TRACE=1 PAUSE_S=3 QUIET_WAIT_S=0 RETRY_NOISY=0 NOISY_PCT=30   as in bench/run.sh
#
# Every step: a fresh copy of the build's seeded database, a fresh protocall
# process (stopped by its PID), CONSULTANTS digest REGISTERs, one bounded PEER/run.sh.
#
# Contacts: with STORE=sqlite the harness counts them (its "accounting rows",
# ACC_DB, SETTLE_S = COUNT_AFTER_S). It can only read SQLite, so for both
# stores desk.sh also runs a sampler from the end of the load (OUT/.load_done,
# which the harness touches once the UAC has exited) until protocall has
# stopped: every 0.5 s, at load end + k/2 s, the contacts from calls and the
# journal's size into OUT.counts. With STORE=postgres the contacts figure is
# its sample k = 2*COUNT_AFTER_S; for both, "drained" is the first sample that
# holds as many contacts as the database has after protocall stopped.
# Per step also: OUT.calls (call log and contacts after the stop), OUT.journal
# (bytes in the journal directory after the stop), OUT.term (when SIGTERM was sent).
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
STORE="${STORE:-sqlite}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
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
case "$STORE" in
  sqlite) ;;
  postgres)
    command -v psql >/dev/null || { echo "STORE=postgres needs psql" >&2; exit 2; }
    [[ "$PG_URL" =~ ^postgres(ql)?://([^/@]*@)?([^/:?]+|\[[^]/]+\])(:[0-9]+)?/[^/?]+ ]] ||
      { echo "PG_URL must be postgres://[user[:password]@]host[:port]/database, got $PG_URL" >&2; exit 2; }
    case "${BASH_REMATCH[3]}" in 127.*|localhost|"[::1]") ;; *) echo "PG_URL must be on loopback, got host ${BASH_REMATCH[3]}" >&2; exit 2 ;; esac
    psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c 'SELECT 1' >/dev/null ||
      { echo "cannot connect to PostgreSQL at PG_URL=$PG_URL" >&2; exit 2; } ;;
  *) echo "STORE must be sqlite or postgres, got $STORE" >&2; exit 2 ;;
esac
# protocall reads DATABASE_URL and PROTOCALL__STORE__URL over store.url: the
# configs written here must be the ones used
unset DATABASE_URL PROTOCALL__STORE__URL

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
  # PostgreSQL names are at most 63 bytes: protocall_bench_NAME_seed
  [ "$STORE" = sqlite ] || [ "${#name}" -le 42 ] || { echo "BUILDS: name $name too long for STORE=postgres (42 characters at most)" >&2; exit 2; }
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
  if [ "$STORE" = postgres ]; then
    echo "STORE=postgres ($(psql -X -Atq "$PG_URL" -c 'SHOW server_version' 2>/dev/null) at ${PG_URL##*@})"
  else
    echo "STORE=sqlite ($(sqlite3 --version | cut -d' ' -f1) CLI; protocall's own SQLite is the one it is built with)"
  fi
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
# ---- PostgreSQL (STORE=postgres): only databases named protocall_bench_* made here ----------
pg_admin() { PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
pg_url_of() {  # pg_url_of DB: PG_URL with its database replaced by DB
  local u=${PG_URL%%\?*} q=""
  [ "$u" = "$PG_URL" ] || q="?${PG_URL#*\?}"
  echo "${u%/*}/$1$q"
}
seed_db() { echo "protocall_bench_$1_seed"; }
step_db() { echo "protocall_bench_$1_step"; }
PG_MADE=()     # databases this run created (dropped at the end unless KEEP_DB=1)
pg_drop() {  # pg_drop DB
  pg_admin -c "DROP DATABASE IF EXISTS \"$1\"" ||
    { echo "could not drop PostgreSQL database $1 (still in use?)" >&2; return 1; }
}
pg_create() {  # pg_create DB [TEMPLATE]: drop DB if it exists, create it (empty, or a copy of TEMPLATE)
  local i err
  pg_drop "$1" || exit 4
  # a template must have no open connections; a backend may take a moment to
  # go after its client (protocall) exited
  for i in $(seq 20); do
    if err=$(pg_admin -c "CREATE DATABASE \"$1\"${2:+ TEMPLATE \"$2\"}" 2>&1); then
      PG_MADE+=("$1"); return 0
    fi
    case "$err" in *"being accessed by other users"*) sleep 0.5 ;; *) break ;; esac
  done
  echo "$err" >&2; echo "could not create PostgreSQL database $1${2:+ from template $2}" >&2; exit 4
}
count_contacts() {  # count_contacts NAME: contacts made from calls in NAME's step database now ("?" if unreadable)
  local q="SELECT count(*) FROM contacts WHERE source = 'call'"
  if [ "$STORE" = postgres ]; then
    psql -X -Atq "$(pg_url_of "$(step_db "$1")")" -c "$q" 2>/dev/null || echo "?"
  else
    sqlite3 -cmd '.timeout 2000' "$WORK/$1/state/protocall.db" "$q" 2>/dev/null || echo "?"
  fi
}

write_config() {  # write_config NAME: WORK/NAME/protocall.toml from the checkout's shipped config
  # (STORE=postgres: store.url = the step database; protocall.seed.toml the same with the seed database)
  local name=$1 co=${CHECKOUT[$1]} dir="$WORK/$1" cfg="$WORK/$1/protocall.toml" url url_sed
  url="sqlite://$dir/state/protocall.db"
  [ "$STORE" = postgres ] && url=$(pg_url_of "$(step_db "$name")")
  url_sed=$(printf '%s' "$url" | sed 's/[&|\\]/\\&/g')
  mkdir -p "$dir/dialplans"
  # the shipped dialplan, open every day all day and without holidays, so the
  # run does not depend on the clock (as tests/sipp/routing.sh does)
  python3 "$REPO/tests/sipp/open_dialplan.py" "$co/dialplans/default.toml" "$dir/dialplans/default.toml"
  local keys=("listen = \"$PC_SIP\"" "udp_workers = $PC_WORKERS"
              "listen = \"$PC_HTTP\"" "url = \"$url\""
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
      -e "s|^url = \"sqlite://data/protocall.db\"|url = \"$url_sed\"|" \
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
  if [ "$STORE" = postgres ]; then
    url_sed=$(pg_url_of "$(seed_db "$name")" | sed 's/[&|\\]/\\&/g')
    sed "0,/^url = /s|^url = .*|url = \"$url_sed\"|" "$cfg" >"$dir/protocall.seed.toml"   # the first url: [store]'s
    grep -qF "url = \"$(pg_url_of "$(seed_db "$name")")\"" "$dir/protocall.seed.toml" ||
      { echo "could not write the seed database's url into $dir/protocall.seed.toml" >&2; exit 2; }
  fi
}

# ---- protocall start/stop, by PID -----------------------------------------------------
PC_PID=""
port_busy() {  # port_busy PORT -> something listens on 127.0.0.1:PORT (udp or tcp)
  local hex; hex=$(printf '%04X' "$1")
  grep -q "0100007F:$hex " /proc/net/udp || awk -v h="0100007F:$hex" '$2 == h && $4 == "0A" {f=1} END {exit !f}' /proc/net/tcp
}
pc_start() {  # pc_start NAME LOGFILE [CONFIG]
  local p
  for p in "${PC_SIP##*:}" "${PC_HTTP##*:}"; do
    if port_busy "$p"; then echo "127.0.0.1:$p already in use" >&2; exit 3; fi
  done
  "${BIN[$1]}" serve --config "${3:-$WORK/$1/protocall.toml}" >"$2" 2>&1 &
  PC_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://$PC_HTTP/healthz" >/dev/null 2>&1 && break
    kill -0 "$PC_PID" 2>/dev/null || { cat "$2" >&2; echo "protocall did not start" >&2; exit 4; }
    sleep 0.1
  done
  curl -fs "http://$PC_HTTP/healthz" >/dev/null || { echo "protocall /healthz not ok" >&2; exit 4; }
}
STOPPED_IN=""
TERM_AT=""
pc_stop() {  # TERM, then KILL after STOP_WAIT_S; STOPPED_IN = seconds it took ("killed" if it had to be); TERM_AT = when (epoch s)
  [ -n "$PC_PID" ] || return 0
  local t0 t
  STOPPED_IN=""; TERM_AT=""
  if kill -0 "$PC_PID" 2>/dev/null; then
    t0=$(date +%s.%N); TERM_AT=$t0
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
SAMPLER_PID=""
sampler_stop() {
  [ -n "$SAMPLER_PID" ] || return 0
  kill -TERM "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}
TABLE_DONE=0
finish() {
  pc_stop
  sampler_stop
  if [ "$STORE" = postgres ] && [ "$KEEP_DB" != 1 ] && [ "${#PG_MADE[@]}" -gt 0 ]; then
    local db
    for db in $(printf '%s\n' "${PG_MADE[@]}" | sort -u); do pg_drop "$db" || true; done
  fi
  if [ "$TABLE_DONE" = 0 ] && [ -s "${STEPS:-/nonexistent}" ] && [ "$(wc -l <"$STEPS")" -gt 1 ]; then
    log "interrupted: table of the steps done so far"
    python3 "$HERE/desk_table.py" "$STEPS" "$SUMMARY" "${NAMES[@]}" | tee "$WORK/table.md" || true
    TABLE_DONE=1
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- per build: config, dialplan, a seeded database ----------------------------------------
seed() {  # seed NAME: WORK/NAME/seed.db (STORE=postgres: database protocall_bench_NAME_seed) =
          # migrated, directory imported, consultants, protocols
  local name=$1 bin=${BIN[$1]} dir="$WORK/$1" cfg="$WORK/$1/protocall.toml" token where
  rm -rf "$dir/state"; mkdir -p "$dir/state"
  if [ "$STORE" = postgres ]; then
    cfg="$dir/protocall.seed.toml"
    pg_create "$(seed_db "$name")"
  fi
  "$bin" migrate --config "$cfg" >/dev/null
  "$bin" import --config "$cfg" "$WORK/directory.csv" >"$dir/import.json" ||
    { cat "$dir/import.json" >&2; echo "$name: directory import failed" >&2; exit 4; }
  token=$("$bin" token create --name bench --config "$cfg" 2>/dev/null)
  pc_start "$name" "$dir/seed.log" "$cfg"
  python3 "$HERE/desk_seed.py" "http://$PC_HTTP" "$token" "$WORK/data/bench.db" "$CONSULTANTS" "127.0.0.1:$OWNER_PORT" >&2 ||
    { echo "$name: seeding through the API failed" >&2; exit 4; }
  pc_stop   # (the seed database is a template from now on: no connection may stay open)
  if [ "$STORE" = postgres ]; then
    where="database $(seed_db "$name")"
  else
    rm -f "$dir/seed.db"
    sqlite3 "$dir/state/protocall.db" ".backup '$dir/seed.db'"
    where="$dir/seed.db"
  fi
  log "$name: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["providers_created"], "providers,", r["numbers_added"], "numbers imported")' "$dir/import.json"); seed $where"
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
printf 'build\trate\tout\tstatus\tstore\n' >"$STEPS"
export SUMMARY="$WORK/summary.tsv" RUNS_DIR="$WORK/runs" NOISY_PCT COUNT_AFTER_S
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
sampler() {  # sampler NAME OUT: from the load's end until stopped (by PID), every 0.5 s the
  # contacts from calls and the journal's bytes into OUT.counts; bounded on its own too
  local name=$1 out=$2 le k t c j
  # the harness touches OUT/.load_done once the SIPp UAC has exited (its
  # UAC_LIMIT_S = load + 60 s, then timeout's 10 s + 5 s)
  for _ in $(seq $(((DURATION + 150) * 10))); do
    [ -e "$out/.load_done" ] && break
    kill -0 "$$" 2>/dev/null || return 0
    sleep 0.1
  done
  [ -e "$out/.load_done" ] || return 0
  le=$(date -r "$out/.load_done" +%s.%N)
  printf '# load_end %s\n# slot\ts_after_load_end\tcontacts\tjournal_bytes\n' "$le" >"$out.counts"
  for k in $(seq 0 $(((COUNT_AFTER_S + STOP_WAIT_S + 150) * 2))); do
    kill -0 "$$" 2>/dev/null || return 0
    # slot k is due at load end + k/2 s; a slot already late is taken at once
    sleep "$(awk -v l="$le" -v k="$k" -v n="$(date +%s.%N)" 'BEGIN {d = l + k / 2 - n; printf "%.3f", (d > 0 ? d : 0)}')"
    t=$(date +%s.%N)
    c=$(count_contacts "$name")
    j=$(du -sb "$WORK/$name/state/journal" 2>/dev/null | cut -f1) || j=""
    printf '%s\t%s\t%s\t%s\n' "$k" "$(awk -v l="$le" -v t="$t" 'BEGIN {printf "%.2f", t - l}')" "$c" "${j:-0}" >>"$out.counts"
  done
}
one_step() {  # one_step NAME RATE: fresh database copy, fresh proxy, registrations, one harness run
  local name=$1 rate=$2 db="$WORK/$1/state/protocall.db" acc=()
  n=$((n + 1))
  OUT="$WORK/runs/$(printf '%02d' "$n")-r$rate-$name"
  rm -rf "$WORK/$name/state"; mkdir -p "$WORK/$name/state"
  if [ "$STORE" = postgres ]; then
    pg_create "$(step_db "$name")" "$(seed_db "$name")"
  else
    cp "$WORK/$name/seed.db" "$db"; chmod 600 "$db"
    # contacts are the harness' "accounting rows": counted COUNT_AFTER_S after the load
    acc=(ACC_DB="$db" ACC_SQL="SELECT count(*) FROM contacts WHERE source = 'call'")
  fi
  pc_start "$name" "$OUT.protocall.log"
  register_all "$OUT"
  log "step $n: $name (pid $PC_PID, $STORE) at $rate cps x ${DURATION}s"
  sampler "$name" "$OUT" &
  SAMPLER_PID=$!
  # SETTLE_S with either store: the harness waits as long after the load before
  # it stops its UAS and returns (the sampler counts meanwhile)
  env -u ACC_DB -u ACC_SQL PATH="$HPATH" RATE="$rate" COUNT="$((rate * DURATION))" OUT="$OUT" \
    PROXY="$PC_SIP" START_PROXY=none PROXY_PIDS="$PC_PID" SETTLE_S="$COUNT_AFTER_S" "${acc[@]}" \
    "$PEER/run.sh" >"$OUT.txt" 2>&1 || log "step $n: run.sh exit $?"
  sed -n '/^== /,$p' "$OUT.txt" >&2
  curl -fs "http://$PC_HTTP/metrics" >"$OUT.metrics" 2>/dev/null || true
  kill -0 "$PC_PID" 2>/dev/null || log "protocall died during step $n"
  pc_stop
  echo "$STOPPED_IN" >"$OUT.stop"
  echo "$TERM_AT" >"$OUT.term"
  # after the proxy stopped: the call log (rows, answered by the owner, by the
  # URA) and the contacts made from calls (all, done)
  if [ "$STORE" = postgres ]; then
    psql -X -Atq -F ' ' "$(pg_url_of "$(step_db "$name")")" -c "SELECT count(*),
      coalesce(sum(CASE WHEN route = 'owner' AND outcome = 'answered' THEN 1 ELSE 0 END), 0),
      coalesce(sum(CASE WHEN route = 'ura' AND outcome = 'answered' THEN 1 ELSE 0 END), 0),
      (SELECT count(*) FROM contacts WHERE source = 'call'),
      (SELECT count(*) FROM contacts WHERE source = 'call' AND status = 'done') FROM calls" >"$OUT.calls" 2>/dev/null || true
  else
    sqlite3 -separator ' ' "$db" "SELECT count(*), coalesce(sum(route = 'owner' AND outcome = 'answered'), 0),
      coalesce(sum(route = 'ura' AND outcome = 'answered'), 0),
      (SELECT count(*) FROM contacts WHERE source = 'call'),
      (SELECT count(*) FROM contacts WHERE source = 'call' AND status = 'done') FROM calls" >"$OUT.calls" 2>/dev/null || true
  fi
  # a last sample after the stop (the sampler is at most 0.5 s behind), then the sampler goes
  sleep 0.6
  sampler_stop
  # the journal after the stop (what the drain left on disk), before it is deleted
  { du -sb "$WORK/$name/state/journal" 2>/dev/null || echo 0; } | cut -f1 >"$OUT.journal"
  # a step's database is ~100 MB at these rates: kept only with KEEP_DB=1
  if [ "$KEEP_DB" = 1 ]; then
    mv "$WORK/$name/state" "$OUT.state"
    if [ "$STORE" = postgres ]; then
      local keep; keep="protocall_bench_${name}_s$(printf '%02d' "$n")"
      pg_drop "$keep" || exit 4
      pg_admin -c "ALTER DATABASE \"$(step_db "$name")\" RENAME TO \"$keep\"" || { echo "could not keep the step database as $keep" >&2; exit 4; }
      PG_MADE+=("$keep")
      log "step $n: database kept as $keep"
    fi
  fi
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
          printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rate" "$OUT" "noisy-repeated" "$STORE" >>"$STEPS"
          continue
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rate" "$OUT" "$([ "${other:-0}" -gt "$NOISY_PCT" ] && echo noisy || echo ok)" "$STORE" >>"$STEPS"
        break
      done
    done
  done
done

python3 "$HERE/desk_table.py" "$STEPS" "$SUMMARY" "${NAMES[@]}" | tee "$WORK/table.md"
TABLE_DONE=1
log "all outputs: $WORK (table.md, steps.tsv, summary.tsv, runs/)"
