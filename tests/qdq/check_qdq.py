#!/usr/bin/python3
"""Checks a QDQ model written by `qrt export-qdq`:

    check_qdq.py MODEL.onnx [--layers N]

1. ONNX's own checker (with shape inference) accepts it.
2. It follows TensorRT's explicit-quantization rules: default-domain opset >= 13; every
   QuantizeLinear/DequantizeLinear has a constant, positive, finite float scale and an explicit
   int8 zero point equal to 0; a per-axis (1-D, longer than 1) scale comes with `axis`; weights are
   int8 initializers read by DequantizeLinear (no QuantizeLinear of an initializer); a
   QuantizeLinear feeds only DequantizeLinear nodes; Conv/ConvTranspose/Gemm/MatMul read inputs 0
   and 1 through DequantizeLinear (for --layers N: at least N such layers).
Exits 1 listing the violations."""
import argparse
import sys

import numpy as np
import onnx
from onnx import numpy_helper

LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def violations(model, min_layers):
    bad = []
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        bad.append(f"opset {opset} < 13")
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    qdq = quantized_layers = 0
    for n in g.node:
        who = f"{n.op_type} '{n.name}'"
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            qdq += 1
            if len(n.input) != 3:
                bad.append(f"{who}: no explicit zero point")
                continue
            scale, zp = inits.get(n.input[1]), inits.get(n.input[2])
            if scale is None or scale.dtype != np.float32 or not np.all(np.isfinite(scale) & (scale > 0)):
                bad.append(f"{who}: scale is not a positive finite float initializer")
            if zp is None or zp.dtype != np.int8 or np.any(zp != 0):
                bad.append(f"{who}: zero point is not int8 0")
            if scale is not None and scale.ndim == 1 and scale.size > 1 and not any(a.name == "axis" for a in n.attribute):
                bad.append(f"{who}: per-axis scale without axis")
            if n.op_type == "QuantizeLinear":
                if n.input[0] in inits:
                    bad.append(f"{who}: quantizes an initializer (weights must be int8 initializers)")
                bad += [f"{who}: read by {r.op_type}" for r in readers.get(n.output[0], []) if r.op_type != "DequantizeLinear"]
            elif n.input[0] in inits and inits[n.input[0]].dtype != np.int8:
                bad.append(f"{who}: dequantizes a {inits[n.input[0]].dtype} initializer")
        if n.op_type in LAYERS:
            fed = [i < len(n.input) and n.input[i] in producer and producer[n.input[i]].op_type == "DequantizeLinear"
                   for i in (0, 1)]
            quantized_layers += all(fed)
    if qdq == 0:
        bad.append("no QuantizeLinear/DequantizeLinear")
    if quantized_layers < min_layers:
        bad.append(f"{quantized_layers} layers read both inputs through DequantizeLinear, expected {min_layers}")
    return bad, qdq, quantized_layers, opset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--layers", type=int, default=1)
    a = ap.parse_args()
    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)
    bad, qdq, layers, opset = violations(model, a.layers)
    for b in bad:
        print(f"FAIL: {a.model}: {b}")
    print(f"{a.model}: onnx checker ok; opset {opset}, {qdq} Q/DQ nodes, {layers} quantized layers; "
          f"TensorRT explicit-quantization rules: {'ok' if not bad else f'{len(bad)} violations'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
