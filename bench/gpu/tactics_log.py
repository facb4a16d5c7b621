#!/usr/bin/env python3
"""Per-layer table of the CUDA tuner's own-kernel candidates from a build's stderr with QRT_CUDA_TACTICS_LOG=1.

usage: tactics_log.py QRT.log [--top 40]

For each convolution: the best plan before qrt's own kernels (cuDNN's, as "best so far" when the first own candidate
was timed), the implicit GEMM's best mma.sync tile (ig0-ig9) and best wgmma tile (ig10-ig17), the cuBLASLt int8
path, and the downsample fusion's verdicts. A log holds a layer once per build that timed it; the last one is kept.
Then where the builds' tuning time went: the layers that took longest to time (all candidates, cuDNN's included),
split (logs since session 12) into building cuDNN's plans, running them, and qrt's own kernels with the legacy API.
"""
import argparse
import re
from collections import OrderedDict

TILE = re.compile(r"^\[tactics\] (.+?): tile ig(\d+): ([0-9.]+) us$")
OWN = re.compile(r"^\[tactics\] (.+?): (QRT_CUDA_\w+): (\S+) ([0-9.e+-]+) us; best so far (\S*) ([0-9.e+-]+) us$")
LAYER = re.compile(r"^\[tactics\] (.+?): (\d+) candidates timed, (\S+) ([0-9.]+) us chosen; ([0-9]+) ms$")
FUSE = re.compile(r"^\[tactics\] (.+?): downsample (.+?) in the kernel: ([0-9.]+) us against ([0-9.]+) \+ ([0-9.]+) us(.*)$")
COST = re.compile(r"^\[tactics\] (.+?): time: cuDNN plans built ([0-9]+) ms \(slowest ([0-9]+) ms: (\S+)\), run ([0-9]+) ms; "
                  r"own kernels and the legacy API ([0-9]+) ms$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--top", type=int, default=40)
    o = ap.parse_args()
    rows = OrderedDict()
    fusions = []
    layers = []  # (ms, name, candidates, chosen tactic)
    costs = {}  # name -> (plan build ms, slowest build ms, its tactic, plan run ms, own + legacy ms)
    for line in open(o.log, errors="replace"):
        line = line.rstrip("\n")
        if m := TILE.match(line):
            r = rows.setdefault(m[1], {})
            key = "wgmma" if int(m[2]) >= 10 else "mma"
            us = float(m[3])
            if us < r.get(key, (1e30,))[0]:
                r[key] = (us, "ig" + m[2])
        elif m := OWN.match(line):
            r = rows.setdefault(m[1], {})
            if "before" not in r and m[5] and not m[5].startswith("ig") and not m[5].startswith("lt:"):
                r["before"] = (float(m[6]), m[5])
            if m[2] == "QRT_CUDA_QCONV_LT":
                r["lt"] = (float(m[4]), m[3][:12])
            elif m[2] == "QRT_CUDA_IGEMM" and m[3].startswith("ig"):  # the chosen tile (logs without tile lines)
                key = "wgmma" if int(m[3][2:]) >= 10 else "mma"
                if key not in r:
                    r[key] = (float(m[4]), m[3])
        elif m := LAYER.match(line):
            layers.append((int(m[5]), m[1], int(m[2]), m[3].rsplit("|", 1)[-1]))
        elif m := COST.match(line):
            costs[m[1]] = (int(m[2]), int(m[3]), m[4], int(m[5]), int(m[6]))
        elif m := FUSE.match(line):
            fusions.append((m[1], float(m[3]), float(m[4]), float(m[5]), m[6].strip(": ")))

    def cell(r, k):
        return f"{r[k][0]:.1f} ({r[k][1]})" if k in r else "-"

    print("| layer | before own kernels (cuDNN) | igemm mma.sync | igemm wgmma | cuBLASLt int8 |")
    print("|---|---|---|---|---|")
    for name, r in list(rows.items())[: o.top]:
        print(f"| {name} | {cell(r, 'before')} | {cell(r, 'mma')} | {cell(r, 'wgmma')} | {cell(r, 'lt')} |")
    if fusions:
        print("\n| residual QConv | fused us | apart us (conv + downsample) | verdict |")
        print("|---|---|---|---|")
        for n, f, a, b, v in fusions:
            print(f"| {n} | {f:.1f} | {a:.1f} + {b:.1f} | {v} |")
    if layers:
        total = sum(ms for ms, *_ in layers)
        print(f"\nTuning time: {total / 1000:.1f} s over {len(layers)} timed layers; the longest:\n")
        print("| layer | candidates | chosen | ms | cuDNN plans built (slowest) | cuDNN runs | own + legacy |")
        print("|---|---|---|---|---|---|---|")
        for ms, n, c, t in sorted(layers, reverse=True)[:15]:
            k = costs.get(n)
            split = f"{k[0]} ({k[1]}: {k[2]}) | {k[3]} | {k[4]}" if k else "- | - | -"
            print(f"| {n} | {c} | {t} | {ms} | {split} |")
        if costs:
            b, r, x = (sum(k[i] for k in costs.values()) for i in (0, 3, 4))
            print(f"\nAll timed layers: cuDNN plans built {b / 1000:.1f} s, run {r / 1000:.1f} s; own kernels and the legacy API {x / 1000:.1f} s.")


if __name__ == "__main__":
    main()
