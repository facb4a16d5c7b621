// Q/DQ insertion: turns calibrated activation scales into explicit QuantizeLinear /
// DequantizeLinear nodes in front of the layers that run in INT8 (Conv, ConvTranspose, Gemm,
// MatMul), and quantizes their constant weights at build time, symmetric per output channel.
// The result is a QDQ graph in TensorRT's explicit-quantization form (int8, zero point 0,
// per-channel axis on weights; ONNX opset 13 Q/DQ), which foldQdq then lowers to integer kernels
// and which the QDQ exporter can write for ONNX Runtime and TensorRT. See docs/int8.md.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

struct QdqOptions {
  // One scale per output channel of each weight (TensorRT's convention); false: one per tensor.
  bool per_channel_weights = true;
  // Names of nodes to leave in float (e.g. the layers a sensitivity analysis found fragile).
  std::set<std::string> exclude_nodes;
};

struct QdqReport {
  int quantized_layers = 0;    // layers whose inputs now all come through Q/DQ
  int activation_qdq = 0;      // Q/DQ pairs inserted for activations
  int quantized_weights = 0;   // weight tensors quantized to int8 constants
  std::vector<std::string> skipped;  // one line per candidate layer left in float, with the reason
  // "quantized 12 layers (12 activation Q/DQ pairs, 12 weights); 1 left in float".
  std::string summary() const;
};

// For every Conv, ConvTranspose, Gemm and MatMul (fp32) whose activation inputs all have a
// scale in `activation_scales` (tensor name -> scale = amax / 127):
//   x -> QuantizeLinear(x, s, int8 0) -> DequantizeLinear(., s, int8 0) -> layer
// (one pair per tensor, shared by all its consumers), and a constant weight becomes an int8
// constant -> DequantizeLinear(per-channel scales, zero points, axis). Bias stays float. A
// layer with an activation input without a scale stays float (listed in report->skipped);
// inputs that already come from a DequantizeLinear are left as they are. Fails on a scale that
// is not finite and positive.
Status insertQdq(ir::Graph& graph, const std::map<std::string, float>& activation_scales, const QdqOptions& options,
                 QdqReport* report = nullptr);

// The axis of a layer's weight input that indexes output channels: Conv W [M, C/g, k..]: 0;
// ConvTranspose W [C, M/g, k..]: 1; Gemm B: 0 with transB=1, else 1; MatMul 2-D B [K, N]: 1.
// -1 when the layer has no per-channel weight (a MatMul B of another rank: one scale).
int64_t weightChannelAxis(const ir::Node& node);

}  // namespace qrt::passes
