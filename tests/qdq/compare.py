#!/usr/bin/python3
"""Compares qrt's and ONNX Runtime's outputs of a QDQ model (tests/qdq_ort_test.sh):

    compare.py QRT_DIR ORT_DIR --output NAME [--labels Y.npy] [--min-agreement F]
               [--model M.onnx --max-steps K]        # float outputs (logits)
               [--levels SCALE --max-level-frac F]   # outputs of a final Q/DQ

Both implementations compute the same integer arithmetic; they may differ only where a value
lands on a rounding boundary and float rounding (a different but equally valid order of
operations) moves it to the neighbouring quantization level. So:
* --model/--max-steps: float outputs of a last Gemm/MatMul fed by DequantizeLinear may differ by
  at most K "steps", a step being what one level of one of its inputs can change an output by:
  input scale * max |dequantized weight|.
* --levels: outputs that are levels of SCALE may differ by at most one level, on at most a
  fraction F of the elements.
* --reference DIR --max-error-ratio R: the float model's outputs; qrt's mean distance to ONNX
  Runtime must be at most R times ONNX Runtime's mean distance to the float model (the two INT8
  implementations agree far better than either agrees with float).
* --min-agreement: the argmax along the last axis (or, with --binarize T, x > T per element)
  agrees on at least this fraction.
Prints the numbers; exits 1 when a bound is broken."""
import argparse
import os
import sys

import numpy as np


def gemm_step(model_path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(model_path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}

    def dequantized(name):
        n = producer.get(name)
        if n is None or n.op_type != "DequantizeLinear":
            return None
        q = inits.get(n.input[0])
        scale = inits[n.input[1]]
        zp = inits[n.input[2]] if len(n.input) > 2 else np.zeros_like(scale)
        if q is None:
            return float(np.max(scale)), None  # an activation: its scale
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if scale.ndim == 1 and scale.size > 1:
            shape[axis] = scale.size
        w = (q.astype(np.float64) - zp.reshape(shape if zp.ndim else ())) * scale.reshape(shape if scale.ndim else ())
        return None, w

    for n in reversed(m.graph.node):
        if n.op_type in ("Gemm", "MatMul"):
            a, b = dequantized(n.input[0]), dequantized(n.input[1])
            if a and b and a[0] is not None and b[1] is not None:
                return a[0] * float(np.max(np.abs(b[1])))
    sys.exit(f"compare.py: {model_path}: no Gemm/MatMul fed by DequantizeLinear")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qrt_dir")
    ap.add_argument("ort_dir")
    ap.add_argument("--output", required=True)
    ap.add_argument("--labels")
    ap.add_argument("--reference", help="the float model's outputs (a folder like ORT_DIR)")
    ap.add_argument("--min-agreement", type=float, default=0.0)
    ap.add_argument("--model")
    ap.add_argument("--max-steps", type=float)
    ap.add_argument("--max-error-ratio", type=float)
    ap.add_argument("--binarize", type=float)
    ap.add_argument("--levels", type=float)
    ap.add_argument("--max-level-frac", type=float, default=0.0)
    a = ap.parse_args()
    q = np.load(os.path.join(a.qrt_dir, a.output + ".npy")).astype(np.float64)
    o = np.load(os.path.join(a.ort_dir, a.output + ".npy")).astype(np.float64)
    if q.shape != o.shape:
        print(f"FAIL: shapes differ: qrt {q.shape}, onnxruntime {o.shape}")
        return 1
    ok = True
    diff = np.abs(q - o)
    print(f"{a.output} {list(q.shape)}: max |qrt - onnxruntime| = {diff.max():.6g} "
          f"(output range {np.abs(o).max():.4g}); {np.count_nonzero(diff)} of {diff.size} elements differ")
    if a.model and a.max_steps is not None:
        step = gemm_step(a.model)
        bound = a.max_steps * step
        print(f"  bound: {a.max_steps:g} steps of {step:.6g} (input scale x max |weight| of the last layer) = {bound:.6g}")
        if diff.max() > bound:
            print("FAIL: the difference exceeds the bound")
            ok = False
    if a.levels:
        lq, lo = q / a.levels, o / a.levels
        off_grid = max(np.abs(lq - np.round(lq)).max(), np.abs(lo - np.round(lo)).max())
        steps = np.abs(np.round(lq) - np.round(lo))
        frac = np.count_nonzero(steps) / steps.size
        print(f"  in levels of {a.levels:g}: max difference {steps.max():.0f} level(s), on {frac:.2%} of the elements "
              f"(allowed: 1 level on {a.max_level_frac:.2%}); off-grid {off_grid:.2g}")
        if off_grid > 1e-3 or steps.max() > 1 or frac > a.max_level_frac:
            print("FAIL: outside the allowed difference")
            ok = False
    ref = np.load(os.path.join(a.reference, a.output + ".npy")).astype(np.float64) if a.reference else None
    if ref is not None and a.max_error_ratio is not None:
        to_ort, int8_error = diff.mean(), np.abs(o - ref).mean()
        print(f"  mean |qrt - onnxruntime| = {to_ort:.4g}; mean |onnxruntime int8 - float| = {int8_error:.4g} "
              f"(ratio {to_ort / int8_error:.3f}, allowed {a.max_error_ratio:g})")
        if to_ort > a.max_error_ratio * int8_error:
            print("FAIL: qrt and onnxruntime differ too much compared with the INT8 error")
            ok = False
    if a.binarize is not None or q.ndim >= 2:
        if a.binarize is not None:
            agree, what = float(np.mean((q > a.binarize) == (o > a.binarize))), f"elements > {a.binarize:g}"
        else:
            agree, what = float(np.mean(q.argmax(-1) == o.argmax(-1))), f"argmax of {q.size // q.shape[-1]} rows"
        print(f"  agreement qrt vs onnxruntime ({what}): {agree:.2%} (required {a.min_agreement:.2%})")
        if agree < a.min_agreement:
            print("FAIL: agreement too low")
            ok = False
    if a.labels and q.ndim == 2:
        y = np.load(a.labels)
        line = f"  top-1 accuracy: qrt {np.mean(q.argmax(1) == y):.2%}, onnxruntime {np.mean(o.argmax(1) == y):.2%}"
        if ref is not None:
            line += f", float model {np.mean(ref.argmax(1) == y):.2%}"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
