#!/usr/bin/env python3
"""Per-layer comparison of two engines of one model from qrt_gpu_bench --json records (profile_layers).

usage: layer_compare.py QRT.jsonl --model resnet50 --batch 256 [--a fp16+graph] [--b int8fp16+graph] [--top 25]
       layer_compare.py OLD.jsonl --b-jsonl NEW.jsonl --a int8fp16+graph --b int8fp16+graph   (two runs)

Layers are matched by the name of their first ONNX node (a fused layer "conv + add + relu" is keyed
by "conv"), so an FP16 FusedConv and the INT8 QConv of the same convolution line up. Prints the
slowest matched pairs by the B engine's time, the totals per op, and what is unmatched (Q/DQ,
casts, layout changes that only one engine has).
"""
import argparse
import json
from collections import defaultdict


def key(layer):
    return layer.split(" + ")[0].strip()


def load(path, model, batch, prec):
    for line in open(path):
        r = json.loads(line)
        if r.get("engine") == "qrt" and r.get("model") == model and r.get("batch") == batch and r.get("precision") == prec:
            if "profile_layers" in r:
                return r
    raise SystemExit(f"no profiled record for {model} batch {batch} {prec} in {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--a", default="fp16+graph")
    ap.add_argument("--b", default="int8fp16+graph")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--b-jsonl", default=None, help="B's record from this file (two runs compared), else from JSONL")
    o = ap.parse_args()
    ra, rb = load(o.jsonl, o.model, o.batch, o.a), load(o.b_jsonl or o.jsonl, o.model, o.batch, o.b)
    la = {key(l["layer"]): l for l in ra["profile_layers"]}
    lb = {key(l["layer"]): l for l in rb["profile_layers"]}
    both = [k for k in lb if k in la]
    print(f"{o.model} batch {o.batch}: {o.a} {ra['profile_total_ms']:.3f} ms of kernels, {o.b} {rb['profile_total_ms']:.3f} ms")
    print(f"| layer | {o.a} | ms | {o.b} | ms | b/a |")
    print("|---|---|---|---|---|---|")
    for k in sorted(both, key=lambda k: -lb[k]["ms"])[: o.top]:
        a, b = la[k], lb[k]
        print(f"| {k} | {a['op']} {a['dtype']} | {a['ms']:.3f} | {b['op']} {b['dtype']} | {b['ms']:.3f} | {b['ms'] / max(a['ms'], 1e-9):.2f} |")
    sa = sum(la[k]["ms"] for k in both)
    sb = sum(lb[k]["ms"] for k in both)
    print(f"\nmatched layers: {len(both)}, {o.a} {sa:.3f} ms, {o.b} {sb:.3f} ms (b/a {sb / max(sa, 1e-9):.2f})")
    for name, side, other in ((o.a, la, lb), (o.b, lb, la)):
        extra = defaultdict(float)
        for k, l in side.items():
            if k not in other:
                extra[l["op"]] += l["ms"]
        print(f"only in {name}: " + ", ".join(f"{op} {ms:.3f} ms" for op, ms in sorted(extra.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
