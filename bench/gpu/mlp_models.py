#!/usr/bin/python3
"""A 3-layer MLP for the GEMM tactic benchmark (bench/gpu/NOTES.md, "GEMM tactics").

  mlp.onnx:     X [N, 1024] -> Gemm(transB, bias) 2048 -> Relu -> Gemm 2048 -> Relu -> Gemm 1024 -> Y
  mlp_qdq.onnx: the same with Q/DQ around every Gemm (int8 weights per output channel): QGemm x 3

The batch N is dynamic (qrt bench --shapes X:256x1024 fixes it, so the build tunes that shape).
Weights are one random block of 4096 values tiled: GEMM time does not depend on the values, and
the files compress to little for the trip to the GPU machine.

usage: mlp_models.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIMS = [1024, 2048, 2048, 1024]


def tiled(shape, lo, hi, seed):
    block = np.random.default_rng(seed).uniform(lo, hi, 4096)
    n = int(np.prod(shape))
    return np.resize(block, n).reshape(shape)


def model(qdq):
    nodes, inits = [], []
    inits.append(numpy_helper.from_array(np.array(4.0 / 255, np.float32), "sx"))
    inits.append(numpy_helper.from_array(np.array(0, np.int8), "z"))
    x = "X"
    if qdq:
        nodes += [helper.make_node("QuantizeLinear", ["X", "sx", "z"], ["Xq"]),
                  helper.make_node("DequantizeLinear", ["Xq", "sx", "z"], ["Xd"])]
        x = "Xd"
    for i in range(3):
        k, n = DIMS[i], DIMS[i + 1]
        w = tiled((n, k), -1, 1, 10 + i) / np.sqrt(k)
        b = tiled((n,), -0.1, 0.1, 20 + i).astype(np.float32)
        inits.append(numpy_helper.from_array(b, f"B{i}"))
        if qdq:
            sw = (np.abs(w).max(axis=1) / 127).astype(np.float32)
            wq = np.clip(np.round(w / sw[:, None]), -127, 127).astype(np.int8)
            inits += [numpy_helper.from_array(wq, f"Wq{i}"), numpy_helper.from_array(sw, f"sw{i}"),
                      numpy_helper.from_array(np.zeros(n, np.int8), f"zw{i}")]
            nodes.append(helper.make_node("DequantizeLinear", [f"Wq{i}", f"sw{i}", f"zw{i}"], [f"W{i}"], axis=0))
        else:
            inits.append(numpy_helper.from_array(w.astype(np.float32), f"W{i}"))
        last = i == 2
        g = "Y" if last else f"G{i}"
        nodes.append(helper.make_node("Gemm", [x, f"W{i}", f"B{i}"], [g], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [g], [f"R{i}"]))
            x = f"R{i}"
            if qdq:
                inits.append(numpy_helper.from_array(np.array(0.05, np.float32), f"sa{i}"))
                nodes += [helper.make_node("QuantizeLinear", [x, f"sa{i}", "z"], [f"Rq{i}"]),
                          helper.make_node("DequantizeLinear", [f"Rq{i}", f"sa{i}", "z"], [f"Rd{i}"])]
                x = f"Rd{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", DIMS[0]])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", DIMS[-1]])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    onnx.save(model(False), os.path.join(out, "mlp.onnx"))
    onnx.save(model(True), os.path.join(out, "mlp_qdq.onnx"))
