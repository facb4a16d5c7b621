#!/usr/bin/python3
"""What FP16 costs a model, on the CPU: the engine with every layer pinned to fp16 (the reference
backend rounds each layer's result to fp16, as FP16 hardware stores it) against the FP32 engine, on
given inputs: relative L2, max abs error and, for maps, the IoU of the maps binarized at --threshold.
Then which layers carry the error: --by-op keeps one layer type in fp32 at a time (and runs only that
type in fp16), --by-layer keeps each single layer in fp32 (one build per layer). bench/gpu/NOTES.md
("What FP16 costs the PP-OCRv4 detector") was measured with it.

  fp16_cost.py QRT MODEL.onnx WORK_DIR INPUT:1x3x320x320 X1.npy [X2.npy ...] [--by-op] [--by-layer]
"""
import argparse
import collections
import json
import os
import subprocess
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qrt")
    ap.add_argument("model")
    ap.add_argument("work")
    ap.add_argument("shape")  # NAME:AxBxC...
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--by-op", action="store_true")
    ap.add_argument("--by-layer", action="store_true")
    ap.add_argument("--threshold", type=float, default=0.3)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    in_name = args.shape.split(":")[0]
    env = dict(os.environ, OMP_WAIT_POLICY="passive")

    def build(tag, spec):
        eng = os.path.join(args.work, tag + ".qrt")
        cmd = [args.qrt, "build", args.model, "-o", eng, "--shapes", args.shape]
        if spec:
            cmd += ["--layer-precisions", spec, "--precision-constraints", "obey"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode:
            sys.exit(f"{tag}: build failed: {r.stderr[-1000:]}")
        return eng

    def run(eng, x):
        out = os.path.join(args.work, "out")
        r = subprocess.run([args.qrt, "run", eng, "--input", f"{in_name}={x}", "--output-dir", out],
                           capture_output=True, text=True, env=env)
        if r.returncode:
            sys.exit(f"{eng}: run failed: {r.stderr[-1000:]}")
        (f,) = [n for n in os.listdir(out) if n.endswith(".npy")][:1]
        y = np.load(os.path.join(out, f)).astype(np.float64)
        os.remove(os.path.join(out, f))
        return y

    def rel(a, b):
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))

    fp32 = build("fp32", None)
    want = [run(fp32, x) for x in args.inputs]
    fp16 = build("fp16", "*:fp16")
    base = []
    for x, w in zip(args.inputs, want):
        y = run(fp16, x)
        a, b = y > args.threshold, w > args.threshold
        iou = (a & b).sum() / max((a | b).sum(), 1)
        base.append(rel(y, w))
        print(f"{os.path.basename(x)}: fp16 vs fp32 relative L2 {base[-1]:.4g}, max abs {np.abs(y - w).max():.3g}, "
              f"IoU at {args.threshold} {iou:.5f} ({b.mean() * 100:.1f}% of fp32 above)")

    info = subprocess.run([args.qrt, "inspect", fp16, "--json"], capture_output=True, text=True, check=True)
    layers = [l for l in json.loads(info.stdout)["layers"] if l["op"] != "Cast"]

    def errors(spec):
        e = build("variant", spec)
        return [rel(run(e, x), w) for x, w in zip(args.inputs, want)]

    def show(label, errs):
        ratios = " ".join(f"{e:.4f} ({e / b:.2f}x)" for e, b in zip(errs, base))
        print(f"  {label[:80]:80s} {ratios}")

    if args.by_op:
        by_op = collections.defaultdict(list)
        for l in layers:
            by_op[l["op"]].append(l["name"])
        print("one layer type kept fp32, the rest fp16 (relative L2, ratio to all fp16):")
        for op, names in by_op.items():
            show(f"{op} ({len(names)}) fp32", errors("*:fp16," + ",".join(n + ":fp32" for n in names)))
        print("only one layer type in fp16:")
        for op, names in by_op.items():
            show(f"only {op} fp16", errors("*:fp32," + ",".join(n + ":fp16" for n in names)))
    if args.by_layer:
        rows = []
        for l in layers:
            errs = errors(f"*:fp16,{l['name']}:fp32")
            rows.append((sum(e / b for e, b in zip(errs, base)) / len(base), l, errs))
        rows.sort(key=lambda r: r[0])
        print("single layers kept fp32 that lower the error most (mean ratio to all fp16):")
        for m, l, errs in rows[:15]:
            show(f"{m:.3f} {l['op']} {l['name']}", errs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
