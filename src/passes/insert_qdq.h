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
  // Residual branches too (NVIDIA's recommended QDQ placement for TensorRT's ResNets): for each
  // fp32 Add of two activations of one shape where one input is the output of a quantized Conv
  // read by this Add alone, the other input (the identity or downsample branch) goes through
  // Q/DQ when it has a scale (its existing pair when it has one). An input that is itself such a
  // Conv's output (ResNet's downsample 1x1) is the branch quantized, so foldQdq makes that Conv
  // an int8-out QConv and passes/fuse_qconv_residual.h then folds the Add, its Relu and the
  // block's output Q into the other Conv. Set by the builder for CUDA builds only: the cpu
  // backend keeps its float residual and its AddQuantize (docs/int8.md).
  bool quantize_residuals = false;
};

struct QdqReport {
  int quantized_layers = 0;    // layers whose inputs now all come through Q/DQ
  int activation_qdq = 0;      // Q/DQ pairs inserted for activations
  int quantized_weights = 0;   // weight tensors quantized to int8 constants
  int quantized_residuals = 0; // Add inputs given Q/DQ by quantize_residuals
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
