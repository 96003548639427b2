#!/usr/bin/env python3
"""Side-by-side table of bench/run.sh steps.

usage: table.py STEPS.tsv SUMMARY.tsv

STEPS.tsv (variant, workers, rate, out) is written by bench/run.sh; SUMMARY.tsv
is the peer harness' one-line-per-run file. Per step it also reads OUT.txt
(the harness report), OUT/uac_*_rtt.csv (SIPp -trace_rtt: one INVITE->200
time per answered call, in ms, quantised to SIPp's clock tick) and, for
protocall, OUT.metrics (its /metrics after the step).
"""
import csv, glob, math, os, re, sys

steps = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
summ = {r["out"]: r for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")} if os.path.exists(sys.argv[2]) else {}


def pct(sorted_vals, q):  # nearest-rank percentile
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def rtt(out):
    vals = []
    for path in glob.glob(os.path.join(out, "uac_*_rtt.csv")):
        with open(path) as f:
            next(f, None)
            for line in f:
                p = line.strip().split(";")
                if len(p) >= 2:
                    try:
                        vals.append(float(p[1]))
                    except ValueError:
                        pass
    vals.sort()
    return vals


def report_field(out, label):
    try:
        for line in open(out + ".txt"):
            if line.startswith(label):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def setup_hist(metrics):  # protocall_call_setup_seconds buckets -> (p50, p99) upper bounds in ms
    b = []
    try:
        for line in open(metrics):
            m = re.match(r'protocall_call_setup_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
            if m:
                b.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), float(m.group(2))))
    except OSError:
        return None
    if not b or b[-1][1] == 0:
        return None
    tot = b[-1][1]
    res = []
    for q in (0.5, 0.99):
        for le, c in b:
            if c >= q * tot:
                res.append(le * 1000)
                break
    return res, int(tot)


NOISY = int(os.environ.get("NOISY_PCT", "30"))  # "other" CPU above this (% of a core): something else ran during the step


def sipp_cpu(r):
    try:
        return f"{sum(float(r[k].rstrip('%')) for k in ('cpu_uac', 'cpu_ura', 'cpu_owner')):.0f}%"
    except (KeyError, ValueError):
        return "?"


def other_cpu(r):  # machine busy - proxy - SIPp (3 processes): everything else on the VM
    try:
        n = lambda k: float(r[k].rstrip("%").split("%")[0])
        o = n('cpu_machine_busy') - n('cpu_proxy') - n('cpu_uac') - n('cpu_ura') - n('cpu_owner')
        return f"{o:.0f}%" + (" ⚠" if o > NOISY else "")
    except (KeyError, ValueError):
        return "?"


def fmt(v, d=0):
    return "–" if v is None else f"{v:.{d}f}"


rows, discarded = [], []
for s in steps:
    out = s["out"]
    r = summ.get(os.path.basename(out), {})
    v = rtt(out)
    retr = report_field(out, "retransmissions").split(" ")[0]
    name = s["variant"] + (f" w{s['workers']}" if s["variant"] == "protocall" else f" n{s['workers']}")
    (discarded if s.get("status") == "noisy-repeated" else rows).append(dict(
        name=name, variant=s["variant"], workers=s["workers"], rate=int(s["rate"]), out=out,
        ok=r.get("succeeded", "?"), att=r.get("attempted", "?"),
        fail=float(r["fail_pct"]) if r.get("fail_pct") else None,
        cps=float(r["achieved_cps"]) if r.get("achieved_cps") else None,
        mean_h=r.get("invite200_ms", ""),
        mean=(sum(v) / len(v)) if v else None, p50=pct(v, 50), p99=pct(v, 99), p999=pct(v, 99.9),
        mx=v[-1] if v else None, n_rtt=len(v),
        other=other_cpu(r), sipp=sipp_cpu(r),
        cpu=r.get("cpu_proxy", "?"), busy=r.get("cpu_machine_busy", "?").split("/")[0], steal=r.get("steal", "?"),
        rss=r.get("rss_max_mib", "?"), pss=r.get("pss_max_mib", "?"), drops=r.get("udp_drops", "?"),
        acc=r.get("acc_rows", "?"), retr=retr,
        hist=setup_hist(out + ".metrics") if s["variant"] == "protocall" else None,
    ))

print("INVITE->200 from SIPp -trace_rtt (per answered call; SIPp's clock has a coarse tick, see README);")
print("CPU in % of one core during the load phase (machine: 200 %): proxy; SIPp = UAC + 2 UAS; other = machine busy")
print("(capacity - idle) - proxy - SIPp, i.e. kernel work not charged to a process plus anything else running on the VM.")
print("Memory = max of 1 s samples.")
print()
print("| proxy | offered cps | succeeded/attempted | % not ok | achieved cps | INVITE→200 mean / p50 / p99 / p99.9 / max (ms) | proxy CPU | SIPp CPU | other CPU | steal | peak RSS MiB | peak PSS MiB | UDP drops | UAC retrans | acc rows |")
print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for x in sorted(rows, key=lambda x: (x["rate"], x["out"])):
    lat = f"{fmt(x['mean'], 1)} / {fmt(x['p50'])} / {fmt(x['p99'])} / {fmt(x['p999'])} / {fmt(x['mx'])}" if x["n_rtt"] else f"mean {x['mean_h']} (harness)"
    print(f"| {x['name']} | {x['rate']} | {x['ok']}/{x['att']} | {fmt(x['fail'], 3)} | {fmt(x['cps'], 1)} | {lat} | {x['cpu']} | {x['sipp']} | {x['other']} | {x['steal']} | {x['rss']} | {x['pss']} | {x['drops']} | {x['retr']} | {x['acc']} |")

if discarded:
    print()
    print("Discarded and repeated (other CPU too high: something else ran on the VM):")
    for x in discarded:
        print(f"  {x['name']} @ {x['rate']}: {x['ok']}/{x['att']} ok, {fmt(x['fail'], 3)} % not ok, achieved {fmt(x['cps'], 1)}, other CPU {x['other']}  ({os.path.basename(x['out'])})")
if any("⚠" in x["other"] for x in rows):
    print()
    print(f"⚠ = other CPU > {NOISY} % of a core (quiet steps show 10-20 %): the step shared the VM with something else; rerun it.")
print()
print("Sustained (the peer's rule: < 0.1 % not successful and achieved >= 95 % of offered, every step at that rate):")
for name in sorted({x["name"] for x in rows}):
    rs = [x for x in rows if x["name"] == name]
    ok = lambda x: x["fail"] is not None and x["cps"] is not None and x["fail"] < 0.1 and x["cps"] >= 0.95 * x["rate"]
    rates = sorted({x["rate"] for x in rs})
    good = [q for q in rates if all(ok(x) for x in rs if x["rate"] == q)]
    passed = ", ".join(f"{q}:{'ok' if q in good else 'FAIL'}" for q in rates)
    print(f"  {name:18s} {passed}  -> max sustained {max(good) if good else 'none'}")

h = [x for x in rows if x["hist"]]
if h:
    print()
    print("protocall's own call-setup histogram (INVITE received -> 2xx forwarded, /metrics, bucket upper bounds):")
    for x in sorted(h, key=lambda x: (x["rate"], x["out"])):
        (p50, p99), n = x["hist"]
        print(f"  {x['name']} @ {x['rate']}: n={n} p50 <= {p50:g} ms, p99 <= {p99:g} ms")
