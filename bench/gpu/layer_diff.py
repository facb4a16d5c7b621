#!/usr/bin/python3
"""Which layer of a model first diverges on the GPU: every intermediate tensor becomes a graph
output, the model is built for the CPU and for CUDA (FP32), both run on one random input, and the
outputs are compared in graph order (relative L2). Extra outputs can stop fusions that read the
tensors; the plain model's final output is compared too, so a divergence that vanishes with the
extra outputs says so.

  layer_diff.py QRT MODEL.onnx WORK_DIR INPUT:1x3x160x224 [--gpu-flags '...'] [--limit N]
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import shape_inference


def safe(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qrt")
    ap.add_argument("model")
    ap.add_argument("work")
    ap.add_argument("shape")  # NAME:AxBxC...
    ap.add_argument("--gpu-flags", default="")
    ap.add_argument("--tol", type=float, default=1e-3)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    in_name, dims = args.shape.split(":")
    dims = [int(d) for d in dims.split("x")]

    m = onnx.load(args.model)
    for i in m.graph.input:
        if i.name == in_name:
            for d, v in zip(i.type.tensor_type.shape.dim, dims):
                d.ClearField("dim_param")
                d.dim_value = v
    m = shape_inference.infer_shapes(m)
    known = {v.name: v for v in m.graph.value_info}
    finals = [o.name for o in m.graph.output]
    order = []
    for n in m.graph.node:
        if n.op_type == "Constant":
            continue
        for o in n.output:
            if o in known and o not in finals and known[o].type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
                order.append((o, n.name, n.op_type))
    for o, _, _ in order:
        m.graph.output.append(known[o])
    full = os.path.join(args.work, "all_outputs.onnx")
    onnx.save(m, full)

    x = np.random.default_rng(7).uniform(-1, 1, dims).astype(np.float32)
    xf = os.path.join(args.work, "x.npy")
    np.save(xf, x)

    def build_run(model, tag, flags):
        eng = os.path.join(args.work, tag + ".qrt")
        out = os.path.join(args.work, tag + "_out")
        cmd = [args.qrt, "build", model, "-o", eng, "--shapes", args.shape] + flags
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            print(tag, "build failed:", r.stderr[-2000:])
            return None
        r = subprocess.run([args.qrt, "run", eng, "--input", f"{in_name}={xf}", "--output-dir", out],
                           capture_output=True, text=True)
        if r.returncode:
            print(tag, "run failed:", r.stderr[-2000:])
            return None
        return out

    def rel(a, b):
        a = a.astype(np.float64)
        b = b.astype(np.float64)
        if a.shape != b.shape:
            return float("inf")
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))

    gflags = ["--device", "cuda"] + args.gpu_flags.split()
    for tag, model in (("plain", args.model), ("all", full)):
        c = build_run(model, tag + "_cpu", [])
        g = build_run(model, tag + "_gpu", gflags)
        if not c or not g:
            continue
        names = finals + ([o for o, _, _ in order] if tag == "all" else [])
        first = None
        for nm in names:
            f = safe(nm) + ".npy"
            if not os.path.exists(os.path.join(c, f)) or not os.path.exists(os.path.join(g, f)):
                continue
            e = rel(np.load(os.path.join(g, f)), np.load(os.path.join(c, f)))
            if nm in finals:
                print(f"{tag}: final {nm}: rel L2 {e:.3e}")
            elif e > args.tol and first is None:
                node = next((n, op) for o, n, op in order if o == nm)
                first = nm
                print(f"{tag}: first divergence at {nm} (node {node[0]}, {node[1]}): rel L2 {e:.3e}")
        if tag == "all" and first is None:
            print("all: no intermediate tensor diverges beyond", args.tol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
