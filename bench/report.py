#!/usr/bin/env python3
"""bench/report.py OUTDIR SIZE_MIB REPS - medians, ratios, table and chart.

Reads OUTDIR/raw.csv (and files.csv if present), writes OUTDIR/results.md
and OUTDIR/swap.png (gnuplot). Ratios are against 'disk' and 'local' from
the same run, so machine noise between runs does not enter them.
"""
import csv
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict

out, size, reps = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(os.path.join(out, "raw.csv"))))
PHASES = ["seq_write", "seq_read", "rand"]
med = defaultdict(list)
swaps = defaultdict(lambda: [0, 0])
errors = 0
for r in rows:
    key = (r["backend"], int(r["limit_pct"]), int(r["threads"]), r["phase"])
    med[key].append(float(r["mb_s"]))
    errors += int(r["errors"])
    if r["phase"] == "seq_write":  # vmstat deltas are per run, same on every line
        swaps[r["backend"]][0] += int(r["pswpin"])
        swaps[r["backend"]][1] += int(r["pswpout"])
backends = list(dict.fromkeys(r["backend"] for r in rows))
SEALCMP = "tcp-r1" in backends and "tcp-r1-plain" in backends
configs = sorted({(k[1], k[2]) for k in med}, key=lambda c: (-c[0], c[1]))


def m(b, lim, thr, ph):
    v = med.get((b, lim, thr, ph))
    return statistics.median(v) if v else None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


lines = [
    f"# cnetmem swap benchmark, {time.strftime('%Y-%m-%d', time.gmtime())}",
    "",
    f"Machine: {platform.node()}, {os.cpu_count()} cores, kernel {platform.release()}. "
    f"Working set {size} MiB, pagetouch, medians of {reps} run(s), MB/s "
    "(higher is better). Ratios: against disk swap (/disk) and against the "
    "cnetmem local-memory ceiling (/local), from the same run. "
    + (f"A PM QoS CPU latency limit of {os.environ['BENCH_CPU_LATENCY']} us "
       "was held for the whole run (bench/run --cpu-latency), every backend "
       "alike." if os.environ.get("BENCH_CPU_LATENCY") else
       "No PM QoS CPU latency limit was held (idle CPUs could halt).")
    + (f" The workload was pinned to CPU(s) {os.environ['BENCH_PIN']} "
       "(bench/run --pin), every backend alike."
       if os.environ.get("BENCH_PIN") else ""),
    "",
] + (lambda h: ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)])(
    ["limit", "threads", "phase"] + backends
    + [f"{b}/disk" for b in backends if b != "disk"]
    + [f"{b}/local" for b in backends
       if b.startswith("tcp") or b == "local-uring"]
    + (["tcp-r1/plain"] if SEALCMP else []))
for lim, thr in configs:
    for ph in PHASES:
        vals = [m(b, lim, thr, ph) for b in backends]
        cells = [f"{v:.0f}" if v else "-" for v in vals]
        rd = [ratio(m(b, lim, thr, ph), m("disk", lim, thr, ph))
              for b in backends if b != "disk"]
        rl = [ratio(m(b, lim, thr, ph), m("local", lim, thr, ph))
              for b in backends
              if b.startswith("tcp") or b == "local-uring"]
        # sealed pages against plaintext pages, same run
        rs = ([ratio(m("tcp-r1", lim, thr, ph),
                     m("tcp-r1-plain", lim, thr, ph))] if SEALCMP else [])
        lines.append(f"| {lim} % | {thr} | {ph} | " + " | ".join(cells + rd + rl + rs) + " |")
lines += ["", "Swap traffic over all runs (pages, from /proc/vmstat):", "",
          "| backend | pswpin | pswpout |", "|---|---|---|"]
for b in backends:
    lines.append(f"| {b} | {swaps[b][0]} | {swaps[b][1]} |")
lines += ["", f"Verification errors: {errors}."]

fpath = os.path.join(out, "files.csv")
if os.path.exists(fpath):
    fm = defaultdict(list)
    unit = {}
    for r in csv.DictReader(open(fpath)):
        try:
            fm[(r["test"], r["where"])].append(float(r["value"]))
        except ValueError:
            continue
        unit[r["test"]] = r["unit"]
    lines += ["", "Working-set files (medians):", "", "| test | where | value |", "|---|---|---|"]
    for (t, w), v in sorted(fm.items()):
        lines.append(f"| {t} | {w} | {statistics.median(v):.1f} {unit[t]} |")

open(os.path.join(out, "results.md"), "w").write("\n".join(lines) + "\n")

# chart: one cluster per (limit, threads, phase), one bar per backend
dat = os.path.join(out, "swap.dat")
with open(dat, "w") as f:
    f.write("config " + " ".join(backends) + "\n")
    for lim, thr in configs:
        for ph in PHASES:
            vals = [m(b, lim, thr, ph) or 0 for b in backends]
            f.write(f'"{lim}%/{thr}t/{ph}" ' + " ".join(f"{v:.1f}" for v in vals) + "\n")
plot = f"""
set terminal pngcairo size 1400,600 noenhanced
set output '{os.path.join(out, "swap.png")}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'MB/s (median)'
set logscale y
set xtics rotate by -30
set key top right
set title 'pagetouch through swap: limit % of working set / threads / phase'
plot '{dat}' using 2:xtic(1) title columnhead""" + "".join(
    f", '' using {i + 2} title columnhead" for i in range(1, len(backends))) + "\n"
try:
    subprocess.run(["gnuplot"], input=plot.encode(), check=True)
except (OSError, subprocess.CalledProcessError) as e:
    print(f"report: gnuplot failed: {e}", file=sys.stderr)
