// Q/DQ folding: the pass that makes INT8 real. It recognises, TensorRT explicit-quantization
// style,
//   DQ(x_q) -> Conv(DQ(w_q const), bias?) [-> act] [-> Q(y_scale)]                   -> QConv
//   DQ(a_q) -> Gemm / MatMul(DQ(w_q const 2-D), C?) [-> act] [-> Q]                  -> QGemm
//   DQ(a_q) -> MatMul(DQ(b_q)) [-> act] [-> Q]                                       -> QMatMul
// with act Relu, Clip (constant bounds) or, where FoldOptions allow it, HardSwish
// and rewrites each into one internal op (domain "qrt") that multiplies int8 by int8 into int32
// and rescales once: y = acc * x_scale * w_scale[oc] + bias[oc], the activation, and, when the
// pattern ended in a Q, requantization to int8 (fused requantization). It fuses only int8 data
// with zero point 0 and constant scales, and only when the float values it removes have no
// other reader (a conv output read by a Q and by something else keeps its float output, and
// the Q stays). Q/DQ that remain run as ordinary float-simulating kernels. See docs/int8.md.
#pragma once

#include <string>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

struct FoldReport {
  int qconv = 0, qgemm = 0, qmatmul = 0;
  int requantized = 0;        // fused nodes that also absorbed their output QuantizeLinear
  int constant_quantize = 0;    // QuantizeLinear nodes of constants evaluated into int8 constants
  int constant_dequantize = 0;  // DequantizeLinear nodes of constants left after folding, evaluated
  int affine = 0;               // fused nodes that also absorbed a scalar affine after their HardSwish
  // "3 QConv, 1 QGemm, 0 QMatMul (2 with fused requantization)".
  std::string summary() const;
};

// What the backends that will run the fused ops compute.
struct FoldOptions {
  // HardSwish folds into the layer before it (activation "hard_swish"): a convolution, its
  // HardSwish and the QuantizeLinear after them become one int8-in, int8-out kernel, as in
  // MobileNetV3 and PP-OCRv4's detector, where they were three kernels. `hard_swish`: into
  // QConv; `hard_swish_gemm`: into QGemm and QMatMul. The reference and cpu backends apply it
  // everywhere; CUDA builds fold it into QConv (the requantize and int8 depthwise kernels apply
  // it; QRT_CUDA_QCONV_HARDSWISH=off keeps it a node of its own) but not into QGemm / QMatMul
  // (builder.cpp). PP-OCRv4's detector at batch 1 on an H200: INT8 1.323 -> 1.289 ms (session 13).
  bool hard_swish = true;
  bool hard_swish_gemm = true;
  // A scalar affine between a folded HardSwish and the QuantizeLinear (PP-LCNetV3's learnable
  // affine blocks, in PP-OCRv4's detector: HardSwish -> Mul(c) -> Add(d) -> QuantizeLinear -> the
  // next, padded, convolution, which cannot absorb it) folds too: attributes post_scale (c) and
  // post_shift (d), applied after the activation. Only into QConv, only with the requantization.
  // Every backend applies it (CUDA: the requantize and int8 depthwise kernels; QRT_CUDA_QCONV_AFFINE=off
  // keeps it apart there). PP-OCRv4's detector at batch 1 on an H200: INT8 1.222 -> 0.987 ms (session 14).
  bool hard_swish_affine = true;
};

// True when the graph has a QuantizeLinear or DequantizeLinear node (explicit quantization).
bool hasQdq(const ir::Graph& graph);

// Folds every recognised pattern (above). First evaluates QuantizeLinear nodes whose inputs are
// all constant (weights stored as float -> Q -> DQ, as TensorRT's own QDQ exporters write them)
// into int8 constants; last, the DequantizeLinear nodes of constants no fused op took (the
// weights of a ConvTranspose, which stays float) into fp32 constants, so that the float layer
// reads constant weights as in an FP32 engine. Leaves the graph topologically sorted with shapes
// inferred.
Status foldQdq(ir::Graph& graph, FoldReport* report = nullptr, const FoldOptions& options = {});

}  // namespace qrt::passes
