#!/usr/bin/env python3
"""Tables of bench/desk.sh steps: every step, then the median per build and
rate with each build's ratio to the first one.

usage: desk_table.py STEPS.tsv SUMMARY.tsv BUILD...

STEPS.tsv (build, rate, out, status[, store]) is written by bench/desk.sh;
SUMMARY.tsv is the peer harness' one-line-per-run file, in which (STORE=sqlite)
the "accounting rows" are the contacts in protocall's database COUNT_AFTER_S
after the load. Per step it also reads OUT.calls (call log after the step:
rows, owner answered, URA answered, contacts), OUT.counts (desk.sh's sampler:
contacts every 0.5 s from the load's end; the contacts figure when the
harness has none, i.e. STORE=postgres, and the "drained" time), OUT.term
(SIGTERM time), OUT.journal (journal bytes after the stop) and
OUT/uac_*_rtt.csv (SIPp -trace_rtt). COUNT_AFTER_S comes from the environment
(default 4).
"""
import csv, glob, math, os, statistics, sys

steps = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
summ = {r["out"]: r for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")} if os.path.exists(sys.argv[2]) else {}
builds = sys.argv[3:]
NOISY = int(os.environ.get("NOISY_PCT", "30"))
AFTER = int(os.environ.get("COUNT_AFTER_S", "4"))


def num(s):
    try:
        return float(str(s).rstrip("%").split("%")[0])
    except ValueError:
        return None


def rtt(out):  # INVITE->200 per answered call (ms), SIPp's coarse clock tick
    vals = []
    for path in glob.glob(os.path.join(out, "uac_*_rtt.csv")):
        with open(path) as f:
            next(f, None)
            for line in f:
                p = line.strip().split(";")
                if len(p) >= 2 and num(p[1]) is not None:
                    vals.append(num(p[1]))
    return sorted(vals)


def pct(v, q):  # nearest rank
    return v[max(0, min(len(v) - 1, math.ceil(q / 100 * len(v)) - 1))] if v else None


def metric_sum(path, name):  # sum of a counter's samples in a /metrics scrape; None when absent
    total = None
    try:
        for line in open(path):
            if line.startswith(name) and line[len(name)] in " {":
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
    except (OSError, IndexError, ValueError):
        return None
    return total


def samples(out):  # desk.sh's sampler: (load end epoch, [(slot, s after load end, contacts, journal bytes)])
    le, rows = None, []
    try:
        for line in open(out + ".counts"):
            p = line.split()
            if line.startswith("# load_end") and len(p) >= 3:
                le = float(p[2])
            elif not line.startswith("#") and len(p) == 4 and p[0].isdigit():
                rows.append((int(p[0]), float(p[1]), int(p[2]) if p[2].isdigit() else None, int(p[3]) if p[3].isdigit() else None))
    except (OSError, ValueError):
        pass
    return le, rows


def read_num(path):
    try:
        return float(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def fmt(v, d=0):
    return "–" if v is None else f"{v:.{d}f}"


rows, noisy_repeated = [], []
for s in steps:
    out = s["out"]
    r = summ.get(os.path.basename(out), {})
    try:
        log_rows, owner_ok, ura_ok, contacts_end, done_end = (int(x) for x in open(out + ".calls").read().split())
    except (OSError, ValueError):
        log_rows = owner_ok = ura_ok = contacts_end = done_end = None
    att, ok = num(r.get("attempted", "")), num(r.get("succeeded", ""))
    busy = num(r.get("cpu_machine_busy", ""))
    parts = [num(r.get(k, "")) for k in ("cpu_proxy", "cpu_uac", "cpu_ura", "cpu_owner")]
    other = busy - sum(parts) if busy is not None and None not in parts else None
    v = rtt(out)
    mfile = out + ".metrics"
    try:
        stop = open(out + ".stop").read().strip() or "?"
    except OSError:
        stop = "?"
    x = dict(stop=stop, ev_drop=metric_sum(mfile, "protocall_dialog_events_dropped_total"),
             edge_drop=metric_sum(mfile, "protocall_requests_dropped_total"),
             build=s["build"], rate=int(s["rate"]), out=os.path.basename(out), status=s["status"],
             att=att, ok=ok, failed=(att - ok) if att is not None and ok is not None else None,
             fail_pct=num(r.get("fail_pct", "")), cps=num(r.get("achieved_cps", "")),
             p50=pct(v, 50), p99=pct(v, 99), cpu=parts[0], other=other, steal=r.get("steal", "?"),
             rss=num(r.get("rss_max_mib", "")), drops=r.get("udp_drops", "?"),
             contacts=num(r.get("acc_rows", "")), contacts_end=contacts_end, done_end=done_end, log_rows=log_rows, owner_ok=owner_ok, ura_ok=ura_ok)
    le, smp = samples(out)
    # the harness' count (SQLite); else the sampler's slot at COUNT_AFTER_S
    if x["contacts"] is None:
        x["contacts"] = next((c for k, _, c, _ in smp if k == 2 * AFTER), None)
    x["journal_after"] = next((j for k, _, _, j in smp if k == 2 * AFTER), None)
    x["journal_end"] = read_num(out + ".journal")
    # drained: the first sample with as many contacts as the database has after the stop
    term = read_num(out + ".term")
    x["term_s"] = term - le if term is not None and le is not None else None
    x["drained"] = x["drained_after_term"] = None
    if contacts_end is not None:
        hit = next(((k, t) for k, t, c, _ in smp if c is not None and c >= contacts_end), None)
        if hit is not None:
            x["drained_first"], hit = hit[0] == 0, hit[1]
            x["drained"] = hit
            x["drained_after_term"] = x["term_s"] is not None and hit > x["term_s"]
    x["store"] = s.get("store") or "sqlite"
    (noisy_repeated if s["status"] == "noisy-repeated" else rows).append(x)

stores = sorted({x["store"] for x in rows + noisy_repeated}) or ["sqlite"]
mib = lambda b: None if b is None else b / 1048576

def drained(x):
    if x["drained"] is None:
        return "–"
    # the first sample (slot 0, at the load's end) already had them all: "≤"
    return ("≤ " if x["drained_first"] else "") + fmt(x["drained"], 1) + (" †" if x["drained_after_term"] else "")


print(f"Store: {', '.join(stores)}")
print()
print("Every step (failed = attempted - succeeded, SIPp UAC; CPU in % of one core during the load, machine = 200 %;")
print("other = machine busy - proxy - SIPp; peak RSS = protocall's, sampled each second during the load (harness);")
print(f"contacts = contacts made from calls, in the database {AFTER} s after the load (SQLite: the harness' count,")
print("SETTLE_S; PostgreSQL: desk.sh's sample), and after the proxy stopped: all / done (= the owner answered and hung up);")
print("drained s = from the load's end until the database held all of them (0.5 s samples; ≤ = already at the load's end;")
print("† = only after SIGTERM);")
print("call log = rows in `calls` after the proxy stopped, answered by the owner / by the URA;")
print(f"journal MiB = the contacts journal directory {AFTER} s after the load / after the stop;")
print("dropped = protocall_dialog_events_dropped_total / protocall_requests_dropped_total (edge; – = no such metric);")
print("stop s = seconds from SIGTERM after the step to the process' exit (it drains the contacts journal first)):")
print()
print(f"| step | build | store | cps | succeeded/attempted | failed | achieved cps | INVITE→200 p50 / p99 ms | proxy CPU | other CPU | steal | peak RSS MiB | contacts {AFTER} s after | at end: all / done | drained s | journal MiB | call log: rows (owner / URA answered) | dropped: events / edge | UDP drops | stop s |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- | --- | ---: | ---: |")
for x in rows:
    flag = " ⚠" if x["other"] is not None and x["other"] > NOISY else ""
    print(f"| {x['out']} | {x['build']} | {x['store']} | {x['rate']} | {fmt(x['ok'])}/{fmt(x['att'])} | {fmt(x['failed'])} | {fmt(x['cps'], 1)} "
          f"| {fmt(x['p50'])} / {fmt(x['p99'])} | {fmt(x['cpu'])}% | {fmt(x['other'])}%{flag} | {x['steal']} | {fmt(x['rss'])} "
          f"| {fmt(x['contacts'])} | {fmt(x['contacts_end'])} / {fmt(x['done_end'])} | {drained(x)} | {fmt(mib(x['journal_after']), 1)} / {fmt(mib(x['journal_end']), 1)} "
          f"| {fmt(x['log_rows'])} ({fmt(x['owner_ok'])} / {fmt(x['ura_ok'])}) | {fmt(x['ev_drop'])} / {fmt(x['edge_drop'])} | {x['drops']} | {x['stop']} |")
if noisy_repeated:
    print()
    print("Discarded and repeated (other CPU above", NOISY, "%):", ", ".join(f"{x['out']} (other {fmt(x['other'])}%)" for x in noisy_repeated))


def med(xs, k):
    vals = [x[k] for x in xs if x[k] is not None]
    return statistics.median(vals) if vals else None


print()
print(f"Median per build and rate (n = steps, store {', '.join(stores)}); ratio = build / " + (builds[0] if builds else "?") + " at the same rate:")
print()
print(f"| cps | build | n | failed calls (each step) | proxy CPU % | ratio | peak RSS MiB | ratio | contacts {AFTER} s after | ratio | drained s | INVITE→200 p99 ms |")
print("| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for rate in sorted({x["rate"] for x in rows}):
    base = [x for x in rows if x["rate"] == rate and x["build"] == builds[0]] if builds else []
    for b in builds:
        xs = [x for x in rows if x["rate"] == rate and x["build"] == b]
        if not xs:
            continue
        ratio = lambda k: fmt(med(xs, k) / med(base, k), 2) if base and med(base, k) and med(xs, k) is not None else "–"
        print(f"| {rate} | {b} | {len(xs)} | {fmt(med(xs, 'failed'))} ({', '.join(fmt(x['failed']) for x in xs)}) "
              f"| {fmt(med(xs, 'cpu'))} | {ratio('cpu')} | {fmt(med(xs, 'rss'))} | {ratio('rss')} "
              f"| {fmt(med(xs, 'contacts'))} | {ratio('contacts')} | {fmt(med(xs, 'drained'), 1)} | {fmt(med(xs, 'p99'))} |")
